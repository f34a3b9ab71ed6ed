import EaselTensor

/// Where a model's parameters come from, by diffusers name and expected shape.
///
/// Models are built from their config and ask for each parameter with the shape the
/// config implies; a source answers with exactly that tensor or throws an error naming
/// it. Blocks take a `scoped` view so they ask with names relative to their own path
/// (`weights.scoped("down_blocks.0.resnets.1.").tensor("conv1.weight", shape: ...)`).
///
/// The root source (`StrictWeights`) records what was taken, so that once a model is
/// built `checkAllConsumed()` reports any tensor the model did not use.
public protocol WeightSource: Sendable {
    /// Where the weights come from, for messages.
    var location: String { get }
    /// Tensor `name`, which must exist and have exactly `shape`.
    func tensor(_ name: String, shape: [Int]) throws -> Tensor
    /// Tensor `name` as `tensor` gives it, for a weight that only enters matrix products
    /// (a linear or convolution layer's weight): in the element type the model is loaded
    /// with (`StrictWeights.matrixType`), float32 by default.
    func matrix(_ name: String, shape: [Int]) throws -> Tensor
    /// The stored shape of tensor `name`, or nil when there is no such tensor. Does not
    /// count as using it.
    func shape(of name: String) -> [Int]?
    /// A view in which every name is prefixed with `prefix` (usually ending in ".").
    func scoped(_ prefix: String) -> ScopedWeights
}

extension WeightSource {
    /// Whether tensor `name` exists.
    public func contains(_ name: String) -> Bool { shape(of: name) != nil }

    public func scoped(_ prefix: String) -> ScopedWeights { ScopedWeights(base: self, prefix: prefix) }

    public func matrix(_ name: String, shape: [Int]) throws -> Tensor { try tensor(name, shape: shape) }

    /// Tensor `name` with exactly `shape` if the checkpoint has it, nil if it does not
    /// (for parameters that checkpoints in the wild may or may not carry).
    public func tensorIfPresent(_ name: String, shape: [Int]) throws -> Tensor? {
        contains(name) ? try tensor(name, shape: shape) : nil
    }

    /// A view under the first of `prefixes` whose `probe` tensor exists: for models whose
    /// weights are found under different paths depending on who saved them (CLIP's text
    /// encoder: `text_model.encoder...` in published checkpoints, `encoder...` from
    /// current transformers).
    public func scoped(firstOf prefixes: [String], containing probe: String) throws -> ScopedWeights {
        guard let prefix = prefixes.first(where: { contains($0 + probe) }) else {
            throw CheckpointError.noMatchingPrefix(probe: probe, prefixes: prefixes, location: location)
        }
        return scoped(prefix)
    }
}

/// A source whose names are relative to `prefix` within `base`; errors name the full name.
public struct ScopedWeights: WeightSource {
    public let base: any WeightSource
    public let prefix: String

    public init(base: any WeightSource, prefix: String) {
        self.base = base
        self.prefix = prefix
    }

    public var location: String { base.location }

    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        try base.tensor(prefix + name, shape: shape)
    }

    public func matrix(_ name: String, shape: [Int]) throws -> Tensor {
        try base.matrix(prefix + name, shape: shape)
    }

    public func shape(of name: String) -> [Int]? { base.shape(of: prefix + name) }

    /// Nested scopes flatten, so a block deep in a model is still one hop from the root.
    public func scoped(_ prefix: String) -> ScopedWeights {
        ScopedWeights(base: base, prefix: self.prefix + prefix)
    }
}

/// Which tensors may be left unused after a model is built: buffers checkpoints carry
/// but the model recomputes (CLIP's `position_ids`), or parts the caller deliberately
/// does not load.
public struct UnusedTensorAllowance: Sendable {
    private let matches: @Sendable (String) -> Bool

    /// Allows the tensors for which `matches` is true.
    public init(_ matches: @escaping @Sendable (String) -> Bool) { self.matches = matches }

    /// Allows nothing: every tensor must be used.
    public static let none = UnusedTensorAllowance { _ in false }

    /// Allows exactly these names.
    public static func names(_ names: Set<String>) -> UnusedTensorAllowance {
        UnusedTensorAllowance { names.contains($0) }
    }

    /// Allows names ending in one of `suffixes` (as a whole dotted component or more).
    public static func suffixes(_ suffixes: [String]) -> UnusedTensorAllowance {
        UnusedTensorAllowance { name in suffixes.contains { name == $0 || name.hasSuffix("." + $0) } }
    }

    /// Allows names starting with one of `prefixes`.
    public static func prefixes(_ prefixes: [String]) -> UnusedTensorAllowance {
        UnusedTensorAllowance { name in prefixes.contains { name.hasPrefix($0) } }
    }

    /// Non-parameter buffers found in published checkpoints that models rebuild
    /// themselves: CLIP's `embeddings.position_ids` (an int64 arange).
    public static let buffers = suffixes(["position_ids"])

    /// Allows what either allowance allows.
    public func union(_ other: UnusedTensorAllowance) -> UnusedTensorAllowance {
        UnusedTensorAllowance { self.allows($0) || other.allows($0) }
    }

    /// Whether `name` may be left unused.
    public func allows(_ name: String) -> Bool { matches(name) }
}
