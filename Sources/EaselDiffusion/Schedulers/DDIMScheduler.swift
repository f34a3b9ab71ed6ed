import EaselTensor

/// Denoising diffusion implicit models (Song et al. 2020), as diffusers'
/// `schedulers/scheduling_ddim.py` (`DDIMScheduler`).
///
/// Honours `clip_sample`/`clip_sample_range`, `set_alpha_to_one`, `steps_offset`,
/// `timestep_spacing`, `rescale_betas_zero_snr` and all three prediction types. `eta`
/// (0 in diffusers' pipelines) is a property; above 0 the variance noise is drawn from the
/// generator as diffusers does. Leaves out: dynamic `thresholding` (rejected),
/// `use_clipped_model_output` and caller-supplied `variance_noise`.
public struct DDIMScheduler: Scheduler {
    public let className = "DDIMScheduler"
    public let predictionType: PredictionType
    public let initNoiseSigma: Float = 1
    public private(set) var timesteps: [Float] = []
    /// The weight of the stochastic part of each step (η in the paper; 0 is deterministic).
    public var eta: Float = 0

    private let schedule: TrainingNoiseSchedule
    private let finalAlphaCumprod: Float
    private let clipRange: Float?
    private let spacing: TimestepSpacing
    private let stepsOffset: Int
    private var inferenceSteps = 0

    /// A DDIM scheduler from a model's scheduler configuration.
    public init(configuration: SchedulerConfiguration) throws {
        let name = className
        predictionType = try PredictionType(configuration.predictionType, scheduler: name)
        schedule = try TrainingNoiseSchedule(configuration, defaults: SchedulerDefaults(timestepSpacing: "leading"), scheduler: name)
        try UnsupportedOptions.reject([("thresholding", configuration.thresholding)], scheduler: name)
        finalAlphaCumprod = (configuration.setAlphaToOne ?? true) ? 1 : schedule.alphasCumprod[0]
        clipRange = (configuration.clipSample ?? true) ? Float(configuration.clipSampleRange ?? 1) : nil
        spacing = try TimestepSpacing(configuration.timestepSpacing, default: .leading, scheduler: name)
        stepsOffset = configuration.stepsOffset ?? 0
    }

    public mutating func setTimesteps(_ count: Int) throws {
        let trainSteps = schedule.count
        guard count >= 1, count <= trainSteps else {
            throw SchedulerError.invalidStepCount(scheduler: className, steps: count, reason: "must be 1...\(trainSteps)")
        }
        inferenceSteps = count
        timesteps = spacing.descendingTimesteps(count: count, trainSteps: trainSteps, stepsOffset: stepsOffset,
                                                roundLinspace: true).map { Float($0) }
    }

    public mutating func scaleModelInput(_ sample: Tensor, timestep: Float) -> Tensor { sample }

    public mutating func step(_ modelOutput: Tensor, timestep: Float, sample: Tensor, generator: inout some RandomSource) -> Tensor {
        precondition(inferenceSteps > 0, "DDIMScheduler.step before setTimesteps")
        let t = Int(timestep)
        let previous = t - schedule.count / inferenceSteps
        let alphaProd = schedule.alphasCumprod[t]
        let alphaProdPrevious = previous >= 0 ? schedule.alphasCumprod[previous] : finalAlphaCumprod
        let betaProd = 1 - alphaProd

        var predictedOriginal: Tensor
        let predictedEpsilon: Tensor
        switch predictionType {
        case .epsilon:
            predictedOriginal = sample.blended(1, modelOutput, -betaProd.squareRoot()) / alphaProd.squareRoot()
            predictedEpsilon = modelOutput
        case .sample:
            predictedOriginal = modelOutput
            predictedEpsilon = sample.blended(1, modelOutput, -alphaProd.squareRoot()) / betaProd.squareRoot()
        case .vPrediction:
            predictedOriginal = sample.blended(alphaProd.squareRoot(), modelOutput, -betaProd.squareRoot())
            predictedEpsilon = modelOutput.blended(alphaProd.squareRoot(), sample, betaProd.squareRoot())
        }
        if let clipRange {
            predictedOriginal = predictedOriginal.clamped(to: -clipRange...clipRange)
        }

        // σ_t = η·√variance; the direction term uses √(1 − ᾱ_prev − σ_t²).
        let betaProdPrevious = 1 - alphaProdPrevious
        let variance = betaProdPrevious / betaProd * (1 - alphaProd / alphaProdPrevious)
        let stdDev = eta * variance.squareRoot()
        let directionCoefficient = (1 - alphaProdPrevious - stdDev * stdDev).squareRoot()
        var previousSample = predictedOriginal.blended(alphaProdPrevious.squareRoot(), predictedEpsilon, directionCoefficient)
        if eta > 0 {
            previousSample = previousSample + generator.randn(modelOutput.shape) * stdDev
        }
        return previousSample
    }

    public func addNoise(_ original: Tensor, noise: Tensor, timestep: Float) -> Tensor {
        ddpmAddNoise(original, noise: noise, alphaCumprod: schedule.alphasCumprod[Int(timestep)])
    }
}
