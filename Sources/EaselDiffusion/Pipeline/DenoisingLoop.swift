import EaselTensor

/// The denoising loop every pipeline shares, driven one step at a time (in the spirit of
/// mlx-swift-examples' denoise iterator): text-to-image starts it from pure noise at the
/// first timestep, image-to-image from a noised image part-way down the schedule.
///
/// Each step is diffusers' loop body: scale the input, run the UNet (twice the batch when
/// guiding: the unconditional rows first), combine with the guidance scale, let the
/// scheduler step, drawing any noise from the caller's random source. The conditioning is
/// the same at every step, so its cross-attention keys and values are made once
/// (`CrossAttentionMemo`).
///
/// ```swift
/// var loop = try DenoisingLoop(unet: unet, scheduler: scheduler, latents: noise,
///                              conditioning: conditioning, guidance: .classifierFree(scale: 7))
/// while !loop.isFinished {
///     if cancelled() { break }
///     try loop.step(random: &random)       // a preview can look at loop.latents here
/// }
/// ```
public struct DenoisingLoop {
    /// How the model's prediction is steered toward the prompt.
    public enum Guidance: Sendable, Equatable {
        /// One pass on the prompt's rows alone.
        case unguided
        /// diffusers' classifier-free guidance: `uncond + scale * (cond - uncond)`, with the
        /// conditioning's first half the unconditional rows.
        case classifierFree(scale: Float)
    }

    public let unet: UNet2DConditionModel
    public private(set) var scheduler: any Scheduler
    public let conditioning: Conditioning
    public let guidance: Guidance
    /// The cross-attentions' keys and values of the conditioning, made at the first step.
    private let memo = CrossAttentionMemo()
    /// The current latents `[B, C, h, w]`: the initial ones before the first step, the
    /// denoised ones once `isFinished`.
    public private(set) var latents: Tensor
    /// The timesteps this run goes through (from the begin index on).
    public let timesteps: [Float]
    /// Steps done so far.
    public private(set) var stepsDone = 0
    /// The last step's model input (the latents scaled for the UNet), its guided prediction
    /// and its timestep: what a preview estimates the clean latents from.
    public private(set) var lastModelInput: Tensor?
    public private(set) var lastPrediction: Tensor?
    public private(set) var lastTimestep: Float?

    /// - `scheduler`: after `setTimesteps`; `beginIndex` is where the run enters its schedule
    ///   (0 for text-to-image; image-to-image starts later, as diffusers' `set_begin_index`).
    /// - `latents`: the starting latents, already scaled by the scheduler's `initNoiseSigma`
    ///   (or noised to the level of the first timestep run).
    public init(unet: UNet2DConditionModel, scheduler: any Scheduler, beginIndex: Int = 0, latents: Tensor,
                conditioning: Conditioning, guidance: Guidance) {
        precondition(beginIndex >= 0 && beginIndex <= scheduler.timesteps.count,
                     "begin index \(beginIndex) outside a schedule of \(scheduler.timesteps.count)")
        let rows = guidance == .unguided ? latents.shape[0] : 2 * latents.shape[0]
        precondition(conditioning.batch == rows, "\(conditioning.batch) conditioning rows for \(rows) UNet rows")
        var scheduler = scheduler
        scheduler.setBeginIndex(beginIndex)
        self.unet = unet
        self.scheduler = scheduler
        self.conditioning = conditioning
        self.guidance = guidance
        self.latents = latents
        self.timesteps = Array(scheduler.timesteps[beginIndex...])
    }

    public var isFinished: Bool { stepsDone == timesteps.count }

    /// Runs the next step, drawing any noise the scheduler needs from `random`.
    public mutating func step(random: inout some RandomSource) {
        precondition(!isFinished, "the denoising loop has run all \(timesteps.count) steps")
        let timestep = timesteps[stepsDone]
        let scaled = scheduler.scaleModelInput(latents, timestep: timestep)
        var prediction: Tensor
        switch guidance {
        case .unguided:
            prediction = unet(scaled, timestep: timestep, conditioning: conditioning, memo: memo)
        case let .classifierFree(scale):
            let both = unet(Tensor.concatenate([scaled, scaled], axis: 0), timestep: timestep,
                            conditioning: conditioning, memo: memo)
            let halves = both.chunked(2, axis: 0)  // uncond, cond
            prediction = halves[0] + (halves[1] - halves[0]) * scale
        }
        latents = scheduler.step(prediction, timestep: timestep, sample: latents, generator: &random)
        (lastModelInput, lastPrediction, lastTimestep) = (scaled, prediction, timestep)
        stepsDone += 1
    }
}
