import Foundation

/// The noise schedule a model was trained with: `betas` and their cumulative
/// `alphas_cumprod`, built the way every diffusers scheduler's `__init__` builds them.
///
/// PyTorch computes these in float32 (`torch.linspace(..., dtype=torch.float32)`,
/// `torch.cumprod`), and the parity of every later step depends on having the same floats,
/// so the construction mirrors PyTorch's kernels rather than the textbook formulas.
struct TrainingNoiseSchedule: Sendable {
    /// β for each training timestep.
    let betas: [Float]
    /// ᾱ_t = Π (1 − β_s), s ≤ t.
    let alphasCumprod: [Float]

    var count: Int { alphasCumprod.count }

    /// The schedule named by `configuration`, with `defaults` standing for the scheduler
    /// class's own constructor defaults.
    init(_ configuration: SchedulerConfiguration, defaults: SchedulerDefaults, scheduler: String) throws {
        let steps = configuration.numTrainTimesteps ?? 1000
        guard steps >= 2 else {
            throw SchedulerError.unsupportedOption(scheduler: scheduler, key: "num_train_timesteps",
                                                   value: "\(steps)", reason: "needs at least 2")
        }
        var betas: [Float]
        if let trained = configuration.trainedBetas {
            guard !trained.isEmpty else {
                throw SchedulerError.unsupportedOption(scheduler: scheduler, key: "trained_betas", value: "[]", reason: "empty")
            }
            betas = trained.map { Float($0) }
        } else {
            let start = configuration.betaStart ?? defaults.betaStart
            let end = configuration.betaEnd ?? defaults.betaEnd
            switch configuration.betaSchedule ?? defaults.betaSchedule {
            case "linear":
                betas = Self.torchLinspace(start, end, count: steps)
            case "scaled_linear":
                betas = Self.torchLinspace(start.squareRoot(), end.squareRoot(), count: steps).map { $0 * $0 }
            case "squaredcos_cap_v2":
                betas = Self.cosineBetas(count: steps)
            case let other:
                throw SchedulerError.unsupportedOption(
                    scheduler: scheduler, key: "beta_schedule", value: other,
                    reason: "expected linear, scaled_linear or squaredcos_cap_v2")
            }
        }
        if configuration.rescaleBetasZeroSnr ?? false {
            betas = Self.rescaledToZeroTerminalSNR(betas)
        }
        self.betas = betas
        alphasCumprod = Self.torchCumprod(betas.map { 1 - $0 })
    }

    /// √((1 − ᾱ_t) / ᾱ_t) for every training timestep, in float32 as diffusers computes them.
    var sigmas: [Float] { alphasCumprod.map { ((1 - $0) / $0).squareRoot() } }

    // MARK: - PyTorch's float32 kernels

    /// `torch.linspace(start, end, count, dtype=torch.float32)` on the CPU: endpoints rounded
    /// to float, a float step, and each value one fused multiply-add from the nearer end.
    static func torchLinspace(_ start: Double, _ end: Double, count: Int) -> [Float] {
        guard count > 1 else { return count == 1 ? [Float(start)] : [] }
        let s = Float(start), e = Float(end)
        let step = (e - s) / Float(count - 1)
        let halfway = count / 2
        return (0..<count).map { i in
            i < halfway ? s.addingProduct(step, Float(i)) : e.addingProduct(-step, Float(count - i - 1))
        }
    }

    /// `torch.cumprod` of a float tensor on the CPU: the running product is kept in double
    /// (PyTorch's accumulate type for float) and rounded to float at each element.
    static func torchCumprod(_ values: [Float]) -> [Float] {
        var running = 1.0
        return values.map { value in
            running *= Double(value)
            return Float(running)
        }
    }

    /// diffusers' `betas_for_alpha_bar` with the cosine ᾱ (Nichol & Dhariwal), in double,
    /// each β capped at 0.999, then stored as float.
    static func cosineBetas(count: Int, maxBeta: Double = 0.999) -> [Float] {
        func alphaBar(_ t: Double) -> Double {
            let c = cos((t + 0.008) / 1.008 * Double.pi / 2)
            return c * c
        }
        return (0..<count).map { i in
            let t1 = Double(i) / Double(count)
            let t2 = Double(i + 1) / Double(count)
            return Float(min(1 - alphaBar(t2) / alphaBar(t1), maxBeta))
        }
    }

    /// diffusers' `rescale_zero_terminal_snr` (Lin et al. 2023, algorithm 1), in float32.
    static func rescaledToZeroTerminalSNR(_ betas: [Float]) -> [Float] {
        let alphasCumprod = torchCumprod(betas.map { 1 - $0 })
        var sqrtBar = alphasCumprod.map { $0.squareRoot() }
        let first = sqrtBar[0], last = sqrtBar[sqrtBar.count - 1]
        let scale = first / (first - last)
        sqrtBar = sqrtBar.map { ($0 - last) * scale }
        let bar = sqrtBar.map { $0 * $0 }
        var alphas = [bar[0]]
        for i in 1..<bar.count { alphas.append(bar[i] / bar[i - 1]) }
        return alphas.map { 1 - $0 }
    }
}

/// The constructor defaults of one diffusers scheduler class that the shared code needs.
struct SchedulerDefaults: Sendable {
    var betaStart = 0.0001
    var betaEnd = 0.02
    var betaSchedule = "linear"
    var timestepSpacing: String
    var predictionType = "epsilon"
}
