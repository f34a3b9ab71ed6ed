import Foundation

/// The diffusers configs a single-file checkpoint is built with, as the bytes of the files a
/// diffusers folder would hold (`unet/config.json`, `vae/config.json`,
/// `text_encoder/config.json`, SDXL's `text_encoder_2/config.json`,
/// `scheduler/scheduler_config.json`), so the models and the scheduler decode them exactly as
/// they decode a folder's.
///
/// They come from a diffusers folder the caller names (diffusers' `config=` argument to
/// `from_single_file`), or else are those diffusers fetches for the family (see
/// `SingleFileBuiltInConfigs`). The tokenizer is CLIP's built-in vocabulary in every case;
/// only its padding token differs (SDXL has two: the second pads with "!").
public struct SingleFileConfigs: Sendable, Equatable {
    /// Where the configs come from.
    public enum Origin: Sendable, Equatable {
        /// Easel's copy of the configs diffusers uses for the family.
        case builtIn(SingleFileFamily)
        /// A diffusers folder's component configs.
        case folder(URL)
    }

    public var origin: Origin
    public var unet: Data
    public var vae: Data
    public var textEncoder: Data
    /// SDXL's second text encoder's config; nil for families with one encoder.
    public var textEncoder2: Data?
    public var scheduler: Data
    /// The tokenizer's padding token ("!" for SD 2.x, "<|endoftext|>" for SD 1.x and SDXL's first).
    public var padToken: String
    /// SDXL's second tokenizer's padding token ("!"); nil for families with one encoder.
    public var padToken2: String?
    /// SDXL pipelines' `force_zeros_for_empty_prompt` (`model_index.json`); false for SD 1.x/2.x.
    public var forceZerosForEmptyPrompt: Bool

    public init(origin: Origin, unet: Data, vae: Data, textEncoder: Data, textEncoder2: Data? = nil, scheduler: Data,
                padToken: String, padToken2: String? = nil, forceZerosForEmptyPrompt: Bool = false) {
        self.origin = origin
        self.unet = unet
        self.vae = vae
        self.textEncoder = textEncoder
        self.textEncoder2 = textEncoder2
        self.scheduler = scheduler
        self.padToken = padToken
        self.padToken2 = padToken2
        self.forceZerosForEmptyPrompt = forceZerosForEmptyPrompt
    }

    /// The configs diffusers' `from_single_file` uses for `family` when given no `config=`.
    public static func builtIn(_ family: SingleFileFamily) -> SingleFileConfigs {
        SingleFileConfigs(
            origin: .builtIn(family),
            unet: Data(SingleFileBuiltInConfigs.unet(family).utf8),
            vae: Data(SingleFileBuiltInConfigs.vae(family).utf8),
            textEncoder: Data(SingleFileBuiltInConfigs.textEncoder(family).utf8),
            textEncoder2: family.hasSecondTextEncoder ? Data(SingleFileBuiltInConfigs.sdxlTextEncoder2.utf8) : nil,
            scheduler: Data(SingleFileBuiltInConfigs.scheduler(family).utf8),
            padToken: family.padToken,
            padToken2: family.hasSecondTextEncoder ? "!" : nil,
            // stabilityai/stable-diffusion-xl-base-1.0's model_index.json
            forceZerosForEmptyPrompt: family.hasSecondTextEncoder)
    }

    /// The configs of the diffusers folder at `url`. The padding token is the folder
    /// tokenizer's when it names one (`special_tokens_map.json`, then
    /// `tokenizer_config.json`, transformers' order), else `family`'s. For SDXL also the
    /// second encoder's config and tokenizer, and `force_zeros_for_empty_prompt` from
    /// `model_index.json` (true when the folder has none, as diffusers defaults it).
    public static func folder(_ url: URL, family: SingleFileFamily) throws -> SingleFileConfigs {
        func read(_ path: String) throws -> Data {
            let file = url.appendingPathComponent(path)
            guard let data = FileManager.default.contents(atPath: file.path) else {
                throw CheckpointError.missingFile(path: file.path, what: "\(path) (the single file's config folder)")
            }
            return data
        }
        let sdxl = family.hasSecondTextEncoder
        var forceZeros = sdxl
        if sdxl, FileManager.default.fileExists(atPath: url.appendingPathComponent("model_index.json").path) {
            forceZeros = try DiffusersFolder(url: url).forceZerosForEmptyPrompt
        }
        return SingleFileConfigs(
            origin: .folder(url),
            unet: try read("unet/config.json"),
            vae: try read("vae/config.json"),
            textEncoder: try read("text_encoder/config.json"),
            textEncoder2: sdxl ? try read("text_encoder_2/config.json") : nil,
            scheduler: try read("scheduler/scheduler_config.json"),
            padToken: padToken(inTokenizerFolder: url.appendingPathComponent("tokenizer")) ?? family.padToken,
            padToken2: sdxl ? padToken(inTokenizerFolder: url.appendingPathComponent("tokenizer_2")) ?? "!" : nil,
            forceZerosForEmptyPrompt: forceZeros)
    }

    /// The config of `component`; nil for a second text encoder the family does not have.
    public func config(for component: SingleFileComponent) -> Data? {
        switch component {
        case .unet: unet
        case .vae: vae
        case .textEncoder: textEncoder
        case .textEncoder2: textEncoder2
        }
    }

    /// `pad_token` as a tokenizer folder names it: a string or an AddedToken `{"content": ...}`.
    static func padToken(inTokenizerFolder folder: URL) -> String? {
        for file in ["special_tokens_map.json", "tokenizer_config.json"] {
            guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(file).path),
                  let json = try? JSONParser.parse(Array(data)), let pad = json["pad_token"] else { continue }
            if let text = pad.stringValue ?? pad["content"]?.stringValue { return text }
        }
        return nil
    }
}
