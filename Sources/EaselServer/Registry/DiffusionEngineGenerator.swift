import EaselDiffusion
import Foundation

/// The production `ImageGenerator`: keeps loaded pipelines warm in a `ModelCache` and
/// runs the EaselDiffusion text-to-image pipeline.
///
/// ENGINE PLUG-IN POINT: the pipeline is not wired in yet. `EnginePipelineLoader.load`
/// and `EnginePipeline.generate` below are the only two places to change; until then
/// every job fails with "engine not available", never with a fake image.
public struct DiffusionEngineGenerator: ImageGenerator {
    let cache: ModelCache<EnginePipelineLoader>

    /// - Parameter memoryBudgetBytes: how much memory warm models may hold together.
    public init(memoryBudgetBytes: Int) {
        cache = ModelCache(loader: EnginePipelineLoader(), budgetBytes: memoryBudgetBytes)
    }

    public func generate(
        model: InstalledModel,
        parameters: GenerationParameters,
        onStep: @escaping @Sendable (Int, Int) -> Void,
        isCancelled: @escaping @Sendable () -> Bool
    ) async throws -> [Data] {
        let pipeline = try await cache.model(for: model)
        let images = try await pipeline.generate(parameters: parameters, onStep: onStep, isCancelled: isCancelled)
        guard images.count == parameters.numberOfImages else {
            throw GenerationError.badOutput("\(images.count) images for numberOfImages \(parameters.numberOfImages)")
        }
        return images
    }
}

/// Loads an installed model into an `EnginePipeline`.
struct EnginePipelineLoader: ModelLoader {
    func estimatedBytes(for model: InstalledModel) throws -> Int {
        // Weights are held as float32 in memory; checkpoints are often float16 on disk.
        model.weightBytesOnDisk() * 2
    }

    func load(_ model: InstalledModel) async throws -> EnginePipeline {
        // ENGINE PLUG-IN POINT (1 of 2): build the EaselDiffusion pipeline for
        // `model.location` (`model.format` says diffusers folder or single file) here.
        throw GenerationError.engineUnavailable(
            "this build of Easel \(EaselDiffusion.version) has no text-to-image pipeline wired in yet")
    }
}

/// A loaded, ready-to-run pipeline (placeholder until the engine is wired in).
final class EnginePipeline: Sendable {
    func generate(
        parameters: GenerationParameters,
        onStep: @escaping @Sendable (Int, Int) -> Void,
        isCancelled: @escaping @Sendable () -> Bool
    ) async throws -> [Data] {
        // ENGINE PLUG-IN POINT (2 of 2): run the denoising loop, call `onStep(step, total)`
        // after each step, throw `GenerationError.cancelled` when `isCancelled()` is true
        // between steps, and return one PNG per image.
        throw GenerationError.engineUnavailable("no text-to-image pipeline wired in yet")
    }
}
