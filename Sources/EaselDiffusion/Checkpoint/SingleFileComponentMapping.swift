import EaselTensor

/// The diffusers components a single-file checkpoint holds, named as diffusers' folders name them.
public enum SingleFileComponent: String, Sendable, CaseIterable, CustomStringConvertible {
    case unet
    case vae
    case textEncoder = "text_encoder"
    /// SDXL's second text encoder (OpenCLIP bigG with its projection).
    case textEncoder2 = "text_encoder_2"

    public var description: String { rawValue }
}

/// A tensor of a single file that is recognised and deliberately not loaded.
public struct SingleFileSkippedTensor: Sendable, Equatable {
    /// Why such tensors are in single files and not in the models.
    public enum Reason: String, Sendable, CaseIterable {
        /// LDM's DDPM noise-schedule buffers (`betas`, `alphas_cumprod`, `posterior_*`...):
        /// the scheduler recomputes them from its config.
        case noiseSchedule = "noise-schedule buffer"
        /// EMA copies of the weights and the EMA counters (`model_ema.*`).
        case ema = "EMA copy or counter"
        /// CLIP's `position_ids` (an int64 arange the text encoder rebuilds).
        case positionIDs = "position_ids buffer"
        /// OpenCLIP's last layer: SD 2.x conditions on the penultimate layer's output.
        case unusedTextEncoderLayer = "text-encoder layer SD 2.x does not use"
        /// OpenCLIP's `text_projection` (SD 2.x) and `logit_scale`, for CLIP's image-text loss only.
        case clipProjection = "CLIP projection or logit scale"
        /// The training step some files record (`global_step`).
        case trainingStep = "training step"
    }

    public var name: String
    public var reason: Reason
}

/// Why one LDM key has no diffusers name: not a key of the layout at all, or a key of the
/// layout that the configuration says should not be there.
enum LDMKeyProblem: Error {
    case unknown(String)
    case layout(String)
}

/// The diffusers-named view of one component of a single file, assembled key by key: each
/// diffusers name points at its LDM tensor and, when the stored form differs, a transform.
struct SingleFileComponentMapping: Sendable {
    let component: SingleFileComponent
    let file: String
    private(set) var sources: [String: RenamedArchive.Source] = [:]
    private(set) var skipped: [SingleFileSkippedTensor] = []

    init(component: SingleFileComponent, file: String) {
        self.component = component
        self.file = file
    }

    /// Exposes LDM tensor `ldmName` as `diffusersName`; two LDM tensors may not claim one name.
    mutating func map(_ ldmName: String, to diffusersName: String, shape: [Int]? = nil,
                      transform: (@Sendable (Tensor) throws -> Tensor)? = nil) throws {
        if let existing = sources[diffusersName] {
            throw SingleFileError.duplicateTarget(name: diffusersName, first: existing.name, second: ldmName, file: file)
        }
        sources[diffusersName] = RenamedArchive.Source(ldmName, shape: shape, transform: transform)
    }

    mutating func skip(_ ldmName: String, _ reason: SingleFileSkippedTensor.Reason) {
        skipped.append(SingleFileSkippedTensor(name: ldmName, reason: reason))
    }

    /// Runs `body` for `ldmName`, turning a key problem into an error naming the key.
    mutating func mapping(_ ldmName: String, _ body: (inout SingleFileComponentMapping) throws -> Void) throws {
        do {
            try body(&self)
        } catch let problem as LDMKeyProblem {
            switch problem {
            case let .unknown(reason):
                throw SingleFileError.unknownTensor(name: ldmName, file: file, reason: reason)
            case let .layout(detail):
                throw SingleFileError.layoutMismatch(component: component.rawValue, file: file, detail: "'\(ldmName)': \(detail)")
            }
        }
    }
}

/// Small helpers shared by the key mappings.
enum LDMKey {
    /// The dotted components of `name`.
    static func parts(_ name: Substring) -> [String] {
        name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }

    /// Whether `part` names a parameter of a layer with weight and bias.
    static func isParameter(_ part: String) -> Bool { part == "weight" || part == "bias" }

    /// `parts` must be exactly `[layer, "weight" | "bias"]` for a layer in `layers`; returns
    /// the diffusers layer name and the parameter.
    static func layerParameter(_ parts: ArraySlice<String>, _ layers: [String: String], what: String) throws -> String {
        guard parts.count >= 2, let param = parts.last, isParameter(param),
              let renamed = layers[parts.dropLast().joined(separator: ".")] else {
            throw LDMKeyProblem.unknown("not a parameter of \(what)")
        }
        return renamed + "." + param
    }

    /// A non-negative integer component, or a key problem.
    static func index(_ part: String, _ what: String) throws -> Int {
        guard let value = Int(part), value >= 0, String(value) == part else {
            throw LDMKeyProblem.unknown("'\(part)' is not a \(what) index")
        }
        return value
    }

    /// `stored` with its trailing extents of 1 dropped down to `rank` (a 1x1 convolution
    /// kernel `[C, C, 1, 1]` read as the linear weight `[C, C]`).
    static func squeezedShape(_ stored: [Int], rank: Int) -> [Int]? {
        guard stored.count >= rank, stored[rank...].allSatisfy({ $0 == 1 }) else { return nil }
        return Array(stored[..<rank])
    }
}
