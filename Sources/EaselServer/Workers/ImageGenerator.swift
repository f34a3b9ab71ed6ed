import Foundation

/// One generation as the engine sees it, every default already applied and validated.
public struct GenerationParameters: Sendable, Equatable, Codable {
    public var prompt: String
    public var negativePrompt: String
    public var steps: Int
    public var width: Int
    public var height: Int
    public var numberOfImages: Int
    /// Classifier-free guidance scale.
    public var promptStrength: Double
    /// Same meaning as diffusers: `torch.Generator("cpu").manual_seed(seed)`.
    public var seed: UInt64

    public init(
        prompt: String, negativePrompt: String, steps: Int, width: Int, height: Int, numberOfImages: Int,
        promptStrength: Double, seed: UInt64
    ) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.steps = steps
        self.width = width
        self.height = height
        self.numberOfImages = numberOfImages
        self.promptStrength = promptStrength
        self.seed = seed
    }
}

/// The one narrow interface between the service and the engine. Workers call it; the
/// production implementation is `DiffusionEngineGenerator`, tests put a double behind it.
///
/// - `onStep(step, totalSteps)` is called after each denoising step (1-based), in order.
/// - `isCancelled()` is polled between steps; when it returns true the generator stops
///   and throws `ImageGenerationError.cancelled`.
/// - The result is one PNG per requested image, each `width` x `height`.
public protocol ImageGenerator: Sendable {
    func generate(
        model: InstalledModel,
        parameters: GenerationParameters,
        onStep: @escaping @Sendable (_ step: Int, _ totalSteps: Int) -> Void,
        isCancelled: @escaping @Sendable () -> Bool
    ) async throws -> [Data]
}

/// Why a generation stopped without images.
public enum ImageGenerationError: Error, CustomStringConvertible, Equatable {
    /// `isCancelled()` returned true between steps.
    case cancelled
    /// This build has no engine wired in (see `DiffusionEngineGenerator`).
    case engineUnavailable(String)
    /// The model's files could not be loaded.
    case modelLoadFailed(model: String, reason: String)
    /// The engine returned something other than what was asked.
    case badOutput(String)

    public var description: String {
        switch self {
        case .cancelled: "cancelled"
        case .engineUnavailable(let why): "engine not available: \(why)"
        case .modelLoadFailed(let model, let reason): "could not load model \(model): \(reason)"
        case .badOutput(let what): "engine returned bad output: \(what)"
        }
    }
}
