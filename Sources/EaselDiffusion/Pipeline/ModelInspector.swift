import Foundation

/// What a checkpoint is, as far as the engine can tell by loading it.
public struct ModelSummary: Sendable, Equatable {
    /// "diffusers folder" or "single file (SD 1.x)" ...
    public var kind: String
    /// The size the UNet was trained at, in pixels.
    public var nativeWidth: Int
    public var nativeHeight: Int
}

/// The engine's verdict on a checkpoint before anyone installs it: it loads the model
/// exactly as a generation would (every config decoded, every tensor checked by name and
/// shape, the VAE's encoder included), so whatever `easel models add` accepts, a job can
/// load, and what it refuses carries the loader's own message.
///
/// The weights are read and dropped: inspection costs one model load's time and memory.
public enum ModelInspector {
    /// Loads the checkpoint with `loras` fused, and `tinyAutoencoder` beside it (which must
    /// fit the model's latents), as a job would.
    public static func inspect(_ url: URL, family: SingleFileFamily? = nil, configFolder: URL? = nil,
                               loras: [LoRAAdapter] = [], tinyAutoencoder: URL? = nil) throws -> ModelSummary {
        let model = try StableDiffusionModel.load(from: url, family: family, configFolder: configFolder, withEncoder: true,
                                                  loras: loras)
        if let tinyAutoencoder {
            let tiny: AutoencoderTiny
            do {
                tiny = try AutoencoderTiny.load(from: tinyAutoencoder)
            } catch {
                throw ModelInspectionError.tinyAutoencoderUnloadable("cannot load the tiny autoencoder \(tinyAutoencoder.path): \(error)")
            }
            if let problem = StableDiffusionPipeline.mismatch(of: tiny, with: model) {
                throw ModelInspectionError.tinyAutoencoderMismatch(problem)
            }
        }
        let size = model.nativeSize
        return ModelSummary(kind: model.kind, nativeWidth: size.width, nativeHeight: size.height)
    }

    /// The native size of a diffusers folder from its UNet and VAE configs alone (cheap:
    /// no weights are read), or nil when they do not decode.
    public static func nativeSize(ofFolder url: URL) -> (width: Int, height: Int)? {
        guard
            let unet = try? ConfigFile.decode(UNet2DConditionConfig.self, from: url.appendingPathComponent("unet/config.json")),
            let vae = try? ConfigFile.decode(AutoencoderKLConfig.self, from: url.appendingPathComponent("vae/config.json"))
        else { return nil }
        return StableDiffusionModel.nativeSize(unet: unet, vae: vae)
    }
}

/// Why a model's parts do not go together.
public enum ModelInspectionError: Error, Sendable, Equatable, CustomStringConvertible {
    case tinyAutoencoderMismatch(String)
    case tinyAutoencoderUnloadable(String)

    public var description: String {
        switch self {
        case let .tinyAutoencoderMismatch(problem), let .tinyAutoencoderUnloadable(problem): problem
        }
    }
}
