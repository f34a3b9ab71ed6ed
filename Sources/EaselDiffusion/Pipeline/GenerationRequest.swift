/// Leap's defaults and limits for a generation, in one place: the engine's request, the
/// command line and every API front door take them from here.
public enum LeapDefaults {
    public static let negativePrompt = "asymmetric, watermarks"
    public static let seed: UInt64 = 4_523_184
    public static let steps = 50
    /// Leap's `promptStrength`: the classifier-free guidance scale.
    public static let guidanceScale = 7.0
    public static let count = 1
    /// Width and height when a request leaves them out (SDXL's native size).
    public static let size = 1024

    /// The largest guidance scale Leap accepts.
    public static let maxGuidanceScale = 30.0
    /// The most images in one job.
    public static let maxCount = 4
    /// The smallest width or height.
    public static let minSize = 64
    /// The largest seed: 2^53 - 1, exact in every JSON client.
    public static let maxSeed = 9_007_199_254_740_991
}

/// What to generate: one prompt, its settings, and how many images. The one vocabulary
/// across the engine/service seam (Leap's `promptStrength` is `guidanceScale` here, its
/// `numberOfImages` is `count`).
///
/// Defaults are Leap's (`LeapDefaults`) where a caller leaves a field out; width and height
/// default to the model's native size, and the scheduler to the model's own, at the call site.
public struct GenerationRequest: Sendable, Hashable {

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
    public var guidanceScale: Double
    /// Images per prompt, drawn as one batch from one noise tensor.
    public var count: Int
    /// A scheduler name (see `SchedulerName`), or `nil` for the model's own.
    public var scheduler: String?
    /// The image to start from (image to image), or `nil` to start from noise.
    public var initImage: InitImage?

    public init(prompt: String, negativePrompt: String? = LeapDefaults.negativePrompt,
                steps: Int = LeapDefaults.steps, width: Int, height: Int, seed: UInt64 = LeapDefaults.seed,
                guidanceScale: Double = LeapDefaults.guidanceScale, count: Int = LeapDefaults.count, scheduler: String? = nil, initImage: InitImage? = nil) {
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
