/// Cuts added tokens (such as "<|endoftext|>") out of text before it is tokenised as words.
///
/// Matching is leftmost-longest, as `tokenizers`' AddedVocabulary does it.
struct AddedTokenSplitter: Sendable {
    /// A piece of the input: text still to tokenise, or an added token's id.
    enum Segment: Equatable {
        case text([Unicode.Scalar])
        case token(Int32)
    }

    private struct Pattern: Sendable {
        let scalars: [Unicode.Scalar]
        let id: Int32
    }

    private let patterns: [Pattern]
    private let firstScalars: Set<Unicode.Scalar>

    /// `tokens`: the spelling to match (already normalised where the token is) and its id.
    init(_ tokens: [(spelling: [Unicode.Scalar], id: Int32)]) {
        patterns = tokens.filter { !$0.spelling.isEmpty }
            .map { Pattern(scalars: $0.spelling, id: $0.id) }
            .sorted { $0.scalars.count > $1.scalars.count }
        firstScalars = Set(patterns.map { $0.scalars[0] })
    }

    var isEmpty: Bool { patterns.isEmpty }

    func split(_ text: [Unicode.Scalar]) -> [Segment] {
        if patterns.isEmpty { return text.isEmpty ? [] : [.text(text)] }
        var segments: [Segment] = []
        var pendingStart = 0
        var index = 0
        while index < text.count {
            guard firstScalars.contains(text[index]), let pattern = longestMatch(in: text, at: index) else {
                index += 1
                continue
            }
            if pendingStart < index { segments.append(.text(Array(text[pendingStart..<index]))) }
            segments.append(.token(pattern.id))
            index += pattern.scalars.count
            pendingStart = index
        }
        if pendingStart < text.count { segments.append(.text(Array(text[pendingStart...]))) }
        return segments
    }

    private func longestMatch(in text: [Unicode.Scalar], at start: Int) -> Pattern? {
        patterns.first { pattern in
            guard start + pattern.scalars.count <= text.count else { return false }
            return pattern.scalars.indices.allSatisfy { text[start + $0] == pattern.scalars[$0] }
        }
    }
}
