import EaselTensor

/// What an archive knows about one tensor without loading it.
public struct ArchivedTensorInfo: Sendable, Equatable {
    public var name: String
    public var dtype: SafetensorsDType
    public var shape: [Int]
    /// The file holding it (or the archive's location when it is not file-backed).
    public var file: String

    public init(name: String, dtype: SafetensorsDType, shape: [Int], file: String) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.file = file
    }
}

/// A set of named tensors read on demand: one safetensors file, the shards of a sharded
/// checkpoint, a dictionary in memory, or a renaming view of another archive.
///
/// Archives are lenient lookups; `StrictWeights` puts the model's expectations (every
/// tensor present, shaped as expected, none left over) on top of one.
public protocol TensorArchive: Sendable {
    /// Where the tensors come from, for messages (a file or folder path).
    var location: String { get }
    /// Every tensor's name, sorted.
    var names: [String] { get }
    /// Dtype, shape and file of tensor `name`, or nil when there is none.
    func info(_ name: String) -> ArchivedTensorInfo?
    /// Tensor `name` as float32; throws if it is missing or not stored as float weights.
    func loadTensor(_ name: String) throws -> Tensor
}

/// Tensors held in memory by name: for tests, and for checkpoints assembled in code.
public struct InMemoryArchive: TensorArchive {
    public let location: String
    private let tensors: [String: Tensor]

    public init(_ tensors: [String: Tensor], location: String = "<memory>") {
        self.tensors = tensors
        self.location = location
    }

    public var names: [String] { tensors.keys.sorted() }

    public func info(_ name: String) -> ArchivedTensorInfo? {
        tensors[name].map { ArchivedTensorInfo(name: name, dtype: .f32, shape: $0.shape, file: location) }
    }

    public func loadTensor(_ name: String) throws -> Tensor {
        guard let tensor = tensors[name] else { throw CheckpointError.missingTensor(name: name, location: location, hint: nil) }
        return tensor
    }
}

/// A view of another archive under new names: the seam where a checkpoint whose keys are
/// not diffusers' (a single-file LDM checkpoint) is presented under diffusers' names.
///
/// Each exposed tensor names its source tensor and, when the stored form differs from
/// the model's (a fused attention projection to be split, a 1x1 convolution kernel used
/// as a linear weight), the shape it has after `transform`. The conversion from one
/// layout's key names to diffusers' is built in one place and handed here as `mapping`.
public struct RenamedArchive: TensorArchive {
    /// Where one exposed tensor comes from.
    public struct Source: Sendable {
        /// Name of the tensor in the base archive.
        public var name: String
        /// Shape after `transform`; nil when the transform keeps the stored shape.
        public var shape: [Int]?
        /// Turns the stored tensor into the exposed one; nil for a plain rename.
        public var transform: (@Sendable (Tensor) throws -> Tensor)?

        public init(_ name: String, shape: [Int]? = nil, transform: (@Sendable (Tensor) throws -> Tensor)? = nil) {
            self.name = name
            self.shape = shape
            self.transform = transform
        }
    }

    public let base: any TensorArchive
    /// Exposed name to source.
    public let mapping: [String: Source]
    public let names: [String]

    public init(base: any TensorArchive, mapping: [String: Source]) {
        self.base = base
        self.mapping = mapping
        names = mapping.keys.sorted()
    }

    public var location: String { base.location }

    /// Base tensors no exposed name draws on: what the mapping did not recognise, for the
    /// caller to allow (EMA copies, schedule buffers) or report.
    public var unmappedBaseNames: [String] {
        let used = Set(mapping.values.map(\.name))
        return base.names.filter { !used.contains($0) }
    }

    public func info(_ name: String) -> ArchivedTensorInfo? {
        guard let source = mapping[name], var info = base.info(source.name) else { return nil }
        info.name = name
        if let shape = source.shape { info.shape = shape }
        return info
    }

    public func loadTensor(_ name: String) throws -> Tensor {
        guard let source = mapping[name] else {
            throw CheckpointError.missingTensor(name: name, location: location, hint: nil)
        }
        let stored = try base.loadTensor(source.name)
        return try source.transform?(stored) ?? stored
    }
}
