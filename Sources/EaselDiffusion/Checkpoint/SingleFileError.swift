import Foundation

/// A single-file (original LDM layout) checkpoint that cannot be mapped onto diffusers'
/// components: an unrecognised tensor, a missing component, a family that cannot be told,
/// or a layout that does not agree with the configuration. Each names the file and the
/// tensor or config field concerned.
///
/// Errors in the file's own bytes are `SafetensorsError`s; tensors missing, mis-shaped or
/// left over once a model is built from the mapped weights are `CheckpointError`s.
public enum SingleFileError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// A tensor the single-file layout does not know: not a weight of any component, not a
    /// buffer or EMA copy that such files carry.
    case unknownTensor(name: String, file: String, reason: String)
    /// Two tensors of the file map onto the same diffusers name.
    case duplicateTarget(name: String, first: String, second: String, file: String)
    /// The file has no tensors under a component's prefix (e.g. `first_stage_model.`).
    case missingComponent(component: String, prefix: String, file: String)
    /// Neither the text encoder's keys nor the UNet's cross-attention width tells SD 1.x from 2.x.
    case unknownFamily(file: String, reason: String)
    /// The file's layout disagrees with the configuration the mapping is derived from
    /// (another number of levels, layers per block, text-encoder layers...).
    case layoutMismatch(component: String, file: String, detail: String)
    /// A configuration given to the mapping lacks a field it needs or has an unusable value.
    case invalidConfig(component: String, field: String, reason: String)
    /// An SDXL refiner (one OpenCLIP text encoder, aesthetic-score conditioning), which Easel does not run.
    case sdxlRefiner(file: String, reason: String)

    public var description: String {
        switch self {
        case let .unknownTensor(name, file, reason):
            return "\(file): unknown tensor '\(name)' in a single-file checkpoint (\(reason))"
        case let .duplicateTarget(name, first, second, file):
            return "\(file): tensors '\(first)' and '\(second)' both map onto '\(name)'"
        case let .missingComponent(component, prefix, file):
            return "\(file): no \(component) weights (no tensor starts with '\(prefix)')"
        case let .unknownFamily(file, reason):
            return "\(file): cannot tell whether this is SD 1.x, SD 2.x or SDXL (\(reason)); name the family explicitly"
        case let .layoutMismatch(component, file, detail):
            return "\(file): the \(component) does not match its configuration: \(detail)"
        case let .invalidConfig(component, field, reason):
            return "\(component) config: field '\(field)': \(reason)"
        case let .sdxlRefiner(file, reason):
            return "\(file) is an SDXL refiner checkpoint (\(reason)); Easel runs SDXL base models, not the refiner "
                + "(one text encoder, aesthetic-score conditioning)"
        }
    }

    public var errorDescription: String? { description }
}
