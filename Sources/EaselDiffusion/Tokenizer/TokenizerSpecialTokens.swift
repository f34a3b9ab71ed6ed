import Foundation

/// One token as transformers' `AddedToken` describes it.
///
/// `normalized` decides where the token is recognised in a prompt: on the raw text (false) or
/// on the normalised, lower-cased text (true). It matters: SD 1.x folders end up with
/// "<|endoftext|>" un-normalised (so "<|ENDOFTEXT|>" is plain text), SD 2.x folders with it
/// normalised and with a raw "!" pad token (so every "!" in a prompt is the pad token, id 0).
struct AddedTokenSpec: Equatable, Sendable {
    var content: String
    var normalized: Bool
    var special: Bool
}

/// The special tokens of a tokenizer folder, resolved the way transformers 5.x resolves them.
///
/// Which file wins and which flags a token ends with follow `PreTrainedTokenizerBase.from_pretrained`
/// and `TokenizersBackend.__init__` (tokenization_utils_base.py, tokenization_utils_tokenizers.py):
/// 1. `tokenizer_config.json`'s `bos_token` ... `mask_token` over CLIPTokenizer's defaults;
/// 2. if the config has `added_tokens_decoder`, that list is the added vocabulary; otherwise
///    (legacy) `special_tokens_map.json` overrides the config's special tokens and
///    `tokenizer.json`'s `added_tokens` become the added vocabulary;
/// 3. a special token spelled like an added-vocabulary token takes that token's flags;
/// 4. the added vocabulary, then each special token not already in it (a bare string there means
///    `normalized: false`), is handed to `tokenizers`, where the last flags given for a spelling win.
struct TokenizerSpecialTokens: Sendable {
    var bos: String
    var eos: String
    var unk: String
    var pad: String
    /// The added vocabulary in the order `tokenizers` receives it, one entry per spelling.
    var added: [AddedTokenSpec]
    /// `split_special_tokens`: special tokens in a prompt are tokenised as text.
    var splitSpecialTokens: Bool
    /// `model_max_length`.
    var maxLength: Int

    /// The named special-token fields, in the order transformers walks them.
    static let names = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]

    /// A named special token as a config writes it: a bare string, or an `AddedToken` object.
    enum Setting: Equatable {
        case plain(String)
        case added(AddedTokenSpec)

        var content: String {
            switch self {
            case .plain(let content): content
            case .added(let token): token.content
            }
        }
    }

    /// - Parameters:
    ///   - config: `tokenizer_config.json`; `specialTokensMap`: `special_tokens_map.json` if present;
    ///   - fileAddedTokens: `tokenizer.json`'s `added_tokens` (id, token) if that file is used.
    static func resolve(config: JSONFile, specialTokensMap: JSONFile?,
                        fileAddedTokens: [(id: Int, token: AddedTokenSpec)]?) throws -> TokenizerSpecialTokens {
        var settings: [String: Setting] = [
            "bos_token": .plain("<|startoftext|>"), "eos_token": .plain("<|endoftext|>"),
            "unk_token": .plain("<|endoftext|>"), "pad_token": .plain("<|endoftext|>"),
        ]
        for name in names {
            if let setting = try config.specialToken(name, inMap: false) { settings[name] = setting }
        }
        try config.rejectExtraSpecialTokens()

        var vocabulary: [(id: Int, token: AddedTokenSpec)] = []
        if config.object["added_tokens_decoder"] != nil {
            vocabulary = try config.addedTokensDecoder()
        } else {
            if let map = specialTokensMap {
                for name in names {
                    if let setting = try map.specialToken(name, inMap: true) { settings[name] = setting }
                }
                try map.rejectExtraSpecialTokens()
            }
            vocabulary = fileAddedTokens ?? []
        }
        vocabulary.sort { $0.id < $1.id }

        if !vocabulary.isEmpty {
            var bySpelling: [String: AddedTokenSpec] = [:]
            for entry in vocabulary { bySpelling[entry.token.content] = entry.token }
            for (name, setting) in settings {
                if let token = bySpelling[setting.content] { settings[name] = .added(token) }
            }
        }

        var handedOver: [Setting] = vocabulary.map { .added($0.token) }
        let inVocabulary = Set(vocabulary.map(\.token.content))
        for name in names {
            guard let setting = settings[name] else { continue }
            if inVocabulary.contains(setting.content) || handedOver.contains(setting) { continue }
            handedOver.append(setting)
        }

        let named = Set(settings.values.map(\.content))
        var added: [AddedTokenSpec] = []
        var position: [String: Int] = [:]
        for setting in handedOver {
            var token: AddedTokenSpec
            switch setting {
            case .plain(let content):
                token = AddedTokenSpec(content: content, normalized: false, special: true)
            case .added(let spec):
                token = spec
                if !token.special && named.contains(token.content) { token.special = true }
            }
            if let index = position[token.content] {
                added[index] = token
            } else {
                position[token.content] = added.count
                added.append(token)
            }
        }

        return TokenizerSpecialTokens(
            bos: settings["bos_token"]!.content, eos: settings["eos_token"]!.content,
            unk: settings["unk_token"]!.content, pad: settings["pad_token"]!.content,
            added: added,
            splitSpecialTokens: try config.optionalBool("split_special_tokens") ?? false,
            maxLength: try config.modelMaxLength())
    }
}

extension JSONFile {
    /// A named special token: a string, or an AddedToken object (which `special_tokens_map.json`
    /// entries always are special, config entries only when they say so). `null` means unset.
    fileprivate func specialToken(_ name: String, inMap: Bool) throws -> TokenizerSpecialTokens.Setting? {
        guard let value = object[name], !(value is NSNull) else { return nil }
        if let content = value as? String { return .plain(content) }
        guard let fields = value as? [String: Any] else {
            throw TokenizerError.invalidField(path: path, field: name, reason: "is neither a string nor a token object")
        }
        return .added(try addedToken(fields, field: name, special: inMap ? true : nil))
    }

    /// An AddedToken object. transformers defaults `special` to false and `normalized` to
    /// `not special`; `special` forces the flag (special_tokens_map.json entries).
    func addedToken(_ fields: [String: Any], field: String, special forced: Bool? = nil) throws -> AddedTokenSpec {
        guard let content = fields["content"] as? String else {
            throw TokenizerError.invalidField(path: path, field: field, reason: "has no string \"content\"")
        }
        func flag(_ key: String) throws -> Bool? {
            guard let value = fields[key], !(value is NSNull) else { return nil }
            guard let bool = value as? Bool else {
                throw TokenizerError.invalidField(path: path, field: "\(field).\(key)", reason: "is not true or false")
            }
            return bool
        }
        for key in ["lstrip", "rstrip", "single_word"] where try flag(key) == true {
            throw TokenizerError.invalidField(
                path: path, field: "\(field).\(key)",
                reason: "is true; Easel's CLIP tokenizer supports only tokens without stripping or word bounds")
        }
        let special = try forced ?? flag("special") ?? false
        return AddedTokenSpec(content: content, normalized: try flag("normalized") ?? !special, special: special)
    }

    fileprivate func addedTokensDecoder() throws -> [(id: Int, token: AddedTokenSpec)] {
        guard let entries = object["added_tokens_decoder"] as? [String: Any] else {
            throw TokenizerError.invalidField(path: path, field: "added_tokens_decoder", reason: "is not an object")
        }
        return try entries.map { key, value in
            let field = "added_tokens_decoder.\(key)"
            guard let id = Int(key), id >= 0 else {
                throw TokenizerError.invalidField(path: path, field: field, reason: "is not keyed by a token id")
            }
            guard let fields = value as? [String: Any] else {
                throw TokenizerError.invalidField(path: path, field: field, reason: "is not a token object")
            }
            return (id, try addedToken(fields, field: field))
        }
    }

    /// CLIP checkpoints carry no extra special tokens; rather than tokenise around them wrongly,
    /// a folder that lists some is refused.
    fileprivate func rejectExtraSpecialTokens() throws {
        for key in ["additional_special_tokens", "extra_special_tokens"] {
            guard let value = object[key], !(value is NSNull) else { continue }
            if let list = value as? [Any], list.isEmpty { continue }
            if let map = value as? [String: Any], map.isEmpty { continue }
            throw TokenizerError.invalidField(path: path, field: key, reason: "lists tokens; Easel's CLIP tokenizer supports none")
        }
    }

    fileprivate func optionalBool(_ key: String) throws -> Bool? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let bool = value as? Bool else {
            throw TokenizerError.invalidField(path: path, field: key, reason: "is not true or false")
        }
        return bool
    }

    /// `model_max_length`: required, since the text encoder takes a fixed number of positions
    /// (transformers would otherwise use an effectively unbounded length).
    fileprivate func modelMaxLength() throws -> Int {
        guard let value = object["model_max_length"] else {
            throw TokenizerError.invalidField(path: path, field: "model_max_length", reason: "is missing")
        }
        guard let number = value as? NSNumber, !(value is Bool), number.doubleValue == number.doubleValue.rounded(),
              number.doubleValue >= 2, number.doubleValue <= 1_000_000 else {
            throw TokenizerError.invalidField(
                path: path, field: "model_max_length", reason: "must be a whole number of positions from 2 to 1000000")
        }
        return number.intValue
    }
}
