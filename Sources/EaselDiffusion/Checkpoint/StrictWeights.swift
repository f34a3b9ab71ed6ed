import EaselTensor
import Foundation

/// The root weight source over one component's checkpoint: every tensor the model asks
/// for must exist with exactly the expected shape, and afterwards `checkAllConsumed`
/// reports any tensor the model did not take. DESIGN.md: a missing, unexpected or
/// mis-shaped tensor is an error naming it.
///
/// Thread-safe: blocks may load concurrently. Each tensor's conversion is itself spread
/// over all cores, so loading block by block on one thread already uses the machine.
public final class StrictWeights: WeightSource, @unchecked Sendable {
    /// The tensors, by diffusers name.
    public let archive: any TensorArchive

    /// The element type `matrix` gives linear and convolution weights in (other
    /// parameters, norms and biases, stay float32).
    public let matrixType: ElementType

    private let lock = NSLock()
    private var used = Set<String>()

    public init(_ archive: any TensorArchive, matrixType: ElementType = .float32) {
        self.archive = archive
        self.matrixType = matrixType
    }

    /// Strict loading over tensors in memory (tests, assembled checkpoints).
    public convenience init(tensors: [String: Tensor], location: String = "<memory>", matrixType: ElementType = .float32) {
        self.init(InMemoryArchive(tensors, location: location), matrixType: matrixType)
    }

    public var location: String { archive.location }

    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard let info = archive.info(name) else {
            throw CheckpointError.missingTensor(name: name, location: location, hint: hint(forMissing: name))
        }
        guard info.shape == shape else {
            throw CheckpointError.shapeMismatch(name: name, expected: shape, found: info.shape, file: info.file)
        }
        let loaded = try archive.loadTensor(name)
        // A renaming archive's transform could disagree with the shape it declared.
        guard loaded.shape == shape else {
            throw CheckpointError.shapeMismatch(name: name, expected: shape, found: loaded.shape, file: info.file)
        }
        markUsed(name)
        return loaded
    }

    public func matrix(_ name: String, shape: [Int]) throws -> Tensor {
        try tensor(name, shape: shape).converted(to: matrixType)
    }

    public func shape(of name: String) -> [Int]? { archive.info(name)?.shape }

    /// Records `name` as used without loading it (a buffer the model rebuilds itself).
    public func markUsed(_ name: String) {
        lock.withLock { _ = used.insert(name) }
    }

    /// Names of tensors not yet used, sorted.
    public var unusedNames: [String] {
        let used = lock.withLock { self.used }
        return archive.names.filter { !used.contains($0) }
    }

    /// Throws `CheckpointError.unusedTensors` naming every tensor the model did not use,
    /// except those `allowance` allows.
    public func checkAllConsumed(allowing allowance: UnusedTensorAllowance = .none) throws {
        let unused = unusedNames.filter { !allowance.allows($0) }
        if !unused.isEmpty {
            throw CheckpointError.unusedTensors(names: unused, location: location)
        }
    }

    /// Points at names the checkpoint does have that look like the one asked for: the same
    /// name under another prefix, or siblings in the same module (older spellings).
    private func hint(forMissing name: String) -> String? {
        let names = archive.names
        let relocated = names.filter { $0.hasSuffix("." + name) || name.hasSuffix("." + $0) }
        if !relocated.isEmpty {
            return "found as " + relocated.prefix(3).map { "'\($0)'" }.joined(separator: ", ")
        }
        guard let dot = name.lastIndex(of: ".") else { return nil }
        let parent = name[...dot]
        let siblings = names.filter { $0.hasPrefix(parent) }
        guard !siblings.isEmpty else { return nil }
        return "the checkpoint has " + siblings.prefix(5).map { "'\($0)'" }.joined(separator: ", ")
            + (siblings.count > 5 ? " and \(siblings.count - 5) more" : "")
    }
}
