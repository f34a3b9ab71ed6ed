import Foundation

// Elementwise arithmetic. Shapes either match exactly, or the right operand
// broadcasts NumPy-style (trailing axes aligned, extent 1 or missing repeats).

extension Tensor {
    /// Applies `op` to corresponding elements of `self` and `other` (broadcasting `other`).
    @inlinable
    func zipMap(_ other: Tensor, _ op: (Float, Float) -> Float) -> Tensor {
        var out = Tensor(uninitializedShape: shape)
        let o = out.storage.pointer, a = storage.pointer, b = other.storage.pointer
        if other.shape == shape {
            for i in 0..<count { o[i] = op(a[i], b[i]) }
            return out
        }
        if other.count == 1 {
            let s = b[0]
            for i in 0..<count { o[i] = op(a[i], s) }
            return out
        }
        // General broadcast of `other` into `shape`: iterate rows of the innermost
        // broadcast-free run.
        precondition(other.rank <= rank, "cannot broadcast \(other.shape) to \(shape)")
        let padded = Array(repeating: 1, count: rank - other.rank) + other.shape
        for (x, y) in zip(padded, shape) {
            precondition(x == y || x == 1, "cannot broadcast \(other.shape) to \(shape)")
        }
        var strides = Array(repeating: 0, count: rank)
        var running = 1
        for axis in stride(from: rank - 1, through: 0, by: -1) {
            strides[axis] = padded[axis] == 1 ? 0 : running
            running *= padded[axis]
        }
        let inner = shape.last ?? 1
        let innerStride = strides.last ?? 0
        let outer = count / max(inner, 1)
        var index = Array(repeating: 0, count: max(rank - 1, 0))
        for row in 0..<outer {
            var base = 0
            for axis in 0..<index.count { base += index[axis] * strides[axis] }
            let rowOut = o + row * inner, rowA = a + row * inner
            if innerStride == 0 {
                let s = b[base]
                for j in 0..<inner { rowOut[j] = op(rowA[j], s) }
            } else {
                for j in 0..<inner { rowOut[j] = op(rowA[j], b[base + j]) }
            }
            var axis = index.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < shape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return out
    }

    /// Applies `op` to every element.
    @inlinable
    public func map(_ op: (Float) -> Float) -> Tensor {
        var out = Tensor(uninitializedShape: shape)
        let o = out.storage.pointer, a = storage.pointer
        for i in 0..<count { o[i] = op(a[i]) }
        return out
    }

    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipMap(rhs, +) }
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipMap(rhs, -) }
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipMap(rhs, *) }
    public static func / (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipMap(rhs, /) }
    public static func + (lhs: Tensor, rhs: Float) -> Tensor { lhs.map { $0 + rhs } }
    public static func - (lhs: Tensor, rhs: Float) -> Tensor { lhs.map { $0 - rhs } }
    public static func * (lhs: Tensor, rhs: Float) -> Tensor { lhs.map { $0 * rhs } }
    public static func / (lhs: Tensor, rhs: Float) -> Tensor { lhs.map { $0 / rhs } }
    public static func * (lhs: Float, rhs: Tensor) -> Tensor { rhs.map { lhs * $0 } }
    public static prefix func - (x: Tensor) -> Tensor { x.map { -$0 } }

    /// `a * self + b * other`, the blend every scheduler step is made of, in one pass.
    public func blended(_ a: Float, _ other: Tensor, _ b: Float) -> Tensor {
        precondition(other.shape == shape, "blend of \(shape) with \(other.shape)")
        var out = Tensor(uninitializedShape: shape)
        let o = out.storage.pointer, x = storage.pointer, y = other.storage.pointer
        for i in 0..<count { o[i] = a * x[i] + b * y[i] }
        return out
    }

    /// Clamps every element into `range`.
    public func clamped(to range: ClosedRange<Float>) -> Tensor {
        map { Swift.min(Swift.max($0, range.lowerBound), range.upperBound) }
    }
}
