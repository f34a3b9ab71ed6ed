import Foundation

/// CLIP's byte-level BPE tokenizer, giving the ids transformers' `CLIPTokenizer` gives.
///
/// The reference is transformers 5.x, where `CLIPTokenizer` (what diffusers' pipelines load) is
/// backed by the Rust `tokenizers` library: added tokens are cut out (on the raw text or the
/// normalised text, per token), the rest is NFC-normalised, whitespace-collapsed and lower-cased,
/// split by CLIP's pattern and then GPT-2's, mapped byte-to-unicode and BPE-merged with "</w>"
/// ending each word. No ftfy, no HTML unescaping: v5 does neither (v4's Python tokenizer did).
///
/// Thread-safe; the word cache is shared by all callers.
public final class CLIPTokenizer: Sendable {
    /// The text encoder's length: `encode` returns exactly this many ids.
    public let maxLength: Int
    /// Start token id (`<|startoftext|>`, 49406 for CLIP).
    public let bosTokenID: Int32
    /// End token id (`<|endoftext|>`, 49407 for CLIP).
    public let eosTokenID: Int32
    /// Pad token id: 49407 for SD 1.x, 0 (`!`) for SD 2.x.
    public let padTokenID: Int32

    private let rawTokens: AddedTokenSplitter
    private let normalizedTokens: AddedTokenSplitter
    private let normalizer = CLIPTextNormalizer()
    private let preTokenizer = CLIPPreTokenizer()
    private let bpe: BytePairEncoder
    private let spellings: [Int32: String]
    private let specialIDs: Set<Int32>

    /// Loads a diffusers `tokenizer/` folder (either form; see `TokenizerFiles`).
    /// - Throws: `TokenizerError`, naming the file at fault.
    public convenience init(folder: URL) throws {
        let (vocabulary, special) = try TokenizerFiles.load(folder: folder)
        try self.init(vocabulary: vocabulary, special: special)
    }

    init(vocabulary: BPEVocabulary, special: TokenizerSpecialTokens) throws {
        var ids = vocabulary.tokens
        func id(of token: String) throws -> Int32 {
            guard let id = ids[token] else {
                throw TokenizerError.invalidField(path: vocabulary.vocabularyPath, field: token,
                                                  reason: "is missing: a byte-level vocabulary spells every byte")
            }
            return id
        }
        let byteIDs = try ByteLevelAlphabet.characters.map { try id(of: String($0)) }
        let finalByteIDs = try ByteLevelAlphabet.characters.map { try id(of: String($0) + "</w>") }
        let merges = try vocabulary.merges.map { merge -> (Int32, Int32, Int32) in
            guard let left = ids[merge.left], let right = ids[merge.right], let merged = ids[merge.left + merge.right] else {
                throw TokenizerError.invalidMerge(
                    path: vocabulary.mergesPath, line: merge.line,
                    reason: "\"\(merge.left) \(merge.right)\" has a symbol or a result not in the vocabulary")
            }
            return (left, right, merged)
        }
        bpe = BytePairEncoder(byteIDs: byteIDs, finalByteIDs: finalByteIDs, merges: merges)

        // Added tokens keep their vocabulary id; a spelling the vocabulary lacks gets the next id.
        var nextID = (ids.values.max() ?? -1) + 1
        var raw: [(spelling: [Unicode.Scalar], id: Int32)] = []
        var normalized: [(spelling: [Unicode.Scalar], id: Int32)] = []
        var specialIDs = Set<Int32>()
        for token in special.added {
            let tokenID = ids[token.content] ?? nextID
            if ids[token.content] == nil {
                ids[token.content] = tokenID
                nextID += 1
            }
            if token.special { specialIDs.insert(tokenID) }
            if token.special && special.splitSpecialTokens { continue }
            if token.normalized {
                normalized.append((normalizer.normalize(Array(token.content.unicodeScalars)), tokenID))
            } else {
                raw.append((Array(token.content.unicodeScalars), tokenID))
            }
        }
        rawTokens = AddedTokenSplitter(raw)
        normalizedTokens = AddedTokenSplitter(normalized)
        self.specialIDs = specialIDs
        spellings = Dictionary(ids.map { ($1, $0) }, uniquingKeysWith: { first, _ in first })

        maxLength = special.maxLength
        bosTokenID = try id(of: special.bos)
        eosTokenID = try id(of: special.eos)
        padTokenID = try id(of: special.pad)
    }

    /// The prompt's ids as diffusers' pipeline gets them: start token, at most `maxLength - 2`
    /// tokens, end token, then pad tokens up to `maxLength`.
    public func encode(_ prompt: String) -> TokenizedPrompt {
        let tokens = tokenize(prompt)
        var ids: [Int32] = [bosTokenID]
        ids.reserveCapacity(maxLength)
        ids.append(contentsOf: tokens.prefix(maxLength - 2))
        ids.append(eosTokenID)
        ids.append(contentsOf: repeatElement(padTokenID, count: maxLength - ids.count))
        return TokenizedPrompt(ids: ids, unpaddedLength: tokens.count + 2)
    }

    /// The prompt's tokens alone: no start or end token, no truncation, no padding.
    public func tokenize(_ prompt: String) -> [Int32] {
        var ids: [Int32] = []
        for segment in rawTokens.split(Array(prompt.unicodeScalars)) {
            switch segment {
            case .token(let id):
                ids.append(id)
            case .text(let text):
                for piece in normalizedTokens.split(normalizer.normalize(text)) {
                    switch piece {
                    case .token(let id):
                        ids.append(id)
                    case .text(let normalizedText):
                        for word in preTokenizer.words(normalizedText) { bpe.encode(word, into: &ids) }
                    }
                }
            }
        }
        return ids
    }

    /// Text for ids, for messages such as the part of a prompt that truncation dropped: words
    /// joined by spaces, special tokens left out. Not byte-exact with transformers' `decode`.
    public func decode(_ ids: some Sequence<Int32>) -> String {
        var bytes: [UInt8] = []
        for id in ids where !specialIDs.contains(id) {
            guard var spelling = spellings[id] else { continue }
            let endsWord = spelling.hasSuffix("</w>")
            if endsWord { spelling.removeLast(4) }
            for scalar in spelling.unicodeScalars {
                if let byte = ByteLevelAlphabet.byte(for: scalar) { bytes.append(byte) }
            }
            if endsWord { bytes.append(UInt8(ascii: " ")) }
        }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    }
}
