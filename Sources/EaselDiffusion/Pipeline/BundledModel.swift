import Foundation

/// Easel's own small text-to-image model, shipped inside the engine's resources so a fresh
/// install makes real pictures before anyone brings a checkpoint: `easel-shapes`, a 64x64
/// latent-diffusion model of simple shapes (circle, square, triangle, star) in eight colours on
/// plain backgrounds, at nine places, trained from scratch by `scripts/train_bundled_model.py`.
///
/// It is a standard diffusers folder (CLIPTextModel, UNet2DConditionModel, AutoencoderKL,
/// DDIMScheduler, CLIP's tokenizer files), so it runs through exactly the code that runs SD 1.5.
public enum BundledModel {
    /// The name `easel serve` installs it under, and that PNG metadata carries.
    public static let name = "easel-shapes"

    /// The model's diffusers folder in the engine's resource bundle.
    /// - Throws: `ModelLoadingError.notFound` when the resource bundle lacks it (a binary
    ///   copied away from its `*.resources` folder).
    public static func folder() throws -> URL {
        if let url = EngineResources.url(name, withExtension: nil, in: "models"),
            FileManager.default.fileExists(atPath: url.appendingPathComponent("model_index.json").path)
        {
            return url
        }
        throw ModelLoadingError.notFound("\(name) (the bundled model, in \(Bundle.module.bundlePath))")
    }
}
