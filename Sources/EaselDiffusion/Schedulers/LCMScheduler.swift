import EaselTensor

/// Latent consistency model sampling (Luo et al. 2023), as diffusers'
/// `schedulers/scheduling_lcm.py` (`LCMScheduler`).
///
/// Each step maps the sample straight to a denoised estimate through the consistency
/// boundary condition (`c_skip`, `c_out` with `timestep_scaling`), then, except after the
/// last step, noises it back to the next timestep with one `randn` of the latents' shape
/// from the caller's generator: diffusers' stream and order, so a seed gives its image.
/// Timesteps are taken evenly by index from the `original_inference_steps` distillation
/// schedule (`ConsistencyTimesteps`).
///
/// Honours `original_inference_steps`, `timestep_scaling`, `set_alpha_to_one`,
/// `clip_sample`/`clip_sample_range`, `rescale_betas_zero_snr` and the three prediction
/// types. As in diffusers, `timestep_spacing` and `steps_offset` play no part. Leaves out:
/// dynamic `thresholding` (rejected), custom timesteps and the `strength`-shortened schedule
/// of diffusers' LCM image-to-image pipeline (Easel's image to image enters the schedule
/// part-way, as `StableDiffusionImg2ImgPipeline` does with any scheduler).
public struct LCMScheduler: Scheduler {
    public let className = "LCMScheduler"
    public let predictionType: PredictionType
    public let initNoiseSigma: Float = 1
    public private(set) var timesteps: [Float] = []

    private let schedule: TrainingNoiseSchedule
    private let consistency: ConsistencyTimesteps
    private let timestepScaling: Float
    private let finalAlphaCumprod: Float
    private let clipRange: Float?
    private var position = SigmaStepIndex()

    /// An LCM scheduler from a model's scheduler configuration.
    public init(configuration: SchedulerConfiguration) throws {
        let name = className
        predictionType = try PredictionType(configuration.predictionType, scheduler: name)
        schedule = try TrainingNoiseSchedule(configuration, defaults: .consistency, scheduler: name)
        try UnsupportedOptions.reject([("thresholding", configuration.thresholding)], scheduler: name)
        consistency = try ConsistencyTimesteps(configuration, trainSteps: schedule.count, scheduler: name)
        timestepScaling = try consistencyTimestepScaling(configuration, scheduler: name)
        finalAlphaCumprod = (configuration.setAlphaToOne ?? true) ? 1 : schedule.alphasCumprod[0]
        clipRange = (configuration.clipSample ?? false) ? Float(configuration.clipSampleRange ?? 1) : nil
    }

    public mutating func setTimesteps(_ count: Int) throws {
        timesteps = try consistency.timesteps(count: count, scheduler: className).map(Float.init)
        position.reset()
    }

    public mutating func setBeginIndex(_ begin: Int) { position.setBegin(begin) }

    public mutating func scaleModelInput(_ sample: Tensor, timestep: Float) -> Tensor { sample }

    public mutating func step(_ modelOutput: Tensor, timestep: Float, sample: Tensor, generator: inout some RandomSource) -> Tensor {
        let index = position.current(timestep, in: timesteps, fallback: nil, scheduler: className)
        let t = Int(timestep)
        let isLast = index == timesteps.count - 1
        let previous = isLast ? t : Int(timesteps[index + 1])
        let alphaProd = schedule.alphasCumprod[t]
        let alphaProdPrevious = previous >= 0 ? schedule.alphasCumprod[previous] : finalAlphaCumprod
        let (cSkip, cOut) = boundaryScalings(timestep: timestep)

        var predictedOriginal = consistencyPredictedOriginal(modelOutput, sample: sample, alphaProd: alphaProd,
                                                             predictionType: predictionType)
        if let clipRange {
            predictedOriginal = predictedOriginal.clamped(to: -clipRange...clipRange)
        }
        let denoised = predictedOriginal.blended(cOut, sample, cSkip)
        position.advance(past: index)
        guard !isLast else { return denoised }
        let noise = generator.randn(modelOutput.shape)
        return denoised.blended(alphaProdPrevious.squareRoot(), noise, (1 - alphaProdPrevious).squareRoot())
    }

    /// `get_scalings_for_boundary_condition_discrete`, in float32 as diffusers computes it
    /// from the integer timestep tensor: σ_data = 0.5, s = t · timestep_scaling,
    /// c_skip = σ_data² / (s² + σ_data²), c_out = s / √(s² + σ_data²).
    func boundaryScalings(timestep: Float) -> (cSkip: Float, cOut: Float) {
        let scaled = timestep * timestepScaling
        let denominator = scaled * scaled + 0.25
        return (0.25 / denominator, scaled / denominator.squareRoot())
    }

    public func addNoise(_ original: Tensor, noise: Tensor, timestep: Float) -> Tensor {
        ddpmAddNoise(original, noise: noise, alphaCumprod: schedule.alphasCumprod[Int(timestep)])
    }
}

extension SchedulerDefaults {
    /// The constructor defaults LCMScheduler and TCDScheduler share (SD's betas).
    static let consistency = SchedulerDefaults(betaStart: 0.00085, betaEnd: 0.012, betaSchedule: "scaled_linear",
                                               timestepSpacing: "leading")
}

/// `timestep_scaling` (default 10), checked finite.
func consistencyTimestepScaling(_ configuration: SchedulerConfiguration, scheduler: String) throws -> Float {
    let value = configuration.timestepScaling ?? 10
    guard value.isFinite else {
        throw SchedulerError.unsupportedOption(scheduler: scheduler, key: "timestep_scaling", value: "\(value)",
                                               reason: "must be a finite number")
    }
    return Float(value)
}

/// x₀ from the model output at ᾱ_t, in diffusers' float32 order of operations (LCM, TCD).
func consistencyPredictedOriginal(_ modelOutput: Tensor, sample: Tensor, alphaProd: Float,
                                  predictionType: PredictionType) -> Tensor {
    let betaProd = 1 - alphaProd
    switch predictionType {
    case .epsilon:
        return sample.blended(1, modelOutput, -betaProd.squareRoot()) / alphaProd.squareRoot()
    case .sample:
        return modelOutput
    case .vPrediction:
        return sample.blended(alphaProd.squareRoot(), modelOutput, -betaProd.squareRoot())
    }
}

/// The timestep schedule of LCMScheduler and TCDScheduler (`set_timesteps`): the
/// distillation schedule `k·i − 1` for i = 1…`original_inference_steps` (k = N // that),
/// reversed, and from it `count` entries at the indices ⌊linspace(0, len, count, endpoint=False)⌋.
struct ConsistencyTimesteps: Sendable {
    let trainSteps: Int
    let originalSteps: Int

    init(_ configuration: SchedulerConfiguration, trainSteps: Int, scheduler: String) throws {
        self.trainSteps = trainSteps
        originalSteps = configuration.originalInferenceSteps ?? 50
        guard originalSteps <= trainSteps else {
            throw SchedulerError.unsupportedOption(
                scheduler: scheduler, key: "original_inference_steps", value: "\(originalSteps)",
                reason: "cannot be larger than num_train_timesteps (\(trainSteps))")
        }
    }

    func timesteps(count: Int, scheduler: String) throws -> [Int] {
        guard count >= 1, count <= originalSteps else {
            throw SchedulerError.invalidStepCount(
                scheduler: scheduler, steps: count,
                reason: "must be 1...\(originalSteps) (original_inference_steps: the schedule is a subset of that one)")
        }
        let k = trainSteps / originalSteps
        let origin = (1...originalSteps).reversed().map { $0 * k - 1 }
        let stride = Double(origin.count) / Double(count)
        return (0..<count).map { origin[Int((Double($0) * stride).rounded(.down))] }
    }
}
