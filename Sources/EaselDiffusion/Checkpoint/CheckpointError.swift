import Foundation

/// A checkpoint that does not fit the model or the diffusers folder layout: a missing
/// file or component, unusable weights, a bad config, or a tensor missing, mis-shaped
/// or left over. Each names the path and the tensor or field concerned.
///
/// Errors in a safetensors file's own bytes are `SafetensorsError`s.
public enum CheckpointError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// A file the layout requires is not there (`what` says which, e.g. "config.json").
    case missingFile(path: String, what: String)
    /// `model_index.json` does not list the component.
    case componentNotListed(name: String, modelIndex: String, listed: [String])
    /// `model_index.json` lists the component as absent (`[null, null]`).
    case componentAbsent(name: String, modelIndex: String)
    /// The component's folder is missing.
    case missingComponentFolder(name: String, path: String)
    /// The component folder holds no weights Easel can load.
    case noWeights(directory: String, lookedFor: [String])
    /// The weights are PyTorch pickles (`.bin`, `.ckpt`, `.pt`), which Easel does not load.
    case pickleWeightsUnsupported(path: String)
    /// Several weight variants and none preferred; the caller must choose one.
    case ambiguousVariants(directory: String, variants: [String])
    /// The requested variant (e.g. "fp16") is not in the folder.
    case missingVariant(directory: String, variant: String, available: [String])
    /// A JSON file of the layout (model_index.json, an index) is malformed.
    case invalidJSON(path: String, reason: String)
    /// A sharded checkpoint's index does not agree with its shards.
    case invalidIndex(path: String, reason: String)
    /// A config file does not decode into the model's configuration.
    case invalidConfig(path: String, field: String, reason: String)
    /// The model needs a tensor the checkpoint does not have.
    case missingTensor(name: String, location: String, hint: String?)
    /// The checkpoint's tensor is not the shape the model needs.
    case shapeMismatch(name: String, expected: [Int], found: [Int], file: String)
    /// The checkpoint has tensors the model did not use.
    case unusedTensors(names: [String], location: String)
    /// None of the alternative name prefixes finds the probe tensor.
    case noMatchingPrefix(probe: String, prefixes: [String], location: String)

    public var description: String {
        switch self {
        case let .missingFile(path, what):
            return "\(path): missing \(what)"
        case let .componentNotListed(name, modelIndex, listed):
            return "\(modelIndex): no component '\(name)' (it lists \(listed.joined(separator: ", ")))"
        case let .componentAbsent(name, modelIndex):
            return "\(modelIndex): component '\(name)' is listed as absent ([null, null])"
        case let .missingComponentFolder(name, path):
            return "\(path): missing folder of component '\(name)'"
        case let .noWeights(directory, lookedFor):
            return "\(directory): no weights file (looked for \(lookedFor.joined(separator: ", ")))"
        case let .pickleWeightsUnsupported(path):
            return "\(path): PyTorch pickle weights are not supported (they can run code when loaded); "
                + "Easel loads only .safetensors — convert the checkpoint to safetensors first"
        case let .ambiguousVariants(directory, variants):
            return "\(directory): several weight variants (\(variants.joined(separator: ", "))) and no plain file; name the one to load"
        case let .missingVariant(directory, variant, available):
            let others = available.isEmpty ? "none" : available.joined(separator: ", ")
            return "\(directory): no '\(variant)' weights variant (available: \(others))"
        case let .invalidJSON(path, reason):
            return "\(path): invalid JSON: \(reason)"
        case let .invalidIndex(path, reason):
            return "\(path): invalid sharded-checkpoint index: \(reason)"
        case let .invalidConfig(path, field, reason):
            return "\(path): field '\(field)': \(reason)"
        case let .missingTensor(name, location, hint):
            return "\(location): missing tensor '\(name)'" + (hint.map { " (\($0))" } ?? "")
        case let .shapeMismatch(name, expected, found, file):
            return "\(file): tensor '\(name)' has shape \(found), the model expects \(expected)"
        case let .unusedTensors(names, location):
            let shown = names.prefix(20).map { "'\($0)'" }.joined(separator: ", ")
            let more = names.count > 20 ? " and \(names.count - 20) more" : ""
            return "\(location): \(names.count) tensor(s) not used by the model: \(shown)\(more)"
        case let .noMatchingPrefix(probe, prefixes, location):
            let tried = prefixes.map { "'\($0)\(probe)'" }.joined(separator: ", ")
            return "\(location): none of \(tried) found"
        }
    }

    public var errorDescription: String? { description }
}
