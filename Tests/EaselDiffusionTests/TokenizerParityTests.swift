import Foundation
import Testing
@testable import EaselDiffusion
import EaselTestSupport

/// Ids identical to transformers' `CLIPTokenizer` for every fixture prompt.
///
/// Reference: transformers 5.24 `CLIPTokenizer` (tokenizers 0.23), called as diffusers'
/// `StableDiffusionPipeline` calls it: `padding="max_length", max_length=77, truncation=True`.
/// In transformers 5 that class is the only CLIP tokenizer and is backed by the Rust `tokenizers`
/// library, whatever else is installed: v4's Python tokenizer (ftfy + html.unescape when ftfy was
/// installed) is gone, and the fixture script checks that blocking ftfy changes no id. So HTML
/// entities stay literal ("&amp;" is "&", "amp", ";") and text is only NFC-normalised, whitespace-
/// collapsed and lower-cased. Fixtures: scripts/make_tokenizer_fixtures.py (434 prompts).
@Suite("Tokenizer parity with transformers")
struct TokenizerParityTests {
    /// A tokenizer under test and the fixture ids it must reproduce.
    struct Subject: CustomTestStringConvertible, Sendable {
        let name: String
        let expected: TokenizerFixtures.Config
        let load: @Sendable () throws -> CLIPTokenizer
        var testDescription: String { name }
    }

    static let subjects: [Subject] = [
        Subject(name: "SD 1.x, form (a) vocab.json + merges.txt", expected: .sd15) {
            try TokenizerFixtures.withFormA("sd15-a") { try CLIPTokenizer(folder: $0) }
        },
        Subject(name: "SD 1.x, form (b) tokenizer.json, merges as pairs", expected: .sd15) {
            try CLIPTokenizer(folder: TokenizerFixtures.folder("sd15-b"))
        },
        Subject(name: "SD 1.x, built-in vocabulary", expected: .sd15) {
            try CLIPTokenizer.builtin(.stableDiffusion1)
        },
        Subject(name: "SD 2.x, form (a), pad ! from special_tokens_map.json", expected: .sd2) {
            try TokenizerFixtures.withFormA("sd2-a") { try CLIPTokenizer(folder: $0) }
        },
        Subject(name: "SD 2.x, form (b) tokenizer.json, merges as strings", expected: .sd2) {
            try CLIPTokenizer(folder: TokenizerFixtures.folder("sd2-b"))
        },
        Subject(name: "SD 2.x, built-in vocabulary", expected: .sd2) {
            try CLIPTokenizer.builtin(.stableDiffusion2)
        },
        Subject(name: "SD 2.x, built-in vocabulary configured by sd2-a's config files", expected: .sd2) {
            try CLIPTokenizer.builtin(configuredBy: TokenizerFixtures.folder("sd2-a"))
        },
        Subject(name: "SDXL tokenizer_2, form (a) with added_tokens_decoder", expected: .sdxl2) {
            try TokenizerFixtures.withFormA("sdxl2-a") { try CLIPTokenizer(folder: $0) }
        },
    ]

    @Test(arguments: subjects)
    func idsMatchForEveryPrompt(_ subject: Subject) throws {
        let tokenizer = try subject.load()
        let cases = try TokenizerFixtures.cases()
        #expect(cases.count >= 300)
        #expect(tokenizer.maxLength == 77)
        var mismatches: [String] = []
        for fixture in cases {
            let expected = fixture.expected(subject.expected)
            let got = tokenizer.encode(fixture.prompt)
            if got.ids != expected.ids || got.unpaddedLength != expected.length {
                mismatches.append("\(fixture.prompt.debugDescription): got \(got.ids.prefix(got.contentLength)) "
                                  + "(\(got.unpaddedLength)), expected \(expected.ids.prefix(min(expected.length, 77))) "
                                  + "(\(expected.length))")
            }
            #expect(got.isTruncated == (expected.length > 77))
        }
        let differing = mismatches.count
        #expect(differing == 0, "\(differing) of \(cases.count) prompts differ:\n\(mismatches.prefix(10).joined(separator: "\n"))")
    }

    @Test func paddingAndSpecialIDsPerFamily() throws {
        let sd1 = try CLIPTokenizer(folder: TokenizerFixtures.folder("sd15-b"))
        let sd2 = try TokenizerFixtures.withFormA("sd2-a") { try CLIPTokenizer(folder: $0) }
        #expect([sd1.bosTokenID, sd1.eosTokenID, sd1.padTokenID] == [49406, 49407, 49407])
        #expect([sd2.bosTokenID, sd2.eosTokenID, sd2.padTokenID] == [49406, 49407, 0])
        #expect(sd1.encode("a photo of a cat").ids.prefix(8) == [49406, 320, 1125, 539, 320, 2368, 49407, 49407])
        #expect(sd2.encode("a photo of a cat").ids.prefix(8) == [49406, 320, 1125, 539, 320, 2368, 49407, 0])
        // SD 2.x matches "!" as its raw pad token; SD 1.x keeps "!!" as one BPE word.
        #expect(sd2.tokenize("wow!!") == [2781, 0, 0])
        #expect(sd1.tokenize("wow!!") == [2781, 748])
    }
}

/// Loads the committed fixtures (Fixtures/tokenizer, written by scripts/make_tokenizer_fixtures.py).
enum TokenizerFixtures {
    enum Config: Sendable { case sd15, sd2, sdxl2 }

    struct Case: Decodable {
        let prompt: String
        let sd15: [Int32]
        let sd15_length: Int
        let sd2: [Int32]
        let sd2_length: Int
        let sdxl2: [Int32]
        let sdxl2_length: Int

        func expected(_ config: Config) -> (ids: [Int32], length: Int) {
            switch config {
            case .sd15: (sd15, sd15_length)
            case .sd2: (sd2, sd2_length)
            case .sdxl2: (sdxl2, sdxl2_length)
            }
        }
    }

    private struct File: Decodable { let cases: [Case] }

    static func folder(_ name: String) throws -> URL {
        try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/tokenizer"))
    }

    static func cases() throws -> [Case] {
        let url = try #require(Bundle.module.url(forResource: "prompts", withExtension: "json",
                                                 subdirectory: "Fixtures/tokenizer"))
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
    }

    /// A complete form (a) folder in a temporary directory: the fixture's configs plus the built-in
    /// vocab.json and merges.txt (the fixtures do not commit a second copy of them).
    static func withFormA<T>(_ name: String, _ body: (URL) throws -> T) throws -> T {
        try withTemporaryFolder { folder in
            for file in try FileManager.default.contentsOfDirectory(at: try Self.folder(name), includingPropertiesForKeys: nil) {
                try FileManager.default.copyItem(at: file, to: folder.appendingPathComponent(file.lastPathComponent))
            }
            let builtin = try CLIPTokenizer.builtinVocabularyFiles()
            try FileManager.default.copyItem(at: builtin.vocab, to: folder.appendingPathComponent("vocab.json"))
            try FileManager.default.copyItem(at: builtin.merges, to: folder.appendingPathComponent("merges.txt"))
            return try body(folder)
        }
    }

    static func withTemporaryFolder<T>(_ body: (URL) throws -> T) throws -> T {
        let folder = try TestScratch.folder("tokenizer")
        defer { try? FileManager.default.removeItem(at: folder) }
        return try body(folder)
    }
}
