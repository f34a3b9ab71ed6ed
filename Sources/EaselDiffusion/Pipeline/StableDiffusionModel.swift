import EaselTensor
import Foundation

/// A loaded Stable Diffusion model: its text conditioner (tokenizer and text encoder: one
/// CLIP for SD 1.x/2.x), UNet, VAE and the model's own scheduler configuration, from a
/// diffusers folder or a single-file checkpoint.
///
/// Loading is strict: a missing, unexpected or mis-shaped tensor is an error naming it.
public struct StableDiffusionModel: Sendable {
    /// Turns prompts into the UNet's conditioning.
    public let conditioner: any TextConditioner
    public let unet: UNet2DConditionModel
    public let vae: AutoencoderKL
    /// The scheduler the model ships with (`scheduler/scheduler_config.json`, or the
    /// family's usual one for a single file).
    public let schedulerConfiguration: SchedulerConfiguration
    /// Where the model came from, for messages and PNG metadata.
    public let location: String
    /// What kind of checkpoint it was, e.g. "diffusers folder" or "single file (SD 1.x)".
    public let kind: String

    public init(conditioner: any TextConditioner, unet: UNet2DConditionModel,
                vae: AutoencoderKL, schedulerConfiguration: SchedulerConfiguration, location: String, kind: String) {
        self.conditioner = conditioner
        self.unet = unet
        self.vae = vae
        self.schedulerConfiguration = schedulerConfiguration
        self.location = location
        self.kind = kind
    }

    /// Pixels per latent cell along each axis (8 for Stable Diffusion's VAE).
    public var vaeScaleFactor: Int { Self.vaeScaleFactor(vae.config) }

    /// The size the UNet was trained at, in pixels (diffusers' default width and height).
    public var nativeSize: (width: Int, height: Int) { Self.nativeSize(unet: unet.config, vae: vae.config) }

    /// diffusers' `vae_scale_factor`: 2 to the number of the VAE's down blocks minus one.
    public static func vaeScaleFactor(_ vae: AutoencoderKLConfig) -> Int {
        1 << max(vae.blockOutChannels.count - 1, 0)
    }

    /// diffusers' default width and height: the UNet's sample size in pixels.
    public static func nativeSize(unet: UNet2DConditionConfig, vae: AutoencoderKLConfig) -> (width: Int, height: Int) {
        let side = unet.sampleSize * vaeScaleFactor(vae)
        return (side, side)
    }

    /// Loads the model at `url`: a diffusers folder (with `model_index.json`) or a single
    /// `.safetensors` file in the original layout. `family` overrides what a single file's
    /// tensors say it is, and `configFolder` is a diffusers folder whose component configs
    /// (and tokenizer) it takes instead of the family's usual ones — diffusers'
    /// `from_single_file(config=...)`; both are ignored for folders. `withEncoder` also loads
    /// the VAE's encoder (image-to-image needs it; text-to-image does not). `precision` is
    /// the element type its layers' weights are kept and multiplied in (`Precision`).
    /// `loras` are fused into the UNet's and text encoder's weights as they load (`LoRAFusion`).
    public static func load(from url: URL, family: SingleFileFamily? = nil, configFolder: URL? = nil,
                            withEncoder: Bool = false, precision: Precision = .float32,
                            loras: [LoRAAdapter] = []) throws -> StableDiffusionModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ModelLoadingError.notFound(url.path)
        }
        if isDirectory.boolValue {
            return try loadFolder(url, withEncoder: withEncoder, matrixType: precision.matrixType,
                                  lora: try LoRAFusion(loras))
        }
        guard url.pathExtension.lowercased() == "safetensors" else {
            throw ModelLoadingError.unsupportedFile(url.path)
        }
        return try loadSingleFile(url, family: family, configFolder: configFolder, withEncoder: withEncoder,
                                  matrixType: precision.matrixType, lora: try LoRAFusion(loras))
    }

    private static func loadFolder(_ url: URL, withEncoder: Bool, matrixType: ElementType,
                                   lora: LoRAFusion) throws -> StableDiffusionModel {
        let folder = try DiffusersFolder(url: url)
        if folder.components["text_encoder_2"]?.className != nil, folder.components["text_encoder"]?.className == nil {
            throw ModelLoadingError.sdxlRefiner(url.path)
        }
        let sdxl = folder.components["text_encoder_2"]?.className != nil
        try lora.checkComponents(present: sdxl ? [.unet, .textEncoder, .textEncoder2] : [.unet, .textEncoder])
        let tokenizer = try CLIPTokenizer(folder: try folder.component("tokenizer").directory)
        let textEncoder = try CLIPTextModel.load(from: try folder.component("text_encoder").directory,
                                                 matrixType: matrixType, lora: lora)
        var second: SecondTextEncoder?
        if sdxl {
            second = (try CLIPTokenizer(folder: try folder.component("tokenizer_2").directory),
                      try CLIPTextModel.load(from: try folder.component("text_encoder_2").directory,
                                             matrixType: matrixType, lora: lora, role: .textEncoder2))
        }
        let conditioner = textConditioner(tokenizer: tokenizer, textEncoder: textEncoder, second: second,
                                          zeroesEmptyNegativePrompt: folder.forceZerosForEmptyPrompt)
        let unet = try UNet2DConditionModel.load(from: try folder.component("unet"), matrixType: matrixType, lora: lora)
        let vae = try AutoencoderKL.load(from: try folder.component("vae"),
                                         parts: withEncoder ? .encoderAndDecoder : .decoderOnly, matrixType: matrixType)
        let scheduler = try folder.component("scheduler")
        let configuration = try SchedulerConfiguration.load(
            from: scheduler.directory.appendingPathComponent("scheduler_config.json"))
        return StableDiffusionModel(conditioner: conditioner, unet: unet, vae: vae,
                                    schedulerConfiguration: configuration, location: url.path,
                                    kind: conditioner is SDXLTextConditioner ? "diffusers folder (SDXL)" : "diffusers folder")
    }

    private static func loadSingleFile(_ url: URL, family: SingleFileFamily?, configFolder: URL?,
                                       withEncoder: Bool, matrixType: ElementType,
                                       lora: LoRAFusion) throws -> StableDiffusionModel {
        let checkpoint = try SingleFileCheckpoint(url: url, familyOverride: family, configFolder: configFolder)
        let sdxl = checkpoint.family.hasSecondTextEncoder
        try lora.checkComponents(present: sdxl ? [.unet, .textEncoder, .textEncoder2] : [.unet, .textEncoder])
        let configs = checkpoint.configs
        let path = url.path

        func textEncoder(_ component: SingleFileComponent, config: Data, role: LoRAComponent) throws -> CLIPTextModel {
            let textConfig = try ConfigFile.decode(CLIPTextConfig.self, from: config, path: "\(path) (\(component) config)")
            let weights = try lora.fusing(into: checkpoint.weights(for: component, matrixType: matrixType), role)
            let model = try CLIPTextModel(config: textConfig, weights: weights)
            try weights.checkAllConsumed(allowing: .buffers)
            return model
        }
        let textEncoder1 = try textEncoder(.textEncoder, config: configs.textEncoder, role: .textEncoder)
        let tokenizer = try singleFileTokenizer(family: checkpoint.family, configFolder: configFolder)
        var second: SecondTextEncoder?
        if sdxl, let config2 = configs.textEncoder2 {
            second = (try singleFileTokenizer(family: checkpoint.family, configFolder: configFolder, second: true),
                      try textEncoder(.textEncoder2, config: config2, role: .textEncoder2))
        }
        let conditioner = textConditioner(tokenizer: tokenizer, textEncoder: textEncoder1, second: second,
                                          zeroesEmptyNegativePrompt: configs.forceZerosForEmptyPrompt)

        let unetConfig = try ConfigFile.decode(UNet2DConditionConfig.self, from: configs.unet,
                                               path: "\(path) (unet config)")
        let unetWeights = try lora.fusing(into: checkpoint.weights(for: .unet, matrixType: matrixType), .unet)
        let unet = try UNet2DConditionModel(config: unetConfig, weights: unetWeights)
        try unetWeights.checkAllConsumed()

        let vaeConfig = try ConfigFile.decode(AutoencoderKLConfig.self, from: configs.vae,
                                              path: "\(path) (vae config)")
        let vaeWeights = checkpoint.weights(for: .vae, matrixType: matrixType)
        let vae = try AutoencoderKL(config: vaeConfig, weights: vaeWeights,
                                    parts: withEncoder ? .encoderAndDecoder : .decoderOnly)
        try vaeWeights.checkAllConsumed(allowing: withEncoder ? .none : .prefixes(["encoder.", "quant_conv."]))

        let scheduler = try SchedulerConfiguration.decode(configs.scheduler, path: "\(path) (scheduler config)")
        return StableDiffusionModel(conditioner: conditioner, unet: unet, vae: vae,
                                    schedulerConfiguration: scheduler, location: path,
                                    kind: "single file (\(checkpoint.family))")
    }
}

extension StableDiffusionModel {
    /// SDXL's second tokenizer and text encoder (with projection).
    typealias SecondTextEncoder = (tokenizer: CLIPTokenizer, textEncoder: CLIPTextModel)

    /// The prompt's conditioner, from text encoders already loaded (from a folder or a
    /// single file alike): SDXL's two when there is a second, else one CLIP.
    static func textConditioner(tokenizer: CLIPTokenizer, textEncoder: CLIPTextModel, second: SecondTextEncoder?,
                                zeroesEmptyNegativePrompt: Bool) -> any TextConditioner {
        guard let second else { return CLIPTextConditioner(tokenizer: tokenizer, textEncoder: textEncoder) }
        return SDXLTextConditioner(
            tokenizer: tokenizer, textEncoder: textEncoder, tokenizer2: second.tokenizer,
            textEncoder2: second.textEncoder, zeroesEmptyNegativePrompt: zeroesEmptyNegativePrompt)
    }

    /// A single file carries no tokenizer: CLIP's built-in vocabulary, dressed as the config
    /// folder's tokenizer when one is given (its own files when it has them), else as the
    /// family's published one (SD 2.x and SDXL's second tokenizer pad with "!").
    static func singleFileTokenizer(family: SingleFileFamily, configFolder: URL?, second: Bool = false) throws -> CLIPTokenizer {
        guard let configFolder else {
            return try CLIPTokenizer.builtin(family.usesOpenCLIP || second ? .stableDiffusion2 : .stableDiffusion1)
        }
        let folder = configFolder.appendingPathComponent(second ? "tokenizer_2" : "tokenizer", isDirectory: true)
        let manager = FileManager.default
        if manager.fileExists(atPath: folder.appendingPathComponent("vocab.json").path)
            || manager.fileExists(atPath: folder.appendingPathComponent("tokenizer.json").path) {
            return try CLIPTokenizer(folder: folder)
        }
        return try CLIPTokenizer.builtin(configuredBy: folder)
    }
}

/// Why a model could not be loaded, beyond the checkpoint's own errors.
public enum ModelLoadingError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(String)
    case unsupportedFile(String)
    case sdxlRefiner(String)

    public var description: String {
        switch self {
        case let .notFound(path):
            "no model at \(path): expected a diffusers folder (with model_index.json) or a .safetensors file"
        case let .sdxlRefiner(path):
            "\(path) is an SDXL refiner (only text_encoder_2, aesthetic-score conditioning), which Easel does not run; use an SDXL base model"
        case let .unsupportedFile(path):
            "\(path) is not a .safetensors file; Easel loads diffusers folders and single-file .safetensors checkpoints (not .ckpt or .bin pickles)"
        }
    }
}
