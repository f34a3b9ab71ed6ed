import Foundation

/// Which published tokenizer configuration the built-in vocabulary is dressed as.
///
/// Single-file checkpoints carry no tokenizer; the vocabulary is always CLIP's, but the pad token
/// and the added-token flags differ by model family, and they change ids (see `AddedTokenSpec`).
public enum CLIPTokenizerPreset: Sendable, CaseIterable {
    /// SD 1.x (openai/clip-vit-large-patch14 as runwayml/stable-diffusion-v1-5 ships it): pads
    /// with `<|endoftext|>`. Also SDXL's first tokenizer.
    case stableDiffusion1
    /// SD 2.x (stabilityai/stable-diffusion-2-1's tokenizer folder): pads with `!`, and `!` in a
    /// prompt is matched as that token. Also SDXL's second tokenizer.
    case stableDiffusion2
}

extension CLIPTokenizer {
    /// CLIP's own vocabulary, built into Easel (Resources/clip, derived by
    /// scripts/make_clip_vocab.py), with the configuration of `preset`'s published folder.
    /// - Throws: `TokenizerError.missingResource` if the bundle lacks the files.
    public static func builtin(_ preset: CLIPTokenizerPreset = .stableDiffusion1) throws -> CLIPTokenizer {
        try builtin(config: JSONFile(path: "built-in tokenizer_config.json", object: preset.tokenizerConfig),
                    specialTokensMap: JSONFile(path: "built-in special_tokens_map.json", object: preset.specialTokensMap))
    }

    /// CLIP's built-in vocabulary with the special-token configuration of a tokenizer folder that
    /// has only its config files (`tokenizer_config.json`, optionally `special_tokens_map.json`),
    /// such as a config folder given for a single-file checkpoint.
    /// - Throws: `TokenizerError`, naming the file at fault.
    public static func builtin(configuredBy folder: URL) throws -> CLIPTokenizer {
        let (config, map) = try TokenizerFiles.readConfigs(folder: folder)
        return try builtin(config: config, specialTokensMap: map)
    }

    private static func builtin(config: JSONFile, specialTokensMap: JSONFile?) throws -> CLIPTokenizer {
        let files = try builtinVocabularyFiles()
        let vocabulary = try TokenizerFiles.readVocabularyFiles(vocab: files.vocab, merges: files.merges)
        let special = try TokenizerSpecialTokens.resolve(config: config, specialTokensMap: specialTokensMap,
                                                         fileAddedTokens: nil)
        return try CLIPTokenizer(vocabulary: vocabulary, special: special)
    }

    /// The built-in `vocab.json` and `merges.txt`.
    static func builtinVocabularyFiles() throws -> (vocab: URL, merges: URL) {
        func resource(_ name: String, _ ext: String) throws -> URL {
            guard let url = EngineResources.url(name, withExtension: ext, in: "clip") else {
                throw TokenizerError.missingResource(name: "clip/\(name).\(ext)")
            }
            return url
        }
        return (try resource("vocab", "json"), try resource("merges", "txt"))
    }
}

extension CLIPTokenizerPreset {
    private static func addedToken(_ content: String) -> [String: Any] {
        ["content": content, "lstrip": false, "normalized": true, "rstrip": false, "single_word": false]
    }

    /// The published tokenizer_config.json (the same for both families: the pad token that
    /// counts is special_tokens_map.json's).
    fileprivate var tokenizerConfig: [String: Any] {
        ["bos_token": Self.addedToken("<|startoftext|>"), "eos_token": Self.addedToken("<|endoftext|>"),
         "unk_token": Self.addedToken("<|endoftext|>"), "pad_token": "<|endoftext|>", "model_max_length": 77]
    }

    fileprivate var specialTokensMap: [String: Any] {
        ["bos_token": Self.addedToken("<|startoftext|>"), "eos_token": Self.addedToken("<|endoftext|>"),
         "unk_token": Self.addedToken("<|endoftext|>"),
         "pad_token": self == .stableDiffusion1 ? "<|endoftext|>" : "!"]
    }
}
