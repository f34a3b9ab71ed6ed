/// Why a tokenizer could not be loaded. Every case names the file (or folder) at fault.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A required file is absent.
    case missingFile(path: String)
    /// The folder holds neither `tokenizer.json` nor `vocab.json` + `merges.txt`.
    case missingVocabulary(folder: String)
    /// The file exists but could not be read.
    case unreadableFile(path: String, reason: String)
    /// The file is not valid JSON, or its top level is not an object.
    case malformedJSON(path: String, reason: String)
    /// A field is missing, of the wrong type, or holds a value Easel cannot honour.
    case invalidField(path: String, field: String, reason: String)
    /// A line of a merges list is not two known symbols whose concatenation is known.
    case invalidMerge(path: String, line: Int, reason: String)
    /// A resource built into Easel is missing from its bundle.
    case missingResource(name: String)

    public var description: String {
        switch self {
        case .missingFile(let path):
            "tokenizer file not found: \(path)"
        case .missingVocabulary(let folder):
            "no tokenizer vocabulary in \(folder): expected tokenizer.json, or vocab.json and merges.txt"
        case .unreadableFile(let path, let reason):
            "cannot read \(path): \(reason)"
        case .malformedJSON(let path, let reason):
            "malformed JSON in \(path): \(reason)"
        case .invalidField(let path, let field, let reason):
            "\(path): field \"\(field)\" \(reason)"
        case .invalidMerge(let path, let line, let reason):
            "\(path): merge \(line): \(reason)"
        case .missingResource(let name):
            "built-in tokenizer resource \(name) is missing from Easel's bundle"
        }
    }
}
