import Foundation
import Testing
@testable import EaselDiffusion
import EaselTestSupport

/// The tiny random-weight models of scripts/make_tiny_models.py, laid out as loadable
/// diffusers folders: the committed fixture plus CLIP's vocabulary files, which the fixture
/// leaves out because Easel ships them (Resources/clip).
enum TinyModels {
    static let names = ["tiny-sd1", "tiny-sd2"]

    /// The fixture folder as committed (no vocab.json / merges.txt).
    static func fixture(_ name: String) throws -> URL {
        try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/models"))
    }

    /// A complete copy of the model in a fresh temporary folder (the caller may modify it).
    static func folder(_ name: String) throws -> URL {
        let root = try TestScratch.folder("tiny")
        let destination = root.appendingPathComponent(name, isDirectory: true)
        try FileManager.default.copyItem(at: try fixture(name), to: destination)
        let vocabulary = try CLIPTokenizer.builtinVocabularyFiles()
        let tokenizer = destination.appendingPathComponent("tokenizer", isDirectory: true)
        try FileManager.default.copyItem(at: vocabulary.vocab, to: tokenizer.appendingPathComponent("vocab.json"))
        try FileManager.default.copyItem(at: vocabulary.merges, to: tokenizer.appendingPathComponent("merges.txt"))
        return destination
    }
}
