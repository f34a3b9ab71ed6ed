import Foundation

/// CLIP's text normaliser as transformers 5 configures it: NFC, every run of `\s` to one space,
/// then lower-casing character by character.
///
/// Lower-casing is per scalar (Rust's `char::to_lowercase`), so it has no context rules: "Σ" at the
/// end of a word becomes "σ", not "ς", and "İ" becomes "i" + U+0307. No ftfy, no HTML unescaping,
/// no stripping: v5 applies none of them (leading and trailing spaces vanish in pre-tokenisation).
struct CLIPTextNormalizer: Sendable {
    func normalize<S: Collection<Unicode.Scalar>>(_ text: S) -> [Unicode.Scalar] {
        let composed = composeCanonically(text)
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(composed.count)
        var inWhitespace = false
        for scalar in composed {
            if ScalarClass(scalar) == .whitespace {
                if !inWhitespace { out.append(" ") }
                inWhitespace = true
                continue
            }
            inWhitespace = false
            appendLowercased(scalar, to: &out)
        }
        return out
    }

    private func composeCanonically<S: Collection<Unicode.Scalar>>(_ text: S) -> [Unicode.Scalar] {
        // ASCII is already in NFC; skipping Foundation here keeps ordinary prompts cheap.
        if text.allSatisfy({ $0.isASCII }) { return Array(text) }
        var string = ""
        string.unicodeScalars.append(contentsOf: text)
        return Array(string.precomposedStringWithCanonicalMapping.unicodeScalars)
    }

    private func appendLowercased(_ scalar: Unicode.Scalar, to out: inout [Unicode.Scalar]) {
        if scalar.isASCII {
            let value = scalar.value
            out.append((0x41...0x5A).contains(value) ? Unicode.Scalar(UInt8(value + 0x20)) : scalar)
            return
        }
        out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
    }
}
