/// What to generate: one prompt, its settings, and how many images.
///
/// Defaults are Leap's where a caller leaves a field out (`negativePrompt`
/// "asymmetric, watermarks", guidance 7, seed 4523184, 50 steps); width and height default
/// to the model's native size, and the scheduler to the model's own, at the call site.
public struct GenerationRequest: Sendable, Hashable {
    /// Leap's default negative prompt.
    public static let leapNegativePrompt = "asymmetric, watermarks"
    /// Leap's default seed.
    public static let leapSeed: UInt64 = 4_523_184

    /// The text to draw.
    public var prompt: String
    /// What to steer away from; `nil` or empty means none (diffusers then guides against "").
    public var negativePrompt: String?
    /// Number of denoising steps.
    public var steps: Int
    /// Image width in pixels, a multiple of 8.
    public var width: Int
    /// Image height in pixels, a multiple of 8.
    public var height: Int
    /// Seed of the torch-identical generator that draws the initial noise (and, for
    /// ancestral schedulers, each step's noise).
    public var seed: UInt64
    /// Classifier-free guidance scale (Leap's `promptStrength`); at 1 or below the
    /// unconditional pass is skipped, as in diffusers.
    public var guidanceScale: Float
    /// Images per prompt, drawn as one batch from one noise tensor.
    public var count: Int
    /// A scheduler name (see `SchedulerName`), or `nil` for the model's own.
    public var scheduler: String?
    /// The image to start from (image to image), or `nil` to start from noise.
    public var initImage: InitImage?

    public init(prompt: String, negativePrompt: String? = GenerationRequest.leapNegativePrompt,
                steps: Int = 50, width: Int, height: Int, seed: UInt64 = GenerationRequest.leapSeed,
                guidanceScale: Float = 7, count: Int = 1, scheduler: String? = nil, initImage: InitImage? = nil) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.steps = steps
        self.width = width
        self.height = height
        self.seed = seed
        self.guidanceScale = guidanceScale
        self.count = count
        self.scheduler = scheduler
        self.initImage = initImage
    }

    /// Whether the unconditional (negative-prompt) pass runs, as diffusers decides it.
    public var usesGuidance: Bool { guidanceScale > 1 }
}

/// Image to image: the picture to start from and how far to move away from it.
public struct InitImage: Sendable, Hashable {
    /// The image, exactly the request's width and height (it is not resized).
    public var image: RGBImage
    /// In (0, 1]: the fraction of the schedule run, diffusers' `strength`. 1 starts from
    /// (almost) pure noise; small values keep the image close to the original.
    public var strength: Double

    /// diffusers' default strength.
    public static let defaultStrength = 0.8

    public init(image: RGBImage, strength: Double = InitImage.defaultStrength) {
        self.image = image
        self.strength = strength
    }
}
