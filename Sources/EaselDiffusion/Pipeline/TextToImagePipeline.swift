import EaselTensor
import Foundation

/// Text to image with a Stable Diffusion model, step for step as diffusers'
/// `StableDiffusionPipeline` (`pipeline_stable_diffusion.py`): same tokenisation, same
/// classifier-free guidance, same noise for the same seed, same decoding.
///
/// It leaves out what Easel does not offer yet: clip skip, guidance rescale, IP adapters,
/// the safety checker, prompt weighting and image-to-image.
public struct TextToImagePipeline: Sendable {
    public let model: StableDiffusionModel

    public init(model: StableDiffusionModel) {
        self.model = model
    }

    /// Generates `request.count` images from one noise tensor, as diffusers'
    /// `num_images_per_prompt` does. `onStep` is called after every denoising step;
    /// `isCancelled` is asked before every step, and a `true` ends the run with
    /// `GenerationError.cancelled`.
    public func generate(
        _ request: GenerationRequest,
        onStep: (GenerationProgress) -> Void = { _ in },
        isCancelled: () -> Bool = { false }
    ) throws -> GenerationResult {
        try validate(request)
        let clock = ContinuousClock()
        var warnings: [String] = []
        var scheduler = try SchedulerName.scheduler(named: request.scheduler,
                                                    configuration: model.schedulerConfiguration)

        // Text: [uncond, cond] rows when guiding, each repeated once per image.
        var start = clock.now
        let context = try encodeText(request, warnings: &warnings)  // [(2)n, 77, D]
        let textSeconds = (clock.now - start).seconds

        // Noise: one generator, one draw for the whole batch, then per-step draws.
        try scheduler.setTimesteps(request.steps)
        var random = TorchRandom(seed: request.seed)
        let factor = model.vaeScaleFactor
        // Sized by the VAE, as diffusers does: an inpainting UNet takes more channels than it denoises.
        let latentShape = [request.count, model.vae.config.latentChannels, request.height / factor, request.width / factor]
        var latents = random.randn(latentShape) * scheduler.initNoiseSigma

        var stepSeconds: [Double] = []
        let timesteps = scheduler.timesteps
        for (index, timestep) in timesteps.enumerated() {
            if isCancelled() { throw GenerationError.cancelled(afterSteps: index) }
            start = clock.now
            let scaled = scheduler.scaleModelInput(latents, timestep: timestep)
            let input = request.usesGuidance ? Tensor.concatenate([scaled, scaled], axis: 0) : scaled
            var prediction = model.unet(input, timestep: timestep, encoderHiddenStates: context)
            if request.usesGuidance {
                let halves = prediction.chunked(2, axis: 0)  // uncond, cond
                prediction = halves[0] + (halves[1] - halves[0]) * request.guidanceScale
            }
            latents = scheduler.step(prediction, timestep: timestep, sample: latents, generator: &random)
            let seconds = (clock.now - start).seconds
            stepSeconds.append(seconds)
            onStep(GenerationProgress(step: index + 1, totalSteps: timesteps.count, stepSeconds: seconds))
        }

        start = clock.now
        let decoded = model.vae.decode(latents / Float(model.vae.config.scalingFactor))
        let images = RGBImage.batch(fromDecoded: decoded)
        let decodeSeconds = (clock.now - start).seconds
        return GenerationResult(
            images: images,
            timings: StageTimings(textEncoding: textSeconds, steps: stepSeconds, decoding: decodeSeconds),
            scheduler: scheduler.className,
            warnings: warnings)
    }

    /// The UNet's conditioning for the batch: `[n, 77, D]`, or `[2n, 77, D]` with the
    /// negative prompt's rows first when guiding.
    func encodeText(_ request: GenerationRequest, warnings: inout [String]) throws -> Tensor {
        let prompt = model.tokenizer.encode(request.prompt)
        if prompt.isTruncated {
            warnings.append("the prompt is \(prompt.unpaddedLength) tokens long; the model reads only the first "
                            + "\(prompt.ids.count) (including start and end), the rest was cut off")
        }
        var rows = [prompt.ids]
        if request.usesGuidance {
            let negative = model.tokenizer.encode(request.negativePrompt ?? "")
            if negative.isTruncated {
                warnings.append("the negative prompt is \(negative.unpaddedLength) tokens long; it was cut to "
                                + "\(negative.ids.count)")
            }
            rows.insert(negative.ids, at: 0)
        }
        let hidden = try model.textEncoder(rows.map { $0.map(Int.init) }).lastHiddenState  // [1|2, 77, D]
        let perRow = hidden.chunked(rows.count, axis: 0)
        return Tensor.concatenate(perRow.flatMap { Array(repeating: $0, count: request.count) }, axis: 0)
    }

    func validate(_ request: GenerationRequest) throws {
        var problems: [String] = []
        let factor = model.vaeScaleFactor
        if request.width <= 0 || request.width % factor != 0 {
            problems.append("width must be a positive multiple of \(factor) (got \(request.width))")
        }
        if request.height <= 0 || request.height % factor != 0 {
            problems.append("height must be a positive multiple of \(factor) (got \(request.height))")
        }
        if request.steps < 1 { problems.append("steps must be at least 1 (got \(request.steps))") }
        if request.count < 1 { problems.append("the number of images must be at least 1 (got \(request.count))") }
        if !request.guidanceScale.isFinite || request.guidanceScale < 0 {
            problems.append("guidance must be a finite number at least 0 (got \(request.guidanceScale))")
        }
        if !problems.isEmpty { throw GenerationError.invalidRequest(problems) }
    }
}

/// Where a generation stands after a step.
public struct GenerationProgress: Sendable, Equatable {
    /// Steps done, from 1.
    public var step: Int
    /// Model evaluations in the run (PNDM's schedule has one more than the steps asked).
    public var totalSteps: Int
    /// How long this step took.
    public var stepSeconds: Double
}

/// The images of a run and what it cost.
public struct GenerationResult: Sendable {
    /// In the batch's order.
    public var images: [RGBImage]
    public var timings: StageTimings
    /// The diffusers class name of the scheduler that ran, e.g. `PNDMScheduler`.
    public var scheduler: String
    /// Things the caller should tell the user (a truncated prompt).
    public var warnings: [String]
}

/// Seconds spent in each stage of a run.
public struct StageTimings: Sendable, Equatable, Codable {
    public var textEncoding: Double
    /// One entry per denoising step (UNet with guidance, plus the scheduler step).
    public var steps: [Double]
    public var decoding: Double

    public var denoising: Double { steps.reduce(0, +) }
    public var total: Double { textEncoding + denoising + decoding }
}

/// Why a generation did not produce images.
public enum GenerationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request breaks the model's rules; every problem is listed.
    case invalidRequest([String])
    /// The caller cancelled between steps.
    case cancelled(afterSteps: Int)

    public var description: String {
        switch self {
        case let .invalidRequest(problems): problems.joined(separator: "; ")
        case let .cancelled(steps): "cancelled after \(steps) steps"
        }
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}
