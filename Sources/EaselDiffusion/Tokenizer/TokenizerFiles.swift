import Foundation

/// A JSON file read whole, its top level an object; errors name the file.
struct JSONFile {
    let path: String
    let object: [String: Any]

    static func read(_ url: URL) throws -> JSONFile {
        let data = try readData(url)
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw TokenizerError.malformedJSON(path: url.path, reason: "\(error.localizedDescription)")
        }
        guard let object = parsed as? [String: Any] else {
            throw TokenizerError.malformedJSON(path: url.path, reason: "the top level is not an object")
        }
        return JSONFile(path: url.path, object: object)
    }

    static func readData(_ url: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TokenizerError.missingFile(path: url.path)
        }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadableFile(path: url.path, reason: error.localizedDescription)
        }
    }
}

/// A BPE vocabulary and merge list as a tokenizer folder spells them.
struct BPEVocabulary {
    /// Token spelling (byte-level alphabet) to id.
    var tokens: [String: Int32]
    /// The merges in rank order, with the line (merges.txt) or index (tokenizer.json, from 1)
    /// each came from, for error messages.
    var merges: [(left: String, right: String, line: Int)]
    /// The files they came from.
    var vocabularyPath: String
    var mergesPath: String
}

/// Reads a diffusers `tokenizer/` folder in either form found in the wild:
/// (a) `vocab.json` + `merges.txt` + `special_tokens_map.json` + `tokenizer_config.json`, as
///     published SD checkpoints ship it;
/// (b) `tokenizer.json` + `tokenizer_config.json`, as transformers 5's `save_pretrained` writes it.
/// Like transformers, `tokenizer.json` is preferred when both are present; of it, only the
/// vocabulary, the merges and the added tokens count (CLIPTokenizer builds its own pipeline).
enum TokenizerFiles {
    static func load(folder: URL) throws -> (BPEVocabulary, TokenizerSpecialTokens) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TokenizerError.missingFile(path: folder.path)
        }
        let (config, map) = try readConfigs(folder: folder)

        let tokenizerJSON = folder.appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: tokenizerJSON.path) {
            let file = try JSONFile.read(tokenizerJSON)
            let vocabulary = try readTokenizerJSON(file)
            let special = try TokenizerSpecialTokens.resolve(
                config: config, specialTokensMap: map, fileAddedTokens: try readAddedTokens(file))
            return (vocabulary, special)
        }
        let vocabURL = folder.appendingPathComponent("vocab.json")
        let mergesURL = folder.appendingPathComponent("merges.txt")
        guard FileManager.default.fileExists(atPath: vocabURL.path) else {
            throw TokenizerError.missingVocabulary(folder: folder.path)
        }
        let vocabulary = try readVocabularyFiles(vocab: vocabURL, merges: mergesURL)
        let special = try TokenizerSpecialTokens.resolve(config: config, specialTokensMap: map, fileAddedTokens: nil)
        return (vocabulary, special)
    }

    /// `tokenizer_config.json` (required) and `special_tokens_map.json` (if present).
    static func readConfigs(folder: URL) throws -> (config: JSONFile, specialTokensMap: JSONFile?) {
        let config = try JSONFile.read(folder.appendingPathComponent("tokenizer_config.json"))
        let mapURL = folder.appendingPathComponent("special_tokens_map.json")
        let map = FileManager.default.fileExists(atPath: mapURL.path) ? try JSONFile.read(mapURL) : nil
        return (config, map)
    }

    /// Form (a)'s two vocabulary files (also the layout of Easel's built-in vocabulary).
    static func readVocabularyFiles(vocab: URL, merges: URL) throws -> BPEVocabulary {
        let vocabFile = try JSONFile.read(vocab)
        return BPEVocabulary(
            tokens: try tokenIDs(vocabFile.object, path: vocabFile.path, field: "(top level)"),
            merges: try readMergesText(merges), vocabularyPath: vocab.path, mergesPath: merges.path)
    }

    /// merges.txt: an optional "#version" line, then one "left right" pair per line.
    static func readMergesText(_ url: URL) throws -> [(left: String, right: String, line: Int)] {
        let data = try JSONFile.readData(url)
        guard let text = String(data: data, encoding: .utf8) else {
            throw TokenizerError.unreadableFile(path: url.path, reason: "not UTF-8 text")
        }
        var merges: [(left: String, right: String, line: Int)] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, rawLine) in lines.enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.hasPrefix("#version") || (line.isEmpty && index == lines.count - 1) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError.invalidMerge(path: url.path, line: index + 1,
                                                  reason: "expected two symbols separated by one space, got \"\(line)\"")
            }
            merges.append((String(parts[0]), String(parts[1]), index + 1))
        }
        return merges
    }

    /// tokenizer.json's `model`: a BPE vocabulary and merges, as "a b" strings or ["a", "b"] pairs.
    static func readTokenizerJSON(_ file: JSONFile) throws -> BPEVocabulary {
        guard let model = file.object["model"] as? [String: Any] else {
            throw TokenizerError.invalidField(path: file.path, field: "model", reason: "is missing or not an object")
        }
        if let type = model["type"] as? String, type != "BPE" {
            throw TokenizerError.invalidField(path: file.path, field: "model.type", reason: "is \"\(type)\", expected \"BPE\"")
        }
        guard let vocab = model["vocab"] as? [String: Any] else {
            throw TokenizerError.invalidField(path: file.path, field: "model.vocab", reason: "is missing or not an object")
        }
        guard let rawMerges = model["merges"] as? [Any] else {
            throw TokenizerError.invalidField(path: file.path, field: "model.merges", reason: "is missing or not a list")
        }
        var merges: [(left: String, right: String, line: Int)] = []
        merges.reserveCapacity(rawMerges.count)
        for (index, entry) in rawMerges.enumerated() {
            let parts: [String]?
            if let string = entry as? String {
                parts = string.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else {
                parts = entry as? [String]
            }
            guard let parts, parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError.invalidMerge(path: file.path, line: index + 1,
                                                  reason: "expected \"left right\" or [\"left\", \"right\"]")
            }
            merges.append((parts[0], parts[1], index + 1))
        }
        return BPEVocabulary(tokens: try tokenIDs(vocab, path: file.path, field: "model.vocab"), merges: merges,
                             vocabularyPath: file.path, mergesPath: file.path)
    }

    /// tokenizer.json's `added_tokens`: objects with an `id` and AddedToken's fields.
    static func readAddedTokens(_ file: JSONFile) throws -> [(id: Int, token: AddedTokenSpec)] {
        guard let value = file.object["added_tokens"], !(value is NSNull) else { return [] }
        guard let entries = value as? [Any] else {
            throw TokenizerError.invalidField(path: file.path, field: "added_tokens", reason: "is not a list")
        }
        return try entries.enumerated().map { index, entry in
            let field = "added_tokens[\(index)]"
            guard let fields = entry as? [String: Any], let id = (fields["id"] as? NSNumber)?.intValue, id >= 0 else {
                throw TokenizerError.invalidField(path: file.path, field: field, reason: "is not a token object with an id")
            }
            return (id, try file.addedToken(fields, field: field))
        }
    }

    private static func tokenIDs(_ object: [String: Any], path: String, field: String) throws -> [String: Int32] {
        var tokens: [String: Int32] = [:]
        tokens.reserveCapacity(object.count)
        for (token, value) in object {
            guard let number = value as? NSNumber, let id = Int32(exactly: number.doubleValue), id >= 0 else {
                throw TokenizerError.invalidField(path: path, field: "\(field)[\"\(token)\"]", reason: "is not a token id")
            }
            tokens[token] = id
        }
        return tokens
    }
}
