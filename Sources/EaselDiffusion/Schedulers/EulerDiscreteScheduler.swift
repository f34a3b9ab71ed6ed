import EaselTensor
import Foundation

/// Euler's method on the probability-flow ODE in σ (Karras et al. 2022, algorithm 2), as
/// diffusers' `schedulers/scheduling_euler_discrete.py` (`EulerDiscreteScheduler`).
///
/// Honours `timestep_spacing`, `steps_offset`, `interpolation_type` (`linear`,
/// `log_linear`), `use_karras_sigmas`, `use_exponential_sigmas`, `sigma_min`/`sigma_max`,
/// `final_sigmas_type`, `timestep_type` (`continuous` with v-prediction),
/// `rescale_betas_zero_snr` and the three prediction types. Leaves out: the stochastic
/// "churn" (`s_churn`, `s_tmin`, `s_tmax`, `s_noise`; diffusers' pipelines leave it off),
/// `use_beta_sigmas` (needs SciPy's beta quantiles; rejected) and caller-supplied
/// timesteps or sigmas.
public struct EulerDiscreteScheduler: Scheduler {
    public let className = "EulerDiscreteScheduler"
    public let predictionType: PredictionType
    public private(set) var timesteps: [Float] = []
    /// σ for each timestep, plus the final σ (0 or the smallest training σ).
    public private(set) var sigmas: [Float] = []

    private let table: SigmaTable
    private let spacing: TimestepSpacing
    private let stepsOffset: Int
    private let logLinear: Bool
    private let sigmaSpacing: SigmaSpacing
    private let sigmaMin: Double?
    private let sigmaMax: Double?
    private let finalSigmas: FinalSigmas
    private let continuousTimesteps: Bool
    private var position = SigmaStepIndex()

    /// An Euler scheduler from a model's scheduler configuration (any class's: the keys
    /// Euler accepts carry over, as with diffusers' `from_config`).
    public init(configuration: SchedulerConfiguration) throws {
        let name = className
        predictionType = try PredictionType(configuration.predictionType, scheduler: name)
        table = try SigmaTable(configuration, defaults: SchedulerDefaults(timestepSpacing: "linspace"), scheduler: name)
        spacing = try TimestepSpacing(configuration.timestepSpacing, default: .linspace, scheduler: name)
        stepsOffset = configuration.stepsOffset ?? 0
        switch configuration.interpolationType ?? "linear" {
        case "linear": logLinear = false
        case "log_linear": logLinear = true
        case let other:
            throw SchedulerError.unsupportedOption(scheduler: name, key: "interpolation_type", value: other,
                                                   reason: "expected linear or log_linear")
        }
        sigmaSpacing = try SigmaSpacing(configuration, scheduler: name)
        sigmaMin = configuration.sigmaMin
        sigmaMax = configuration.sigmaMax
        finalSigmas = try FinalSigmas(configuration.finalSigmasType, scheduler: name)
        switch configuration.timestepType ?? "discrete" {
        case "discrete": continuousTimesteps = false
        case "continuous": continuousTimesteps = predictionType == .vPrediction
        case let other:
            throw SchedulerError.unsupportedOption(scheduler: name, key: "timestep_type", value: other,
                                                   reason: "expected discrete or continuous")
        }
    }

    public var initNoiseSigma: Float {
        let largest = sigmas.max() ?? 0
        return spacing == .leading ? (largest * largest + 1).squareRoot() : largest
    }

    public mutating func setTimesteps(_ count: Int) throws {
        guard count >= 1, count <= table.trainSteps else {
            throw SchedulerError.invalidStepCount(scheduler: className, steps: count, reason: "must be 1...\(table.trainSteps)")
        }
        // Float32 timesteps, as diffusers stores them (linspace ones are not rounded).
        var steps = spacing.descendingTimesteps(count: count, trainSteps: table.trainSteps,
                                                stepsOffset: stepsOffset, roundLinspace: false)
            .map { Double(Float($0)) }

        var schedule: [Double]
        if logLinear {
            let ends = TrainingNoiseSchedule.torchLinspace(Double(table.logSigmas[table.trainSteps - 1]),
                                                           Double(table.logSigmas[0]), count: count + 1)
            schedule = ends.map { Double(Foundation.exp($0)) }
        } else {
            schedule = table.interpolated(at: steps)
        }
        if sigmaSpacing != .interpolated {
            schedule = sigmaSpacing.convert(schedule, count: count, sigmaMin: sigmaMin, sigmaMax: sigmaMax)
            steps = schedule.map { SigmaSchedule.timestep(forSigma: $0, logSigmas: table.logSigmas) }
        }
        let last: Float = finalSigmas == .zero ? 0 : table.smallestTrainingSigma
        sigmas = schedule.map { Float($0) } + [last]
        if continuousTimesteps {
            timesteps = sigmas.dropLast().map { 0.25 * Foundation.log($0) }
        } else {
            timesteps = steps.map { Float($0) }
        }
        position.reset()
    }

    public mutating func setBeginIndex(_ begin: Int) { position.setBegin(begin) }

    private mutating func currentIndex(_ timestep: Float) -> Int {
        position.current(timestep, in: timesteps, fallback: nil, scheduler: className)
    }

    public mutating func scaleModelInput(_ sample: Tensor, timestep: Float) -> Tensor {
        eulerScaledInput(sample, sigma: sigmas[currentIndex(timestep)])
    }

    public mutating func step(_ modelOutput: Tensor, timestep: Float, sample: Tensor, generator: inout some RandomSource) -> Tensor {
        let index = currentIndex(timestep)
        let sigma = sigmas[index]
        let sigmaHat = sigma  // no churn: γ = 0
        let predictedOriginal = eulerPredictedOriginal(modelOutput, sample: sample, sigma: sigma, sigmaHat: sigmaHat,
                                                       predictionType: predictionType)
        let derivative = (sample - predictedOriginal) / sigmaHat
        let dt = sigmas[index + 1] - sigmaHat
        position.advance(past: index)
        return sample + derivative * dt
    }

    public func addNoise(_ original: Tensor, noise: Tensor, timestep: Float) -> Tensor {
        let index = position.noiseIndex(timestep, in: timesteps, fallback: 0)
        return original + noise * sigmas[index]
    }
}

/// The model input at σ, `x / √(σ² + 1)` (shared by the Euler schedulers).
func eulerScaledInput(_ sample: Tensor, sigma: Float) -> Tensor {
    sample / (sigma * sigma + 1).squareRoot()
}

/// x₀ predicted from the model output at σ (shared by the Euler schedulers), in
/// diffusers' float32 order of operations.
func eulerPredictedOriginal(_ modelOutput: Tensor, sample: Tensor, sigma: Float, sigmaHat: Float,
                            predictionType: PredictionType) -> Tensor {
    switch predictionType {
    case .epsilon:
        return sample.blended(1, modelOutput, -sigmaHat)
    case .vPrediction:
        // c_out·v + c_skip·x with c_out = −σ/√(σ²+1), c_skip = 1/(σ²+1).
        let variance = sigma * sigma + 1
        return modelOutput * (-sigma / variance.squareRoot()) + sample / variance
    case .sample:
        return modelOutput
    }
}
