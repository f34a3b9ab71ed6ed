import EaselTensor

/// Euler ancestral sampling (k-diffusion's `sample_euler_ancestral`), as diffusers'
/// `schedulers/scheduling_euler_ancestral_discrete.py` (`EulerAncestralDiscreteScheduler`).
///
/// Each step goes down to σ_down deterministically and adds fresh noise of size σ_up,
/// drawn from the caller's generator with one `randn` of the latents' shape per step, after
/// the initial latents: the same stream and order as diffusers with a CPU generator, so a
/// seed gives diffusers' image. Honours `timestep_spacing`, `steps_offset`,
/// `rescale_betas_zero_snr` and epsilon/v-prediction (diffusers has no `sample` here).
/// Leaves out nothing else of the scheduler.
public struct EulerAncestralDiscreteScheduler: Scheduler {
    public let className = "EulerAncestralDiscreteScheduler"
    public let predictionType: PredictionType
    public private(set) var timesteps: [Float] = []
    /// σ for each timestep, then 0.
    public private(set) var sigmas: [Float] = []

    private let table: SigmaTable
    private let spacing: TimestepSpacing
    private let stepsOffset: Int
    private var position = SigmaStepIndex()

    /// An Euler ancestral scheduler from a model's scheduler configuration.
    public init(configuration: SchedulerConfiguration) throws {
        let name = className
        predictionType = try PredictionType(configuration.predictionType, scheduler: name, allowed: [.epsilon, .vPrediction])
        table = try SigmaTable(configuration, defaults: SchedulerDefaults(timestepSpacing: "linspace"), scheduler: name)
        spacing = try TimestepSpacing(configuration.timestepSpacing, default: .linspace, scheduler: name)
        stepsOffset = configuration.stepsOffset ?? 0
    }

    public var initNoiseSigma: Float {
        let largest = sigmas.max() ?? 0
        return spacing == .leading ? (largest * largest + 1).squareRoot() : largest
    }

    public mutating func setTimesteps(_ count: Int) throws {
        guard count >= 1, count <= table.trainSteps else {
            throw SchedulerError.invalidStepCount(scheduler: className, steps: count, reason: "must be 1...\(table.trainSteps)")
        }
        let steps = spacing.descendingTimesteps(count: count, trainSteps: table.trainSteps,
                                                stepsOffset: stepsOffset, roundLinspace: false)
            .map { Double(Float($0)) }
        sigmas = table.interpolated(at: steps).map { Float($0) } + [0]
        timesteps = steps.map { Float($0) }
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
        let predictedOriginal = eulerPredictedOriginal(modelOutput, sample: sample, sigma: sigma, sigmaHat: sigma,
                                                       predictionType: predictionType)
        // Split the move from σ to σ_next into a deterministic part (to σ_down) and noise (σ_up).
        let sigmaFrom = sigma, sigmaTo = sigmas[index + 1]
        let toSquared = sigmaTo * sigmaTo, fromSquared = sigmaFrom * sigmaFrom
        let sigmaUp = (toSquared * (fromSquared - toSquared) / fromSquared).squareRoot()
        let sigmaDown = (toSquared - sigmaUp * sigmaUp).squareRoot()
        let derivative = (sample - predictedOriginal) / sigma
        let dt = sigmaDown - sigma
        let deterministic = sample + derivative * dt
        let noise = generator.randn(modelOutput.shape)
        position.advance(past: index)
        return deterministic + noise * sigmaUp
    }

    public func addNoise(_ original: Tensor, noise: Tensor, timestep: Float) -> Tensor {
        let index = position.noiseIndex(timestep, in: timesteps, fallback: 0)
        return original + noise * sigmas[index]
    }
}
