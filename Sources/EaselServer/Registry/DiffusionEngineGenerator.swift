import EaselDiffusion
import Foundation

/// The production `ImageGenerator`: loads models with EaselDiffusion, keeps them warm in
/// a `ModelCache`, and runs its `StableDiffusionPipeline`. This is the only place the service
/// touches the engine; the shipped binary has no other generator.
public struct DiffusionEngineGenerator: ImageGenerator {
    let cache: ModelCache<EnginePipelineLoader>

    /// - Parameter memoryBudgetBytes: how much memory warm models may hold together.
    public init(memoryBudgetBytes: Int) {
        cache = ModelCache(loader: EnginePipelineLoader(), budgetBytes: memoryBudgetBytes)
    }

    public func generate(
        model: InstalledModel,
        request: GenerationRequest,
        onStep: @escaping @Sendable (Int, Int) -> Void,
        isCancelled: @escaping @Sendable () -> Bool
    ) async throws -> GenerationResult {
        try await generate(model: model, request: request, onStep: onStep, onPreview: nil, isCancelled: isCancelled)
    }

    public func generate(
        model: InstalledModel,
        request: GenerationRequest,
        onStep: @escaping @Sendable (Int, Int) -> Void,
        onPreview: (@Sendable (Int, RGBImage) -> Void)?,
        isCancelled: @escaping @Sendable () -> Bool
    ) async throws -> GenerationResult {
        let pipeline = try await cache.model(for: model)
        var request = request
        // The model's own scheduler (its recipe) unless the request names one.
        request.scheduler = request.scheduler ?? model.scheduler
        let previews = onPreview.map { PreviewOptions(every: PreviewOptions.every(ofSteps: request.steps), deliver: $0) }
        return try await pipeline.generate(request, onStep: onStep, previews: previews, isCancelled: isCancelled)
    }
}

/// Loads an installed model (diffusers folder or single file) into an `EnginePipeline`.
struct EnginePipelineLoader: ModelLoader {
    func estimatedBytes(for model: InstalledModel) throws -> Int {
        // Checkpoints are often float16 on disk; in memory the weights are float32 (twice
        // that) or, with bf16 precision, about the same size.
        model.weightBytesOnDisk() * (model.precision == .bfloat16 ? 1 : 2)
    }

    func load(_ model: InstalledModel) async throws -> EnginePipeline {
        let location = model.location
        let configFolder = model.configFolder
        let precision = model.precision
        let loras = model.loras
        let tinyAutoencoder = model.tinyAutoencoder
        do {
            let pipeline = try await EngineThread.run {
                // With the VAE's encoder: any job may start from an init image.
                let loaded = try StableDiffusionModel.load(from: location, configFolder: configFolder, withEncoder: true,
                                                           precision: precision, loras: loras)
                return StableDiffusionPipeline(
                    model: loaded, tinyAutoencoder: try tinyAutoencoder.map { try AutoencoderTiny.load(from: $0, precision: precision) })
            }
            return EnginePipeline(pipeline: pipeline)
        } catch {
            throw ImageGenerationError.modelLoadFailed(model: model.name, reason: "\(error)")
        }
    }
}

/// A loaded pipeline, ready to run again and again.
final class EnginePipeline: Sendable {
    let pipeline: StableDiffusionPipeline

    init(pipeline: StableDiffusionPipeline) {
        self.pipeline = pipeline
    }

    /// Runs the denoising loop off the cooperative pool, reporting every step, stopping
    /// between steps when asked.
    func generate(
        _ request: GenerationRequest,
        onStep: @escaping @Sendable (Int, Int) -> Void,
        previews: PreviewOptions?,
        isCancelled: @escaping @Sendable () -> Bool
    ) async throws -> GenerationResult {
        let pipeline = self.pipeline
        do {
            return try await EngineThread.run {
                try pipeline.generate(request, onStep: { onStep($0.step, $0.totalSteps) }, previews: previews,
                                      isCancelled: isCancelled)
            }
        } catch GenerationError.cancelled(afterSteps: _) {
            throw ImageGenerationError.cancelled
        }
    }
}

/// Runs engine work on a thread of its own: a generation computes for seconds to minutes,
/// and must not hold one of the few threads that serve every request's async code.
enum EngineThread {
    static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try work() }) }
            thread.name = "easel-engine"
            thread.stackSize = 16 << 20
            thread.start()
        }
    }
}
