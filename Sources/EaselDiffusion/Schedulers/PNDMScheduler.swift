import EaselTensor

/// Pseudo numerical methods for diffusion models (Liu et al. 2022), as diffusers'
/// `schedulers/scheduling_pndm.py` (`PNDMScheduler`). With `skip_prk_steps` (how SD 1.x
/// ships it) this is PLMS: a linear multistep method whose first two steps are a
/// second-order warm-up at one repeated timestep; without it, twelve Runge–Kutta
/// evaluations over the last four timesteps precede the multistep part.
///
/// Matches diffusers in float32 operation by operation. Leaves out: nothing of the
/// scheduler's maths; `add_noise` is the DDPM forward process as in diffusers.
public struct PNDMScheduler: Scheduler {
    public let className = "PNDMScheduler"
    public let predictionType: PredictionType
    public let initNoiseSigma: Float = 1
    public private(set) var timesteps: [Float] = []

    private let schedule: TrainingNoiseSchedule
    private let finalAlphaCumprod: Float
    private let skipPrkSteps: Bool
    private let spacing: TimestepSpacing
    private let stepsOffset: Int

    private var inferenceSteps = 0
    /// The Runge–Kutta part of `timesteps` (empty with `skip_prk_steps`).
    private var prkTimesteps: [Int] = []
    private var counter = 0
    /// Model outputs of past steps, oldest first (diffusers' `ets`).
    private var history: [Tensor] = []
    private var currentSample: Tensor?
    private var runningModelOutput: Tensor?

    /// A PNDM scheduler from a model's scheduler configuration.
    public init(configuration: SchedulerConfiguration) throws {
        let name = className
        predictionType = try PredictionType(configuration.predictionType, scheduler: name, allowed: [.epsilon, .vPrediction])
        schedule = try TrainingNoiseSchedule(configuration, defaults: SchedulerDefaults(timestepSpacing: "leading"), scheduler: name)
        try UnsupportedOptions.reject([("rescale_betas_zero_snr", configuration.rescaleBetasZeroSnr)], scheduler: name)
        finalAlphaCumprod = (configuration.setAlphaToOne ?? false) ? 1 : schedule.alphasCumprod[0]
        skipPrkSteps = configuration.skipPrkSteps ?? false
        spacing = try TimestepSpacing(configuration.timestepSpacing, default: .leading, scheduler: name)
        stepsOffset = configuration.stepsOffset ?? 0
    }

    private var trainSteps: Int { schedule.count }
    /// `num_train_timesteps // num_inference_steps`: the nominal distance between timesteps.
    private var stride: Int { trainSteps / inferenceSteps }

    public mutating func setTimesteps(_ count: Int) throws {
        guard count >= 1, count <= trainSteps else {
            throw SchedulerError.invalidStepCount(scheduler: className, steps: count, reason: "must be 1...\(trainSteps)")
        }
        inferenceSteps = count
        // Ascending, as diffusers' `_timesteps`.
        let ascending: [Int] = spacing.descendingTimesteps(
            count: count, trainSteps: trainSteps, stepsOffset: stepsOffset, roundLinspace: true
        ).reversed().map { Int($0) }

        let plms: [Int]
        if skipPrkSteps {
            prkTimesteps = []
            // The second-to-last timestep is repeated: PLMS's warm-up evaluates it twice.
            let repeated = Array(ascending.dropLast()) + ascending.dropLast().suffix(1) + ascending.suffix(1)
            plms = repeated.reversed()
        } else {
            guard count >= 4 else {
                throw SchedulerError.invalidStepCount(scheduler: className, steps: count,
                                                      reason: "the Runge-Kutta warm-up (skip_prk_steps false) needs at least 4")
            }
            let half = stride / 2
            let lastFour = ascending.suffix(4).flatMap { [$0, $0 + half] }
            let doubled = lastFour.dropLast().flatMap { [$0, $0] }
            prkTimesteps = Array(doubled.dropFirst().dropLast()).reversed()
            plms = ascending.dropLast(3).reversed()
        }
        timesteps = (prkTimesteps + plms).map { Float($0) }
        counter = 0
        history = []
        currentSample = nil
        runningModelOutput = nil
    }

    public mutating func scaleModelInput(_ sample: Tensor, timestep: Float) -> Tensor { sample }

    public mutating func step(_ modelOutput: Tensor, timestep: Float, sample: Tensor, generator: inout some RandomSource) -> Tensor {
        precondition(inferenceSteps > 0, "PNDMScheduler.step before setTimesteps")
        if counter < prkTimesteps.count && !skipPrkSteps {
            return stepRungeKutta(modelOutput, timestep: Int(timestep), sample: sample)
        }
        return stepLinearMultistep(modelOutput, timestep: Int(timestep), sample: sample)
    }

    /// `step_prk`: four evaluations per Runge–Kutta step, combined 1/6, 1/3, 1/3, 1/6.
    private mutating func stepRungeKutta(_ modelOutput: Tensor, timestep: Int, sample: Tensor) -> Tensor {
        let diffToPrevious = counter % 2 == 1 ? 0 : stride / 2
        let previous = timestep - diffToPrevious
        let current = prkTimesteps[counter / 4 * 4]
        var output = modelOutput
        switch counter % 4 {
        case 0:
            runningModelOutput = accumulate(modelOutput, Float(1.0 / 6.0))
            history.append(modelOutput)
            currentSample = sample
        case 1, 2:
            runningModelOutput = accumulate(modelOutput, Float(1.0 / 3.0))
        default:
            output = accumulate(modelOutput, Float(1.0 / 6.0))
            runningModelOutput = nil
        }
        let base = currentSample ?? sample
        let previousSample = previousSample(base, timestep: current, previous: previous, modelOutput: output)
        counter += 1
        return previousSample
    }

    /// `cur_model_output + weight * model_output`, where a missing running sum is diffusers' `0`.
    private func accumulate(_ modelOutput: Tensor, _ weight: Float) -> Tensor {
        let term = modelOutput * weight
        return runningModelOutput.map { $0 + term } ?? term
    }

    /// `step_plms`: Adams–Bashforth of up to fourth order over the stored model outputs.
    private mutating func stepLinearMultistep(_ modelOutput: Tensor, timestep: Int, sample: Tensor) -> Tensor {
        var current = timestep
        var previous = timestep - stride
        if counter != 1 {
            history = Array(history.suffix(3)) + [modelOutput]
        } else {
            previous = timestep
            current = timestep + stride
        }
        var sample = sample
        var output: Tensor
        let e = history
        if e.count == 1 && counter == 0 {
            output = modelOutput
            currentSample = sample
        } else if e.count == 1 && counter == 1 {
            output = (modelOutput + e[e.count - 1]) / 2
            sample = currentSample ?? sample
            currentSample = nil
        } else if e.count == 2 {
            output = (e[1] * 3 - e[0]) / 2
        } else if e.count == 3 {
            output = (e[2] * 23 - e[1] * 16 + e[0] * 5) / 12
        } else {
            let n = e.count
            let sum = e[n - 1] * 55 - e[n - 2] * 59 + e[n - 3] * 37 - e[n - 4] * 9
            output = sum * Float(1.0 / 24.0)
        }
        let result = previousSample(sample, timestep: current, previous: previous, modelOutput: output)
        counter += 1
        return result
    }

    /// Formula (9) of the PNDM paper (`_get_prev_sample`).
    private func previousSample(_ sample: Tensor, timestep: Int, previous: Int, modelOutput: Tensor) -> Tensor {
        let alphaProd = schedule.alphasCumprod[timestep]
        let alphaProdPrevious = previous >= 0 ? schedule.alphasCumprod[previous] : finalAlphaCumprod
        let betaProd = 1 - alphaProd
        let betaProdPrevious = 1 - alphaProdPrevious
        var epsilon = modelOutput
        if predictionType == .vPrediction {
            epsilon = modelOutput.blended(alphaProd.squareRoot(), sample, betaProd.squareRoot())
        }
        let sampleCoefficient = (alphaProdPrevious / alphaProd).squareRoot()
        let denominator = alphaProd * betaProdPrevious.squareRoot()
            + (alphaProd * betaProd * alphaProdPrevious).squareRoot()
        // prev = c·x − ((ᾱ_prev − ᾱ_t)·ε) / d, in diffusers' order of operations.
        return sample * sampleCoefficient - (epsilon * (alphaProdPrevious - alphaProd)) / denominator
    }

    public func addNoise(_ original: Tensor, noise: Tensor, timestep: Float) -> Tensor {
        ddpmAddNoise(original, noise: noise, alphaCumprod: schedule.alphasCumprod[Int(timestep)])
    }
}

/// The DDPM forward process √ᾱ·x₀ + √(1 − ᾱ)·ε (`add_noise` of PNDM and DDIM).
func ddpmAddNoise(_ original: Tensor, noise: Tensor, alphaCumprod: Float) -> Tensor {
    original.blended(alphaCumprod.squareRoot(), noise, (1 - alphaCumprod).squareRoot())
}
