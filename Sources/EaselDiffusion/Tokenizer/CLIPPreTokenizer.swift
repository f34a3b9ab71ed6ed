/// Splits normalised text into the words BPE sees, as transformers 5's `CLIPTokenizer` does.
///
/// Two patterns run one after the other, both from the reference's pre-tokeniser sequence:
/// 1. CLIP's `Split`, keeping the matches of
///    `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
///    (whitespace is dropped; every digit is its own word);
/// 2. `ByteLevel`'s GPT-2 pattern on each of those pieces,
///    `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
/// The second pass only changes the special-token literals (a "<|endoftext|>" that was not
/// recognised as an added token becomes "<|", "endoftext", "|>"), but it runs in full so the two
/// stay equivalent by construction. Each word is returned as its UTF-8 bytes.
struct CLIPPreTokenizer: Sendable {
    private static let literals: [[Unicode.Scalar]] = ["<|startoftext|>", "<|endoftext|>"].map {
        Array($0.unicodeScalars)
    }
    private static let contractions: [[Unicode.Scalar]] = ["s", "t", "re", "ve", "m", "ll", "d"].map {
        Array($0.unicodeScalars)
    }

    func words(_ text: [Unicode.Scalar]) -> [[UInt8]] {
        let classes = text.map(ScalarClass.init)
        var words: [[UInt8]] = []
        var start = 0
        while start < text.count {
            let end: Int
            if let length = Self.literalLength(text, at: start) {
                end = start + length
            } else if let length = Self.contractionLength(text, at: start) {
                end = start + length
            } else {
                switch classes[start] {
                case .whitespace:
                    start += 1
                    continue
                case .number:
                    end = start + 1
                case .letter, .other:
                    end = Self.runEnd(classes, from: start)
                }
            }
            splitByteLevel(text, classes, start..<end, into: &words)
            start = end
        }
        return words
    }

    /// The GPT-2 pattern over one piece of the first split (a piece never holds whitespace).
    private func splitByteLevel(_ text: [Unicode.Scalar], _ classes: [ScalarClass], _ piece: Range<Int>,
                                into words: inout [[UInt8]]) {
        var start = piece.lowerBound
        while start < piece.upperBound {
            var end = Self.runEnd(classes, from: start, limit: piece.upperBound)
            if let length = Self.contractionLength(text, at: start, limit: piece.upperBound) {
                end = start + length
            }
            words.append(Self.utf8(text[start..<end]))
            start = end
        }
    }

    /// End of the run of scalars of `classes[start]`'s class (letters, numbers or other).
    private static func runEnd(_ classes: [ScalarClass], from start: Int, limit: Int? = nil) -> Int {
        let limit = limit ?? classes.count
        let kind = classes[start]
        var end = start + 1
        while end < limit && classes[end] == kind { end += 1 }
        return end
    }

    private static func literalLength(_ text: [Unicode.Scalar], at start: Int) -> Int? {
        guard text[start] == "<" else { return nil }
        for literal in literals where matches(literal, in: text, at: start, limit: text.count) {
            return literal.count
        }
        return nil
    }

    private static func contractionLength(_ text: [Unicode.Scalar], at start: Int, limit: Int? = nil) -> Int? {
        let limit = limit ?? text.count
        guard text[start] == "'" else { return nil }
        for suffix in contractions where matches(suffix, in: text, at: start + 1, limit: limit) {
            return suffix.count + 1
        }
        return nil
    }

    private static func matches(_ pattern: [Unicode.Scalar], in text: [Unicode.Scalar], at start: Int,
                                limit: Int) -> Bool {
        guard start + pattern.count <= limit else { return false }
        for (offset, scalar) in pattern.enumerated() where text[start + offset] != scalar { return false }
        return true
    }

    private static func utf8(_ scalars: ArraySlice<Unicode.Scalar>) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(scalars.count)
        for scalar in scalars {
            UTF8.encode(scalar) { bytes.append($0) }
        }
        return bytes
    }
}
