import EaselDiffusion
import Foundation

/// The one narrow interface between the service and the engine, in the engine's own
/// vocabulary: a `GenerationRequest` in (every default applied, validated), a
/// `GenerationResult` out (pixels, not encoded files: the service encodes and stores them).
/// Workers call it; the production implementation is `DiffusionEngineGenerator`, tests put
/// a double behind it.
///
/// - `onStep(step, totalSteps)` is called after each denoising step (1-based), in order.
/// - `isCancelled()` is polled between steps; when it returns true the generator stops
///   and throws `ImageGenerationError.cancelled`.
/// - `onPreview(step, image)`, when given, gets a small picture of the image so far every
///   few steps (a generator that cannot draw one never calls it).
/// - The result holds one image per requested image, each `width` x `height`.
public protocol ImageGenerator: Sendable {
    func generate(
        model: InstalledModel,
        request: GenerationRequest,
        onStep: @escaping @Sendable (_ step: Int, _ totalSteps: Int) -> Void,
        isCancelled: @escaping @Sendable () -> Bool
    ) async throws -> GenerationResult

    func generate(
        model: InstalledModel,
        request: GenerationRequest,
        onStep: @escaping @Sendable (_ step: Int, _ totalSteps: Int) -> Void,
        onPreview: (@Sendable (_ step: Int, _ image: RGBImage) -> Void)?,
        isCancelled: @escaping @Sendable () -> Bool
    ) async throws -> GenerationResult
}

extension ImageGenerator {
    /// No previews: the plain generation.
    public func generate(
        model: InstalledModel,
        request: GenerationRequest,
        onStep: @escaping @Sendable (_ step: Int, _ totalSteps: Int) -> Void,
        onPreview: (@Sendable (_ step: Int, _ image: RGBImage) -> Void)?,
        isCancelled: @escaping @Sendable () -> Bool
    ) async throws -> GenerationResult {
        try await generate(model: model, request: request, onStep: onStep, isCancelled: isCancelled)
    }
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
