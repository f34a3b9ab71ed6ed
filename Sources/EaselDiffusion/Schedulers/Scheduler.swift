import EaselTensor

/// A diffusion sampler with diffusers' verbs, driven by the caller one step at a time:
///
/// ```swift
/// var scheduler = try SchedulerName.scheduler(named: nil, configuration: config)  // the model's own
/// try scheduler.setTimesteps(steps)
/// var random = TorchRandom(seed: seed)
/// var latents = random.randn([batch, 4, h, w]) * scheduler.initNoiseSigma
/// for t in scheduler.timesteps {
///     let input = scheduler.scaleModelInput(latents, timestep: t)
///     let prediction = unet(input, t, ...)                          // with guidance
///     latents = scheduler.step(prediction, timestep: t, sample: latents, generator: &random)
/// }
/// ```
///
/// Schedulers are values holding the state of one denoising run (the multistep history,
/// the step index); `setTimesteps` starts a new run. Each conforming type names the
/// diffusers file it matches and what it leaves out. Tensors are latents, `[B, C, H, W]`.
public protocol Scheduler: Sendable {
    /// The diffusers class this scheduler reproduces, e.g. `EulerDiscreteScheduler`.
    var className: String { get }

    /// The prediction the model makes: `epsilon`, `v_prediction` or `sample`.
    var predictionType: PredictionType { get }

    /// The timesteps to run the model at, noisiest first, as the model is given them
    /// (integers for PNDM, DDIM and DPM-Solver; floats for Euler). Empty before
    /// `setTimesteps`. PNDM repeats one timestep, so there may be more entries than steps.
    var timesteps: [Float] { get }

    /// The standard deviation of the initial noise: multiply `randn` by it.
    var initNoiseSigma: Float { get }

    /// Builds the schedule for `count` inference steps and resets the run's state.
    mutating func setTimesteps(_ count: Int) throws

    /// The model input for `sample` at `timestep` (Euler-type schedulers divide by √(σ² + 1)).
    mutating func scaleModelInput(_ sample: Tensor, timestep: Float) -> Tensor

    /// The sample at the next (less noisy) timestep, given the model's output at `timestep`.
    /// Ancestral schedulers draw their noise from `generator`; the others leave it untouched.
    mutating func step(_ modelOutput: Tensor, timestep: Float, sample: Tensor, generator: inout some RandomSource) -> Tensor

    /// `original` noised to the level of `timestep` (the forward process), for image-to-image.
    func addNoise(_ original: Tensor, noise: Tensor, timestep: Float) -> Tensor

    /// Starts the run at position `index` of `timesteps` (image-to-image enters the schedule
    /// part-way, as diffusers' `set_begin_index`). Timestep-indexed schedulers ignore it.
    mutating func setBeginIndex(_ index: Int)
}

/// What a diffusion model's output means.
public enum PredictionType: String, Sendable {
    /// The noise that was added.
    case epsilon
    /// The velocity v = √ᾱ ε − √(1 − ᾱ) x₀ (SD 2.x 768-v models).
    case vPrediction = "v_prediction"
    /// The clean sample x₀ itself.
    case sample

    init(_ value: String?, scheduler: String, allowed: [PredictionType] = [.epsilon, .vPrediction, .sample]) throws {
        guard let value else { self = .epsilon; return }
        guard let type = PredictionType(rawValue: value), allowed.contains(type) else {
            throw SchedulerError.unsupportedOption(
                scheduler: scheduler, key: "prediction_type", value: value,
                reason: "expected one of \(allowed.map(\.rawValue).joined(separator: ", "))")
        }
        self = type
    }
}

extension Scheduler {
    public mutating func setBeginIndex(_ index: Int) {}

    /// The number of model evaluations a full run takes (`timesteps.count`).
    public var evaluationCount: Int { timesteps.count }

    /// `step` for schedulers that need no randomness, without a generator to pass.
    public mutating func step(_ modelOutput: Tensor, timestep: Float, sample: Tensor) -> Tensor {
        var none = NoRandomness(scheduler: className)
        return step(modelOutput, timestep: timestep, sample: sample, generator: &none)
    }
}

/// The generator of a `step` called without one: a scheduler that draws noise anyway is a
/// programming error, not a reason to invent a seed.
private struct NoRandomness: RandomSource {
    let scheduler: String
    func randn(_ shape: [Int]) -> Tensor {
        fatalError("\(scheduler) draws noise at every step: call step(_:timestep:sample:generator:)")
    }
}

/// Shared checks for the configuration keys Easel does not implement.
enum UnsupportedOptions {
    /// Throws for any of `flags` that the configuration turns on.
    static func reject(_ flags: [(key: String, value: Bool?)], scheduler: String) throws {
        for flag in flags where flag.value == true {
            throw SchedulerError.unsupportedOption(scheduler: scheduler, key: flag.key, value: "true",
                                                   reason: "not implemented in Easel")
        }
    }
}

/// diffusers' `index_for_timestep` for the sigma-indexed schedulers: the position of
/// `timestep` in `schedule`, taking the second of two equal entries (so image-to-image that
/// starts mid-schedule does not skip a sigma).
func scheduleIndex(of timestep: Float, in schedule: [Float]) -> Int? {
    let matches = schedule.indices.filter { schedule[$0] == timestep }
    guard let first = matches.first else { return nil }
    return matches.count > 1 ? matches[1] : first
}
