import EaselTensor
import Foundation

/// Stable Diffusion, step for step as diffusers: text to image as `StableDiffusionPipeline`
/// (`pipeline_stable_diffusion.py`), image to image as `StableDiffusionImg2ImgPipeline`
/// (`pipeline_stable_diffusion_img2img.py`) when the request carries an init image. Same
/// tokenisation, same classifier-free guidance, same noise for the same seed, same decoding.
///
/// The two differ only in where the shared `DenoisingLoop` starts (`StartingLatents`).
/// A guidance-distilled UNet (one with `time_cond_proj_dim`, LCM) runs as diffusers'
/// `LatentConsistencyModelPipeline`: the guidance scale enters as an embedding of
/// `guidance - 1`, there is no unguided pass and no negative prompt.
/// It leaves out what Easel does not offer yet: clip skip, guidance rescale, IP adapters,
/// the safety checker, prompt weighting and resizing an init image.
public struct StableDiffusionPipeline: Sendable {
    public let model: StableDiffusionModel
    /// Decodes (and, for image to image, encodes) in place of the model's VAE when set
    /// (TAESD), as diffusers' `pipe.vae = AutoencoderTiny(...)` does.
    public let tinyAutoencoder: AutoencoderTiny?

    public init(model: StableDiffusionModel, tinyAutoencoder: AutoencoderTiny? = nil) {
        self.model = model
        self.tinyAutoencoder = tinyAutoencoder
    }

    /// Generates `request.count` images from one noise tensor, as diffusers'
    /// `num_images_per_prompt` does. `onStep` is called after every denoising step;
    /// `isCancelled` is asked before every step, and a `true` ends the run with
    /// `GenerationError.cancelled`. `previews` asks for a small picture every few steps
    /// (`PreviewOptions`; computed on this thread, between steps).
    public func generate(
        _ request: GenerationRequest,
        onStep: (GenerationProgress) -> Void = { _ in },
        previews: PreviewOptions? = nil,
        isCancelled: () -> Bool = { false }
    ) throws -> GenerationResult {
        try validate(request)
        let clock = ContinuousClock()
        var warnings: [String] = []
        var scheduler = try SchedulerName.scheduler(named: request.scheduler,
                                                    configuration: model.schedulerConfiguration)

        // Text: [uncond, cond] rows when guiding, each repeated once per image.
        var start = clock.now
        let conditioning = try condition(request, warnings: &warnings)  // [(2)n, 77, D]
        let textSeconds = (clock.now - start).seconds

        // Noise: one generator for the whole run, drawn in diffusers' order.
        try scheduler.setTimesteps(request.steps)
        var random = TorchRandom(seed: request.seed)
        let starting = try StartingLatents.make(for: request, model: model, tinyAutoencoder: tinyAutoencoder,
                                                scheduler: &scheduler, random: &random)
        // The buffers of what came before (a model's load, the text encoder, the last job's
        // decoder) become spare for the steps' activations (BufferPool).
        TensorStorage.retireCachedBuffers()
        var loop = DenoisingLoop(
            unet: model.unet, scheduler: scheduler, beginIndex: starting.beginIndex, latents: starting.latents,
            conditioning: conditioning,
            guidance: runsUnguidedPass(request) ? .classifierFree(scale: Float(request.guidanceScale)) : .unguided)

        let previewer = previews.map { _ in
            LatentPreviewer(configuration: model.schedulerConfiguration, tinyAutoencoder: tinyAutoencoder,
                            palette: .of(model))
        }
        var stepSeconds: [Double] = []
        while !loop.isFinished {
            if isCancelled() { throw GenerationError.cancelled(afterSteps: loop.stepsDone) }
            start = clock.now
            loop.step(random: &random)
            let seconds = (clock.now - start).seconds
            stepSeconds.append(seconds)
            onStep(GenerationProgress(step: loop.stepsDone, totalSteps: loop.timesteps.count, stepSeconds: seconds))
            if let previews, let previewer, !loop.isFinished, loop.stepsDone % previews.every == 0,
               let image = previewer.image(of: loop) {
                previews.deliver(loop.stepsDone, image)
            }
        }
        let latents = loop.latents

        start = clock.now
        // The denoising loop's recycled buffers (about a gigabyte at 512 x 512) become spare:
        // the decoder's larger ones are made from them rather than beside them (BufferPool).
        TensorStorage.retireCachedBuffers()
        let decoded = decode(latents)
        let images = RGBImage.batch(fromDecoded: decoded)
        let decodeSeconds = (clock.now - start).seconds
        return GenerationResult(
            images: images,
            timings: StageTimings(textEncoding: textSeconds, steps: stepSeconds, decoding: decodeSeconds),
            scheduler: scheduler.className,
            warnings: warnings)
    }

    /// Whether the UNet takes the guidance scale as an embedding (`time_cond_proj_dim`).
    var embedsGuidance: Bool { model.unet.config.timeCondProjDim != nil }

    /// Whether each step runs the UNet on the negative prompt too (classifier-free guidance):
    /// diffusers' `do_classifier_free_guidance`, `guidance_scale > 1`, and never for a UNet
    /// that embeds its guidance (`LatentConsistencyModelPipeline`'s is always false).
    func runsUnguidedPass(_ request: GenerationRequest) -> Bool {
        !embedsGuidance && request.usesGuidance
    }

    /// The UNet's conditioning for the batch: `n` rows, or `2n` with the negative prompt's
    /// rows first when guiding; with the guidance embedding when the UNet takes one.
    func condition(_ request: GenerationRequest, warnings: inout [String]) throws -> Conditioning {
        let guided = runsUnguidedPass(request)
        let prompts = guided ? [request.negativePrompt ?? "", request.prompt] : [request.prompt]
        var (conditioning, tokenized) = try model.conditioner.condition(prompts)
        if guided && model.conditioner.zeroesEmptyNegativePrompt && (request.negativePrompt ?? "").isEmpty {
            conditioning = conditioning.zeroingFirstRows(1)
        }
        if let dimension = model.unet.config.timeCondProjDim {
            // diffusers: w = torch.tensor(guidance_scale - 1), a float32 from the Python float.
            let w = Float(request.guidanceScale - 1)
            conditioning.timestepCondition = GuidanceScaleEmbedding.embedding([w], dimension: dimension)
        }
        if let prompt = tokenized.last, prompt.isTruncated {
            warnings.append("the prompt is \(prompt.unpaddedLength) tokens long; the model reads only the first "
                            + "\(prompt.ids.count) (including start and end), the rest was cut off")
        }
        if guided, let negative = tokenized.first, negative.isTruncated {
            warnings.append("the negative prompt is \(negative.unpaddedLength) tokens long; it was cut to "
                            + "\(negative.ids.count)")
        }
        var rows = conditioning.repeatingRows(request.count)
        if model.unet.config.addition != nil {
            // diffusers' add_time_ids: original size, crop top-left, target size; its defaults
            // (original = target = the image's size, no crop), the same for every row.
            let ids: [Float] = [request.height, request.width, 0, 0, request.height, request.width].map(Float.init)
            rows.timeIds = Tensor(shape: [rows.batch, 6], scalars: Array([[Float]](repeating: ids, count: rows.batch).joined()))
        }
        return rows
    }

    /// The images `[B, 3, H, W]` of final latents: diffusers divides by the decoder's own
    /// `scaling_factor` (the VAE's, or the tiny autoencoder's 1) before decoding.
    func decode(_ latents: Tensor) -> Tensor {
        if let tinyAutoencoder {
            return tinyAutoencoder.decode(latents / Float(tinyAutoencoder.config.scalingFactor))
        }
        return model.vae.decode(latents / Float(model.vae.config.scalingFactor))
    }

    /// Why `tiny` cannot stand in for `model`'s VAE, or nil when it can.
    static func mismatch(of tiny: AutoencoderTiny, with model: StableDiffusionModel) -> String? {
        let latent = model.vae.config.latentChannels
        if tiny.config.latentChannels != latent {
            return "the tiny autoencoder (\(tiny.location)) decodes \(tiny.config.latentChannels) latent "
                + "channels but this model makes \(latent)"
        }
        if tiny.config.decoderUpscale != model.vaeScaleFactor {
            return "the tiny autoencoder (\(tiny.location)) enlarges latents \(tiny.config.decoderUpscale)x "
                + "but this model's VAE \(model.vaeScaleFactor)x"
        }
        return nil
    }

    func validate(_ request: GenerationRequest) throws {
        var problems: [String] = []
        if let tiny = tinyAutoencoder, let problem = Self.mismatch(of: tiny, with: model) {
            problems.append(problem)
        }
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
        if let initImage = request.initImage {
            problems += StartingLatents.problems(with: initImage, request: request, model: model,
                                                 tinyAutoencoder: tinyAutoencoder)
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
    public init(images: [RGBImage], timings: StageTimings, scheduler: String, warnings: [String] = []) {
        self.images = images
        self.timings = timings
        self.scheduler = scheduler
        self.warnings = warnings
    }

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
    public init(textEncoding: Double, steps: [Double], decoding: Double) {
        self.textEncoding = textEncoding
        self.steps = steps
        self.decoding = decoding
    }

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
