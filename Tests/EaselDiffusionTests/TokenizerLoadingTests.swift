import Foundation
import Testing
@testable import EaselDiffusion

/// Broken tokenizer folders fail with a `TokenizerError` that names the file at fault.
@Suite("Tokenizer loading errors")
struct TokenizerLoadingTests {
    private static let validConfig = #"{"model_max_length": 77, "pad_token": "<|endoftext|>"}"#

    /// A form (a) folder with the built-in vocabulary, then `edit` applied to it.
    private func loadingFormA(_ edit: (URL) throws -> Void) throws -> Result<CLIPTokenizer, TokenizerError> {
        try TokenizerFixtures.withFormA("sd15-a") { folder in
            try edit(folder)
            return load(folder)
        }
    }

    private func load(_ folder: URL) -> Result<CLIPTokenizer, TokenizerError> {
        do {
            return .success(try CLIPTokenizer(folder: folder))
        } catch let error as TokenizerError {
            return .failure(error)
        } catch {
            Issue.record("untyped error \(error)")
            return .failure(.missingResource(name: "untyped"))
        }
    }

    private func write(_ text: String, _ folder: URL, _ name: String) throws {
        try Data(text.utf8).write(to: folder.appendingPathComponent(name))
    }

    private func error(_ result: Result<CLIPTokenizer, TokenizerError>) -> TokenizerError? {
        if case .failure(let error) = result { return error }
        return nil
    }

    @Test func missingFolder() {
        let folder = URL(fileURLWithPath: "/nonexistent/easel/tokenizer")
        #expect(error(load(folder)) == .missingFile(path: folder.path))
    }

    @Test func missingConfig() throws {
        let result = try loadingFormA { try FileManager.default.removeItem(at: $0.appendingPathComponent("tokenizer_config.json")) }
        let failure = try #require(error(result))
        guard case .missingFile(let path) = failure else { Issue.record("got \(failure)"); return }
        #expect(path.hasSuffix("/tokenizer_config.json"))
        #expect(failure.description.contains("tokenizer_config.json"))
    }

    @Test func noVocabularyAtAll() throws {
        try TokenizerFixtures.withTemporaryFolder { folder in
            try write(Self.validConfig, folder, "tokenizer_config.json")
            #expect(error(load(folder)) == .missingVocabulary(folder: folder.path))
        }
    }

    @Test func vocabWithoutMerges() throws {
        let result = try loadingFormA { try FileManager.default.removeItem(at: $0.appendingPathComponent("merges.txt")) }
        let failure = try #require(error(result))
        guard case .missingFile(let path) = failure else { Issue.record("got \(failure)"); return }
        #expect(path.hasSuffix("/merges.txt"))
    }

    @Test(arguments: ["tokenizer_config.json", "special_tokens_map.json", "vocab.json"])
    func malformedJSONNamesTheFile(_ name: String) throws {
        let result = try loadingFormA { try write(#"{"model_max_length": 77,"#, $0, name) }
        let failure = try #require(error(result))
        guard case .malformedJSON(let path, _) = failure else { Issue.record("got \(failure)"); return }
        #expect(path.hasSuffix("/\(name)"))
        #expect(failure.description.contains(name))
    }

    @Test func malformedTokenizerJSON() throws {
        try TokenizerFixtures.withTemporaryFolder { folder in
            try write(Self.validConfig, folder, "tokenizer_config.json")
            try write("[1, 2, 3]", folder, "tokenizer.json")
            let failure = try #require(error(load(folder)))
            guard case .malformedJSON(let path, let reason) = failure else { Issue.record("got \(failure)"); return }
            #expect(path.hasSuffix("/tokenizer.json") && reason.contains("not an object"))

            try write(#"{"model": {"type": "WordPiece", "vocab": {}}}"#, folder, "tokenizer.json")
            #expect(error(load(folder)) == .invalidField(path: folder.appendingPathComponent("tokenizer.json").path,
                                                         field: "model.type", reason: "is \"WordPiece\", expected \"BPE\""))

            try write(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a"]]}}"#, folder, "tokenizer.json")
            guard case .invalidMerge(_, let index, _) = try #require(error(load(folder))) else {
                Issue.record("expected a merge error"); return
            }
            #expect(index == 1)
        }
    }

    @Test func badMergeLineNamesFileAndLine() throws {
        let result = try loadingFormA { folder in
            let url = folder.appendingPathComponent("merges.txt")
            let text = try String(contentsOf: url, encoding: .utf8)
            try write(text.replacingOccurrences(of: "\nt h\n", with: "\nt  h\n"), folder, "merges.txt")
        }
        let failure = try #require(error(result))
        guard case .invalidMerge(let path, let line, _) = failure else { Issue.record("got \(failure)"); return }
        #expect(path.hasSuffix("/merges.txt") && line == 3)
    }

    @Test func mergeOfUnknownSymbols() throws {
        let result = try loadingFormA { folder in
            let url = folder.appendingPathComponent("merges.txt")
            try write(try String(contentsOf: url, encoding: .utf8) + "qqq zzz\n", folder, "merges.txt")
        }
        let failure = try #require(error(result))
        guard case .invalidMerge(let path, let line, let reason) = failure else { Issue.record("got \(failure)"); return }
        #expect(path.hasSuffix("/merges.txt") && line == 48_896 && reason.contains("qqq zzz"))
    }

    @Test func configFieldsAreChecked() throws {
        let missingLength = try loadingFormA { try write(#"{"pad_token": "!"}"#, $0, "tokenizer_config.json") }
        guard case .invalidField(let path, "model_max_length", _) = try #require(error(missingLength)) else {
            Issue.record("expected model_max_length error"); return
        }
        #expect(path.hasSuffix("/tokenizer_config.json"))

        let unbounded = try loadingFormA {
            try write(#"{"model_max_length": 1000000000000000019884624838656}"#, $0, "tokenizer_config.json")
        }
        guard case .invalidField(_, "model_max_length", _) = try #require(error(unbounded)) else {
            Issue.record("expected model_max_length error"); return
        }

        let stripping = try loadingFormA {
            try write(#"{"model_max_length": 77, "eos_token": {"content": "<|endoftext|>", "lstrip": true}}"#,
                      $0, "tokenizer_config.json")
            try FileManager.default.removeItem(at: $0.appendingPathComponent("special_tokens_map.json"))
        }
        guard case .invalidField(_, "eos_token.lstrip", _) = try #require(error(stripping)) else {
            Issue.record("expected eos_token.lstrip error"); return
        }

        let badToken = try loadingFormA { try write(#"{"model_max_length": 77, "pad_token": 5}"#, $0, "tokenizer_config.json") }
        #expect(error(badToken) != nil)
    }

    @Test func specialTokensMapWinsOverLegacyConfig() throws {
        // Published SD 2.x: tokenizer_config.json says pad <|endoftext|>, special_tokens_map.json says "!".
        let tokenizer = try TokenizerFixtures.withFormA("sd2-a") { try CLIPTokenizer(folder: $0) }
        #expect(tokenizer.padTokenID == 0)
        // Without the map, the config's own pad token counts.
        let withoutMap = try loadingFormA { folder in
            try FileManager.default.removeItem(at: folder.appendingPathComponent("special_tokens_map.json"))
        }
        #expect(try withoutMap.get().padTokenID == 49407)
    }
}
