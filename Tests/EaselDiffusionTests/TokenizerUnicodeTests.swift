import Foundation
import Testing
@testable import EaselDiffusion

/// The character classes and per-character normalisation agree with the reference over the whole
/// code space, not just the characters the prompts happen to use.
///
/// Fixtures/tokenizer/unicode.json holds what `tokenizers` (Oniguruma regex, Rust's lower-casing,
/// the unicode-normalization crate) does with each code point. Oniguruma's tables are Unicode 16.0;
/// Swift's are newer, so the 4,657 letters and numbers added in 17.0 must be classed `.other`.
/// (Python's `regex` module, v4's engine, agrees with Swift, not with the v5 reference, on those.)
@Suite("Tokenizer Unicode tables")
struct TokenizerUnicodeTests {
    private struct Tables: Decodable {
        let letter: [[UInt32]]
        let number: [[UInt32]]
        let whitespace: [[UInt32]]
        let lowercase: [String: [UInt32]]
        let nfc: [String: [UInt32]]
    }

    private static func tables() throws -> Tables {
        let url = try #require(Bundle.module.url(forResource: "unicode", withExtension: "json",
                                                 subdirectory: "Fixtures/tokenizer"))
        return try JSONDecoder().decode(Tables.self, from: Data(contentsOf: url))
    }

    private static var allScalars: [Unicode.Scalar] {
        (UInt32(0)...0x10FFFF).compactMap(Unicode.Scalar.init)
    }

    @Test func classesMatchOnigurumaForEveryCodePoint() throws {
        let tables = try Self.tables()
        func members(_ ranges: [[UInt32]]) -> Set<UInt32> {
            var set = Set<UInt32>()
            for range in ranges { set.formUnion(range[0]...range[1]) }
            return set
        }
        let letters = members(tables.letter), numbers = members(tables.number), spaces = members(tables.whitespace)
        var wrong: [String] = []
        for scalar in Self.allScalars {
            let value = scalar.value
            let expected: ScalarClass = spaces.contains(value) ? .whitespace
                : letters.contains(value) ? .letter : numbers.contains(value) ? .number : .other
            let got = ScalarClass(scalar)
            if got != expected { wrong.append("U+\(String(value, radix: 16)) \(got) not \(expected)") }
        }
        #expect(letters.count > 100_000 && numbers.count > 1_000 && spaces.count == 25)
        let wrongCount = wrong.count
        #expect(wrongCount == 0, "\(wrongCount) code points: \(wrong.prefix(20))")
    }

    @Test func normaliserMatchesPerCharacter() throws {
        let tables = try Self.tables()
        func mapped(_ table: [String: [UInt32]], _ scalar: Unicode.Scalar) -> [Unicode.Scalar] {
            guard let target = table[String(scalar.value, radix: 16, uppercase: true)] else { return [scalar] }
            return target.compactMap(Unicode.Scalar.init)
        }
        let normalizer = CLIPTextNormalizer()
        var wrong: [String] = []
        for scalar in Self.allScalars {
            // The reference order: NFC, whitespace to " ", lower-case each character.
            let composed = mapped(tables.nfc, scalar)
            let expected = composed.flatMap { ScalarClass($0) == .whitespace ? [" "] : mapped(tables.lowercase, $0) }
            let got = normalizer.normalize([scalar])
            if got != expected { wrong.append("U+\(String(scalar.value, radix: 16))") }
        }
        #expect(tables.lowercase.count > 1_000 && tables.nfc.count > 1_000)
        let wrongCount = wrong.count
        #expect(wrongCount == 0, "\(wrongCount) code points: \(wrong.prefix(20))")
    }

    @Test func normaliserComposesCollapsesAndLowercases() {
        let normalizer = CLIPTextNormalizer()
        func normalized(_ text: String) -> String {
            var out = ""
            out.unicodeScalars.append(contentsOf: normalizer.normalize(Array(text.unicodeScalars)))
            return out
        }
        #expect(Array(normalized("CAFE\u{301}").unicodeScalars) == Array("caf\u{E9}".unicodeScalars))
        #expect(normalized(" a \t\n\u{3000}b  ") == " a b ")
        #expect(Array(normalized("\u{130}").unicodeScalars) == ["i", "\u{307}"])
        #expect(normalized("ΟΔΥΣΣΕΥΣ") == "οδυσσευσ")  // no final-sigma rule, like Rust's char::to_lowercase
    }
}
