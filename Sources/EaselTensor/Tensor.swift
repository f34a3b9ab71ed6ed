import Foundation

/// The element types a tensor can hold.
///
/// Activations are always `float32`. Weights that only enter matrix products (linear and
/// convolution layers) may be `bfloat16`: half the memory, multiplied in bfloat16 with
/// float32 sums where the CPU can (AMX), widened inside the product where it cannot.
public enum ElementType: String, Sendable, CaseIterable {
    case float32
    case bfloat16

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float32: 4
        case .bfloat16: 2
        }
    }
}

/// A contiguous, 64-byte-aligned buffer of elements that a `Tensor` views.
///
/// Large buffers are recycled through a cache when storage dies (see `BufferPool`).
///
/// Storage is a reference type so that reshapes and views share memory; `Tensor`
/// copies it before writing when it is shared (copy-on-write, see `Tensor.makeUnique()`).
public final class TensorStorage: @unchecked Sendable {
    /// Number of elements.
    public let count: Int
    /// What each element is.
    public let elementType: ElementType
    /// The first element. Valid for the storage's lifetime.
    public let rawPointer: UnsafeMutableRawPointer

    /// The first element of a float32 storage (every kernel but the matrix products reads
    /// only float32; asking a bfloat16 storage for it is a programming error).
    public var pointer: UnsafeMutablePointer<Float> {
        require(elementType == .float32, "a \(elementType) tensor used where float32 is needed")
        return rawPointer.assumingMemoryBound(to: Float.self)
    }

    /// Allocates `count` elements of `elementType`, uninitialised.
    public init(uninitializedCount count: Int, elementType: ElementType = .float32) {
        require(count >= 0, "negative element count")
        self.count = count
        self.elementType = elementType
        let raw = BufferPool.shared.allocate(bytes: max(count, 1) * elementType.byteSize)
        switch elementType {
        case .float32: raw.bindMemory(to: Float.self, capacity: max(count, 1))
        case .bfloat16: raw.bindMemory(to: UInt16.self, capacity: max(count, 1))
        }
        rawPointer = raw
    }

    /// Allocates `count` floats set to zero.
    public convenience init(zeroedCount count: Int) {
        self.init(uninitializedCount: count)
        pointer.initialize(repeating: 0, count: count)
    }

    deinit {
        BufferPool.shared.release(rawPointer, bytes: max(count, 1) * elementType.byteSize)
    }

    /// Frees the memory of dead tensors that is kept for reuse (large buffers are recycled
    /// between operations to avoid page faults; call this after unloading a model or
    /// finishing a batch of work to give that memory back to the system).
    public static func releaseCachedBuffers() {
        BufferPool.shared.drain()
    }

    /// Marks the end of a phase of work whose large buffers the next phase will not need at
    /// the same sizes (a model's load, the UNet's steps, a decoder block): the recycled ones
    /// then serve the next phase's other sizes, resized rather than faulted in anew, and
    /// those it does not take are freed when the phase after it begins (see `BufferPool`).
    public static func retireCachedBuffers() {
        BufferPool.shared.retire()
    }
}

/// A dense, row-major (C-order) tensor on the CPU: float32, or bfloat16 for weights (see
/// `ElementType`).
///
/// `Tensor` is a value: operations return new tensors, and mutating methods copy
/// the storage first when another tensor shares it. Shapes follow PyTorch's
/// conventions (`[B, C, H, W]` for images, `[out, in]` for linear weights).
public struct Tensor: @unchecked Sendable {
    /// Extent of each axis, outermost first.
    public private(set) var shape: [Int]
    /// The elements, `count` of them, row-major.
    public private(set) var storage: TensorStorage

    /// Number of elements (product of `shape`).
    public var count: Int { shape.reduce(1, *) }
    /// Number of axes.
    public var rank: Int { shape.count }
    /// What each element is.
    public var elementType: ElementType { storage.elementType }

    /// A tensor over existing storage; `storage.count` must equal the shape's product.
    public init(shape: [Int], storage: TensorStorage) {
        require(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        require(shape.reduce(1, *) == storage.count,
                "shape \(shape) needs \(shape.reduce(1, *)) elements, storage has \(storage.count)")
        self.shape = shape
        self.storage = storage
    }

    /// An uninitialised tensor: every element must be written before it is read.
    public init(uninitializedShape shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(uninitializedCount: shape.reduce(1, *)))
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(zeroedCount: shape.reduce(1, *)))
    }

    /// A tensor with every element equal to `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.init(uninitializedShape: shape)
        storage.pointer.update(repeating: value, count: count)
    }

    /// A tensor holding `scalars` in row-major order.
    public init(shape: [Int], scalars: [Float]) {
        require(scalars.count == shape.reduce(1, *),
                "\(scalars.count) scalars do not fill shape \(shape)")
        self.init(uninitializedShape: shape)
        scalars.withUnsafeBufferPointer { src in
            storage.pointer.update(from: src.baseAddress!, count: src.count)
        }
    }

    /// The elements as an array, row-major (bfloat16 elements widened exactly).
    public var scalars: [Float] {
        switch elementType {
        case .float32:
            return Array(UnsafeBufferPointer(start: storage.pointer, count: count))
        case .bfloat16:
            let bits = storage.rawPointer.assumingMemoryBound(to: UInt16.self)
            return (0..<count).map { ElementConversion.float(fromBFloat16: bits[$0]) }
        }
    }

    /// The same elements under another shape with the same element count. Shares storage.
    /// One extent may be `-1`, inferred from the others.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.map(\.element).reduce(1, *)
            require(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            resolved[inferred] = count / known
        }
        require(resolved.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(shape: resolved, storage: storage)
    }

    /// Read-only access to the elements.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    /// Write access to the elements; copies the storage first if it is shared.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        makeUnique()
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
    }

    /// Gives this tensor storage of its own if any other tensor shares it.
    public mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) {
            let copy = TensorStorage(uninitializedCount: storage.count, elementType: storage.elementType)
            copy.rawPointer.copyMemory(from: storage.rawPointer, byteCount: storage.count * storage.elementType.byteSize)
            storage = copy
        }
    }

    /// Element at a multi-dimensional index (slow; for tests and diagnostics).
    public subscript(_ index: Int...) -> Float {
        require(index.count == shape.count, "index \(index) does not match shape \(shape)")
        var offset = 0
        for (i, extent) in zip(index, shape) {
            require(i >= 0 && i < extent, "index \(index) out of range for shape \(shape)")
            offset = offset * extent + i
        }
        switch elementType {
        case .float32: return storage.pointer[offset]
        case .bfloat16:
            return ElementConversion.float(fromBFloat16: storage.rawPointer.assumingMemoryBound(to: UInt16.self)[offset])
        }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(8).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor(\(elementType == .float32 ? "" : "\(elementType), ")\(shape), [\(head)\(count > 8 ? ", ..." : "")])"
    }
}
