import Foundation

/// The diffusers configs a single-file checkpoint is built with, as the bytes of the files a
/// diffusers folder would hold (`unet/config.json`, `vae/config.json`,
/// `text_encoder/config.json`, `scheduler/scheduler_config.json`), so the models and the
/// scheduler decode them exactly as they decode a folder's.
///
/// They come from a diffusers folder the caller names (diffusers' `config=` argument to
/// `from_single_file`), or else are those diffusers fetches for the family (see
/// `SingleFileBuiltInConfigs`). The tokenizer is CLIP's built-in vocabulary in every case;
/// only its padding token differs.
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
    public var scheduler: Data
    /// The tokenizer's padding token ("!" for SD 2.x, "<|endoftext|>" for SD 1.x).
    public var padToken: String

    public init(origin: Origin, unet: Data, vae: Data, textEncoder: Data, scheduler: Data, padToken: String) {
        self.origin = origin
        self.unet = unet
        self.vae = vae
        self.textEncoder = textEncoder
        self.scheduler = scheduler
        self.padToken = padToken
    }

    /// The configs diffusers' `from_single_file` uses for `family` when given no `config=`.
    public static func builtIn(_ family: SingleFileFamily) -> SingleFileConfigs {
        SingleFileConfigs(
            origin: .builtIn(family),
            unet: Data(SingleFileBuiltInConfigs.unet(family).utf8),
            vae: Data(SingleFileBuiltInConfigs.vae(family).utf8),
            textEncoder: Data(SingleFileBuiltInConfigs.textEncoder(family).utf8),
            scheduler: Data(SingleFileBuiltInConfigs.scheduler(family).utf8),
            padToken: family.padToken)
    }

    /// The configs of the diffusers folder at `url`. The padding token is the folder
    /// tokenizer's when it names one (`special_tokens_map.json`, then
    /// `tokenizer_config.json`, transformers' order), else `family`'s.
    public static func folder(_ url: URL, family: SingleFileFamily) throws -> SingleFileConfigs {
        func read(_ path: String) throws -> Data {
            let file = url.appendingPathComponent(path)
            guard let data = FileManager.default.contents(atPath: file.path) else {
                throw CheckpointError.missingFile(path: file.path, what: "\(path) (the single file's config folder)")
            }
            return data
        }
        return SingleFileConfigs(
            origin: .folder(url),
            unet: try read("unet/config.json"),
            vae: try read("vae/config.json"),
            textEncoder: try read("text_encoder/config.json"),
            scheduler: try read("scheduler/scheduler_config.json"),
            padToken: padToken(inTokenizerFolder: url.appendingPathComponent("tokenizer")) ?? family.padToken)
    }

    /// The config of `component`.
    public func config(for component: SingleFileComponent) -> Data {
        switch component {
        case .unet: unet
        case .vae: vae
        case .textEncoder: textEncoder
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
