import EaselTensor

/// Trajectory consistency distillation sampling (Zheng et al. 2024), as diffusers'
/// `schedulers/scheduling_tcd.py` (`TCDScheduler`).
///
/// Each step predicts x₀ and ε, moves them to the intermediate timestep
/// s = ⌊(1 − γ)·t_prev⌋ (`pred_noised_sample`), and, when γ > 0 and this is not the last
/// step, noises that back up to t_prev with one `randn` from the caller's generator
/// (diffusers' order). γ = 0 is deterministic. The timesteps are LCM's
/// (`ConsistencyTimesteps`).
///
/// γ is `gamma`, diffusers' `eta` argument of `TCDScheduler.step`, 0.3 by default as there
/// (diffusers' generic pipelines pass their own `eta`, 0 unless the caller sets it; the TCD
/// authors' examples pass 0.3). Honours `original_inference_steps`, `set_alpha_to_one`,
/// `rescale_betas_zero_snr` and the three prediction types; `timestep_spacing`,
/// `steps_offset`, `clip_sample` and `timestep_scaling` play no part in its steps, as in
/// diffusers. Leaves out: dynamic `thresholding` (rejected), custom timesteps, and
/// `set_timesteps`' `original_inference_steps` override (which diffusers' pipelines do not pass).
public struct TCDScheduler: Scheduler {
    public let className = "TCDScheduler"
    public let predictionType: PredictionType
    public let initNoiseSigma: Float = 1
    public private(set) var timesteps: [Float] = []
    /// γ: how much of each step is stochastic, in [0, 1].
    public var gamma: Float = 0.3 {
        willSet { precondition((0...1).contains(newValue), "TCDScheduler gamma must be in [0, 1], got \(newValue)") }
    }

    private let schedule: TrainingNoiseSchedule
    private let consistency: ConsistencyTimesteps
    private let finalAlphaCumprod: Float
    private var position = SigmaStepIndex()

    /// A TCD scheduler from a model's scheduler configuration.
    public init(configuration: SchedulerConfiguration) throws {
        let name = className
        predictionType = try PredictionType(configuration.predictionType, scheduler: name)
        schedule = try TrainingNoiseSchedule(configuration, defaults: .consistency, scheduler: name)
        try UnsupportedOptions.reject([("thresholding", configuration.thresholding)], scheduler: name)
        consistency = try ConsistencyTimesteps(configuration, trainSteps: schedule.count, scheduler: name)
        finalAlphaCumprod = (configuration.setAlphaToOne ?? true) ? 1 : schedule.alphasCumprod[0]
    }

    public mutating func setTimesteps(_ count: Int) throws {
        timesteps = try consistency.timesteps(count: count, scheduler: className).map(Float.init)
        position.reset()
    }

    public mutating func setBeginIndex(_ begin: Int) { position.setBegin(begin) }

    public mutating func scaleModelInput(_ sample: Tensor, timestep: Float) -> Tensor { sample }

    public mutating func step(_ modelOutput: Tensor, timestep: Float, sample: Tensor, generator: inout some RandomSource) -> Tensor {
        let index = position.current(timestep, in: timesteps, fallback: nil, scheduler: className)
        let isLast = index == timesteps.count - 1
        let previous = isLast ? 0 : Int(timesteps[index + 1])
        // torch: floor((1 - eta) * prev_timestep) on a long tensor, computed in float32.
        let s = Int((Float(1 - Double(gamma)) * Float(previous)).rounded(.down))
        let alphaProd = schedule.alphasCumprod[Int(timestep)]
        let alphaProdPrevious = previous >= 0 ? schedule.alphasCumprod[previous] : finalAlphaCumprod
        let alphaProdS = schedule.alphasCumprod[s]
        let betaProd = 1 - alphaProd, betaProdS = 1 - alphaProdS

        let predictedOriginal = consistencyPredictedOriginal(modelOutput, sample: sample, alphaProd: alphaProd,
                                                             predictionType: predictionType)
        let predictedEpsilon: Tensor
        switch predictionType {
        case .epsilon: predictedEpsilon = modelOutput
        case .sample: predictedEpsilon = sample.blended(1, predictedOriginal, -alphaProd.squareRoot()) / betaProd.squareRoot()
        case .vPrediction: predictedEpsilon = modelOutput.blended(alphaProd.squareRoot(), sample, betaProd.squareRoot())
        }
        let noised = predictedOriginal.blended(alphaProdS.squareRoot(), predictedEpsilon, betaProdS.squareRoot())
        position.advance(past: index)
        guard gamma > 0, !isLast else { return noised }
        let noise = generator.randn(modelOutput.shape)
        let ratio = alphaProdPrevious / alphaProdS
        return noised.blended(ratio.squareRoot(), noise, (1 - ratio).squareRoot())
    }

    public func addNoise(_ original: Tensor, noise: Tensor, timestep: Float) -> Tensor {
        ddpmAddNoise(original, noise: noise, alphaCumprod: schedule.alphasCumprod[Int(timestep)])
    }
}
