import EaselTensor
import Foundation

/// DPM-Solver++ multistep (Lu et al. 2022) — "DPM++ 2M", with Karras σ "DPM++ 2M Karras" —
/// as diffusers' `schedulers/scheduling_dpmsolver_multistep.py` (`DPMSolverMultistepScheduler`).
///
/// Honours `solver_order` 1–3, `algorithm_type` `dpmsolver++` and `dpmsolver`, `solver_type`
/// `midpoint`/`heun`, `lower_order_final`, `euler_at_final`, `final_sigmas_type`,
/// `use_karras_sigmas`, `use_exponential_sigmas`, `sigma_min`/`sigma_max`,
/// `lambda_min_clipped`, `timestep_spacing`, `steps_offset`, `rescale_betas_zero_snr` and
/// the three prediction types. Leaves out (rejected when configured): the SDE variants,
/// dynamic `thresholding`, learned variance, `use_lu_lambdas`, `use_beta_sigmas`,
/// flow-matching σ, and caller-supplied timesteps.
public struct DPMSolverMultistepScheduler: Scheduler {
    public let className = "DPMSolverMultistepScheduler"
    public let predictionType: PredictionType
    public let initNoiseSigma: Float = 1
    public private(set) var timesteps: [Float] = []
    /// σ for each timestep, plus the final σ.
    public private(set) var sigmas: [Float] = []

    private let table: SigmaTable
    private let solverOrder: Int
    private let dataPrediction: Bool  // dpmsolver++ (x₀) rather than dpmsolver (ε)
    private let heun: Bool
    private let lowerOrderFinal: Bool
    private let eulerAtFinal: Bool
    private let finalSigmas: FinalSigmas
    private let sigmaSpacing: SigmaSpacing
    private let sigmaMin: Double?
    private let sigmaMax: Double?
    private let lambdaMinClipped: Double
    private let spacing: TimestepSpacing
    private let stepsOffset: Int
    private let squaredCosine: Bool

    private var modelOutputs: [Tensor] = []
    private var lowerOrderCount = 0
    private var position = SigmaStepIndex()

    /// A DPM-Solver multistep scheduler from a model's scheduler configuration.
    public init(configuration: SchedulerConfiguration) throws {
        let name = className
        predictionType = try PredictionType(configuration.predictionType, scheduler: name)
        table = try SigmaTable(configuration, defaults: SchedulerDefaults(timestepSpacing: "linspace"), scheduler: name)
        try UnsupportedOptions.reject([
            ("thresholding", configuration.thresholding), ("use_lu_lambdas", configuration.useLuLambdas),
            ("use_flow_sigmas", configuration.useFlowSigmas),
        ], scheduler: name)
        if let variance = configuration.varianceType {
            throw SchedulerError.unsupportedOption(scheduler: name, key: "variance_type", value: variance,
                                                   reason: "learned variance is not implemented in Easel")
        }
        solverOrder = configuration.solverOrder ?? 2
        guard (1...3).contains(solverOrder) else {
            throw SchedulerError.unsupportedOption(scheduler: name, key: "solver_order", value: "\(solverOrder)", reason: "expected 1, 2 or 3")
        }
        switch configuration.algorithmType ?? "dpmsolver++" {
        case "dpmsolver++", "deis": dataPrediction = true  // diffusers maps deis to dpmsolver++
        case "dpmsolver": dataPrediction = false
        case let other:
            throw SchedulerError.unsupportedOption(scheduler: name, key: "algorithm_type", value: other,
                                                   reason: "Easel implements dpmsolver++ and dpmsolver")
        }
        switch configuration.solverType ?? "midpoint" {
        case "midpoint", "logrho", "bh1", "bh2": heun = false  // diffusers maps the UniPC names to midpoint
        case "heun": heun = true
        case let other:
            throw SchedulerError.unsupportedOption(scheduler: name, key: "solver_type", value: other, reason: "expected midpoint or heun")
        }
        lowerOrderFinal = configuration.lowerOrderFinal ?? true
        eulerAtFinal = configuration.eulerAtFinal ?? false
        finalSigmas = try FinalSigmas(configuration.finalSigmasType, scheduler: name)
        if !dataPrediction && finalSigmas == .zero {
            throw SchedulerError.unsupportedOption(scheduler: name, key: "final_sigmas_type", value: "zero",
                                                   reason: "algorithm_type dpmsolver needs sigma_min")
        }
        sigmaSpacing = try SigmaSpacing(configuration, scheduler: name)
        sigmaMin = configuration.sigmaMin
        sigmaMax = configuration.sigmaMax
        lambdaMinClipped = configuration.lambdaMinClipped ?? -.infinity
        spacing = try TimestepSpacing(configuration.timestepSpacing, default: .linspace, scheduler: name)
        stepsOffset = configuration.stepsOffset ?? 0
        squaredCosine = configuration.betaSchedule == "squaredcos_cap_v2"
    }

    public mutating func setTimesteps(_ count: Int) throws {
        let trainSteps = table.trainSteps
        guard count >= 1, count <= trainSteps else {
            throw SchedulerError.invalidStepCount(scheduler: className, steps: count, reason: "must be 1...\(trainSteps)")
        }
        // Timesteps whose λ is below `lambda_min_clipped` are cut off the noisy end.
        let lambdas = table.alphasCumprod.map { Foundation.log($0.squareRoot()) - Foundation.log((1 - $0).squareRoot()) }
        let clipped = lambdas.reversed().prefix { Double($0) < lambdaMinClipped }.count
        let lastTimestep = trainSteps - clipped

        var steps: [Double]
        switch spacing {
        case .linspace:
            steps = NumPy.linspace(0, Double(lastTimestep - 1), count: count + 1).map(NumPy.round).reversed().dropLast()
        case .leading:
            let ratio = lastTimestep / (count + 1)
            steps = (1...count).reversed().map { Double($0 * ratio + stepsOffset) }
        case .trailing:
            let ratio = Double(trainSteps) / Double(count)
            steps = NumPy.arange(Double(lastTimestep), 0, step: -ratio).map { NumPy.round($0) - 1 }
        }

        var schedule: [Double]
        if sigmaSpacing == .interpolated {
            schedule = table.interpolated(at: steps)
        } else {
            let descending = table.sigmas.reversed().map(Double.init)
            schedule = sigmaSpacing.convert(descending, count: count, sigmaMin: sigmaMin, sigmaMax: sigmaMax)
            steps = schedule.map { SigmaSchedule.timestep(forSigma: $0, logSigmas: table.logSigmas) }
            if sigmaSpacing == .karras && !squaredCosine { steps = steps.map(NumPy.round) }
        }
        let last: Float = finalSigmas == .zero ? 0 : table.smallestTrainingSigma
        sigmas = schedule.map { Float($0) } + [last]
        // int64 in diffusers: truncated toward zero.
        timesteps = steps.map { Float(Int64($0)) }
        modelOutputs = []
        lowerOrderCount = 0
        position.reset()
    }

    public mutating func setBeginIndex(_ begin: Int) { position.setBegin(begin) }

    public mutating func scaleModelInput(_ sample: Tensor, timestep: Float) -> Tensor { sample }

    public mutating func step(_ modelOutput: Tensor, timestep: Float, sample: Tensor, generator: inout some RandomSource) -> Tensor {
        precondition(!sigmas.isEmpty, "DPMSolverMultistepScheduler.step before setTimesteps")
        // diffusers' `index_for_timestep`: an unknown timestep means the last step.
        let index = position.current(timestep, in: timesteps, fallback: timesteps.count - 1, scheduler: className)
        let count = timesteps.count
        let finalLowerOrder = index == count - 1
            && (eulerAtFinal || (lowerOrderFinal && count < 15) || finalSigmas == .zero)
        let secondLowerOrder = index == count - 2 && lowerOrderFinal && count < 15

        let converted = convertModelOutput(modelOutput, sample: sample, index: index)
        modelOutputs = Array((modelOutputs + [converted]).suffix(solverOrder))

        let previous: Tensor
        if solverOrder == 1 || lowerOrderCount < 1 || finalLowerOrder {
            previous = firstOrderUpdate(converted, sample: sample, index: index)
        } else if solverOrder == 2 || lowerOrderCount < 2 || secondLowerOrder {
            previous = secondOrderUpdate(sample: sample, index: index)
        } else {
            previous = thirdOrderUpdate(sample: sample, index: index)
        }
        if lowerOrderCount < solverOrder { lowerOrderCount += 1 }
        position.advance(past: index)
        return previous
    }

    public func addNoise(_ original: Tensor, noise: Tensor, timestep: Float) -> Tensor {
        let index = position.noiseIndex(timestep, in: timesteps, fallback: timesteps.count - 1)
        let (alpha, sigma) = Self.alphaSigma(sigmas[index])
        return original.blended(alpha, noise, sigma)
    }

    // MARK: - Solver maths (float32, diffusers' order of operations)

    /// (α_t, σ_t) of the variance-preserving process for k-diffusion σ.
    private static func alphaSigma(_ sigma: Float) -> (alpha: Float, sigma: Float) {
        let alpha = 1 / (sigma * sigma + 1).squareRoot()
        return (alpha, sigma * alpha)
    }

    /// λ = log α − log σ, the half log-SNR the solver steps in.
    private static func lambda(_ alpha: Float, _ sigma: Float) -> Float {
        Foundation.log(alpha) - Foundation.log(sigma)
    }

    /// The model output as x₀ (dpmsolver++) or ε (dpmsolver).
    private func convertModelOutput(_ modelOutput: Tensor, sample: Tensor, index: Int) -> Tensor {
        let (alpha, sigma) = Self.alphaSigma(sigmas[index])
        if dataPrediction {
            switch predictionType {
            case .epsilon: return sample.blended(1, modelOutput, -sigma) / alpha
            case .sample: return modelOutput
            case .vPrediction: return sample.blended(alpha, modelOutput, -sigma)
            }
        }
        switch predictionType {
        case .epsilon: return modelOutput
        case .sample: return sample.blended(1, modelOutput, -alpha) / sigma
        case .vPrediction: return modelOutput.blended(alpha, sample, sigma)
        }
    }

    private func firstOrderUpdate(_ modelOutput: Tensor, sample: Tensor, index: Int) -> Tensor {
        let (alphaT, sigmaT) = Self.alphaSigma(sigmas[index + 1])
        let (alphaS, sigmaS) = Self.alphaSigma(sigmas[index])
        let h = Self.lambda(alphaT, sigmaT) - Self.lambda(alphaS, sigmaS)
        if dataPrediction {
            return sample.blended(sigmaT / sigmaS, modelOutput, -(alphaT * (Foundation.exp(-h) - 1)))
        }
        return sample.blended(alphaT / alphaS, modelOutput, -(sigmaT * (Foundation.exp(h) - 1)))
    }

    private func secondOrderUpdate(sample: Tensor, index: Int) -> Tensor {
        let (alphaT, sigmaT) = Self.alphaSigma(sigmas[index + 1])
        let (alphaS0, sigmaS0) = Self.alphaSigma(sigmas[index])
        let (alphaS1, sigmaS1) = Self.alphaSigma(sigmas[index - 1])
        let lambdaT = Self.lambda(alphaT, sigmaT)
        let lambdaS0 = Self.lambda(alphaS0, sigmaS0)
        let lambdaS1 = Self.lambda(alphaS1, sigmaS1)
        let m0 = modelOutputs[modelOutputs.count - 1], m1 = modelOutputs[modelOutputs.count - 2]
        let h = lambdaT - lambdaS0, h0 = lambdaS0 - lambdaS1
        let r0 = h0 / h
        let d0 = m0
        let d1 = (m0 - m1) * (1 / r0)
        if dataPrediction {
            let e = Foundation.exp(-h) - 1
            let base = sample.blended(sigmaT / sigmaS0, d0, -(alphaT * e))
            if heun { return base + d1 * (alphaT * (e / h + 1)) }
            return base - d1 * (0.5 * (alphaT * e))
        }
        let e = Foundation.exp(h) - 1
        let base = sample.blended(alphaT / alphaS0, d0, -(sigmaT * e))
        if heun { return base - d1 * (sigmaT * (e / h - 1)) }
        return base - d1 * (0.5 * (sigmaT * e))
    }

    private func thirdOrderUpdate(sample: Tensor, index: Int) -> Tensor {
        let (alphaT, sigmaT) = Self.alphaSigma(sigmas[index + 1])
        let (alphaS0, sigmaS0) = Self.alphaSigma(sigmas[index])
        let (alphaS1, sigmaS1) = Self.alphaSigma(sigmas[index - 1])
        let (alphaS2, sigmaS2) = Self.alphaSigma(sigmas[index - 2])
        let lambdaT = Self.lambda(alphaT, sigmaT), lambdaS0 = Self.lambda(alphaS0, sigmaS0)
        let lambdaS1 = Self.lambda(alphaS1, sigmaS1), lambdaS2 = Self.lambda(alphaS2, sigmaS2)
        let n = modelOutputs.count
        let m0 = modelOutputs[n - 1], m1 = modelOutputs[n - 2], m2 = modelOutputs[n - 3]
        let h = lambdaT - lambdaS0, h0 = lambdaS0 - lambdaS1, h1 = lambdaS1 - lambdaS2
        let r0 = h0 / h, r1 = h1 / h
        let d0 = m0
        let d10 = (m0 - m1) * (1 / r0), d11 = (m1 - m2) * (1 / r1)
        let d1 = d10 + (d10 - d11) * (r0 / (r0 + r1))
        let d2 = (d10 - d11) * (1 / (r0 + r1))
        if dataPrediction {
            let e = Foundation.exp(-h) - 1
            return sample.blended(sigmaT / sigmaS0, d0, -(alphaT * e))
                + d1 * (alphaT * (e / h + 1))
                - d2 * (alphaT * ((e + h) / (h * h) - 0.5))
        }
        let e = Foundation.exp(h) - 1
        return sample.blended(alphaT / alphaS0, d0, -(sigmaT * e))
            - d1 * (sigmaT * (e / h - 1))
            - d2 * (sigmaT * ((e - h) / (h * h) - 0.5))
    }
}
