import EaselTensor
import Foundation

/// What the σ-parameterised schedulers (Euler, Euler ancestral, DPM-Solver++) share: the
/// training σ table built from ᾱ, with diffusers' special case for a zero terminal SNR.
struct SigmaTable: Sendable {
    let schedule: TrainingNoiseSchedule
    /// ᾱ as these schedulers use it: with `rescale_betas_zero_snr` the last value is set to
    /// 2⁻²⁴ so that σ stays finite.
    let alphasCumprod: [Float]
    /// σ_t = √((1 − ᾱ_t) / ᾱ_t) for each training timestep, float32, ascending in t.
    let sigmas: [Float]
    /// log σ_t, float32 (NumPy's `np.log` of the float32 table).
    let logSigmas: [Float]

    init(_ configuration: SchedulerConfiguration, defaults: SchedulerDefaults, scheduler: String) throws {
        schedule = try TrainingNoiseSchedule(configuration, defaults: defaults, scheduler: scheduler)
        var cumprod = schedule.alphasCumprod
        if configuration.rescaleBetasZeroSnr ?? false {
            cumprod[cumprod.count - 1] = 0x1p-24
        }
        alphasCumprod = cumprod
        sigmas = cumprod.map { ((1 - $0) / $0).squareRoot() }
        logSigmas = sigmas.map { Foundation.log($0) }
    }

    var trainSteps: Int { sigmas.count }

    /// σ at each of `timesteps` by NumPy's linear interpolation, in double.
    func interpolated(at timesteps: [Double]) -> [Double] {
        let table = sigmas.map(Double.init)
        return timesteps.map { NumPy.interp($0, table) }
    }

    /// σ of training timestep 0 in float32: the `sigma_min` final value.
    var smallestTrainingSigma: Float {
        let first = alphasCumprod[0]
        return ((1 - first) / first).squareRoot()
    }
}

/// `final_sigmas_type`: the σ appended after the last step.
enum FinalSigmas: String, Sendable {
    /// Denoise completely: the last σ is 0.
    case zero
    /// Stop at the smallest training σ.
    case sigmaMin = "sigma_min"

    init(_ value: String?, scheduler: String) throws {
        guard let value else { self = .zero; return }
        guard let parsed = FinalSigmas(rawValue: value) else {
            throw SchedulerError.unsupportedOption(scheduler: scheduler, key: "final_sigmas_type", value: value,
                                                   reason: "expected zero or sigma_min")
        }
        self = parsed
    }
}

/// Which σ schedule replaces the interpolated one (`use_karras_sigmas`, `use_exponential_sigmas`).
enum SigmaSpacing: Sendable {
    case interpolated, karras, exponential

    init(_ configuration: SchedulerConfiguration, scheduler: String) throws {
        try UnsupportedOptions.reject([("use_beta_sigmas", configuration.useBetaSigmas)], scheduler: scheduler)
        let karras = configuration.useKarrasSigmas ?? false
        let exponential = configuration.useExponentialSigmas ?? false
        if karras && exponential {
            throw SchedulerError.unsupportedOption(scheduler: scheduler, key: "use_karras_sigmas", value: "true",
                                                   reason: "only one of use_karras_sigmas and use_exponential_sigmas may be set")
        }
        self = karras ? .karras : exponential ? .exponential : .interpolated
    }

    /// The `count`-step σ schedule between the configured or the table's extremes.
    func convert(_ sigmas: [Double], count: Int, sigmaMin: Double?, sigmaMax: Double?) -> [Double] {
        let low = sigmaMin ?? sigmas[sigmas.count - 1]
        let high = sigmaMax ?? sigmas[0]
        switch self {
        case .interpolated: return sigmas
        case .karras: return SigmaSchedule.karras(sigmaMin: low, sigmaMax: high, count: count)
        case .exponential: return SigmaSchedule.exponential(sigmaMin: low, sigmaMax: high, count: count)
        }
    }
}
