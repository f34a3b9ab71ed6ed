import Foundation

// Elementwise arithmetic. Shapes either match exactly, or the right operand
// broadcasts NumPy-style (trailing axes aligned, extent 1 or missing repeats):
// `[B, C, H, W] + [C, 1, 1]` (per-channel bias), `[B, C, H, W] + [B, C, 1, 1]`
// (time embedding), `[B, N, C] + [C]`. Loops are vectorised and split across cores
// when the tensor is large enough to pay for it.

extension Tensor {
    /// Applies `op` to corresponding elements of `self` and `other` (broadcasting `other`).
    ///
    /// `vop` works on 16 lanes at a time.
    @inlinable
    func zipMap(
        _ other: Tensor,
        _ vop: (Vec, Vec) -> Vec
    ) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        combine(other, into: out.storage.pointer, vop)
        return out
    }

    /// Writes `vop(self, other)` (broadcasting `other`) to `o`, which may be `self`'s storage.
    @inlinable @inline(__always)
    func combine(_ other: Tensor, into o: UnsafeMutablePointer<Float>, _ vop: (Vec, Vec) -> Vec) {
        let a = UnsafePointer(storage.pointer), b = UnsafePointer(other.storage.pointer)
        if other.shape == shape {
            Parallel.forRanges(count) { r in
                Self.zipRun(a + r.lowerBound, b + r.lowerBound, o + r.lowerBound, r.count, vop)
            }
            return
        }
        if other.count == 1 {
            let s = b[0]
            Parallel.forRanges(count) { r in
                applyVec(a + r.lowerBound, o + r.lowerBound, r.count) { vop($0, Vec(repeating: s)) }
            }
            return
        }
        let plan = BroadcastPlan(target: shape, operand: other.shape)
        let inner = plan.inner
        Parallel.forRanges(plan.rows, cost: inner) { rows in
            for row in rows {
                let base = plan.operandOffset(row: row)
                let rowOut = o + row * inner, rowA = a + row * inner
                if plan.innerBroadcast {
                    let s = b[base]
                    applyVec(rowA, rowOut, inner) { vop($0, Vec(repeating: s)) }
                } else {
                    Self.zipRun(rowA, b + base, rowOut, inner, vop)
                }
            }
        }
    }

    @inlinable @inline(__always)
    static func zipRun(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>,
        _ n: Int, _ vop: (Vec, Vec) -> Vec
    ) {
        var i = 0
        while i + vecWidth <= n {
            o.storeVec(vop(a.loadVec(i), b.loadVec(i)), i)
            i += vecWidth
        }
        if i < n {
            var x = Vec(repeating: 1), y = Vec(repeating: 1)
            for lane in 0..<(n - i) { x[lane] = a[i + lane]; y[lane] = b[i + lane] }
            let r = vop(x, y)
            for lane in 0..<(n - i) { o[i + lane] = r[lane] }
        }
    }

    /// Applies `op` to every element.
    ///
    /// `op` runs on several threads at once for large tensors, so it must not have side
    /// effects. It is called once per element: prefer a named operation in hot code.
    @inlinable
    public func map(_ op: (Float) -> Float) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let o = out.storage.pointer, a = storage.pointer
        Parallel.forRanges(count, cost: 4) { r in
            for i in r { o[i] = op(a[i]) }
        }
        return out
    }

    /// Applies a 16-lane function to every element (the vectorised form of `map`).
    @inlinable @inline(__always)
    func mapVec(_ f: (Vec) -> Vec) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let o = out.storage.pointer, a = UnsafePointer(storage.pointer)
        Parallel.forRanges(count, cost: 4) { r in
            applyVec(a + r.lowerBound, o + r.lowerBound, r.count, f)
        }
        return out
    }

    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipMap(rhs) { $0 + $1 } }
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipMap(rhs) { $0 - $1 } }
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipMap(rhs) { $0 * $1 } }
    public static func / (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipMap(rhs) { $0 / $1 } }
    public static func + (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapVec { $0 + rhs } }
    public static func - (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapVec { $0 - rhs } }
    public static func * (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapVec { $0 * rhs } }
    public static func / (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapVec { $0 / rhs } }
    public static func * (lhs: Float, rhs: Tensor) -> Tensor { rhs.mapVec { lhs * $0 } }
    public static prefix func - (x: Tensor) -> Tensor { x.mapVec { -$0 } }

    /// Adds `rhs` (broadcast like `+`) into `lhs` in place, copying `lhs` first only if shared.
    public static func += (lhs: inout Tensor, rhs: Tensor) {
        lhs.makeUnique()
        lhs.combine(rhs, into: lhs.storage.pointer) { $0 + $1 }
    }

    /// `a * self + b * other`, the blend every scheduler step is made of, in one pass.
    public func blended(_ a: Float, _ other: Tensor, _ b: Float) -> Tensor {
        require(other.shape == shape, "blend of \(shape) with \(other.shape)")
        return zipMap(other) { a * $0 + b * $1 }
    }

    /// Clamps every element into `range`.
    public func clamped(to range: ClosedRange<Float>) -> Tensor {
        let lo = Vec(repeating: range.lowerBound), hi = Vec(repeating: range.upperBound)
        return mapVec { vmin(vmax($0, lo), hi) }
    }
}

/// How a right operand broadcasts into a target shape, flattened to rows: each output row
/// reads one operand row (or one repeated scalar).
///
/// Adjacent axes that broadcast alike are merged first, so `[B, C, H, W] + [C, 1, 1]` is
/// `B*C` rows of `H*W` repeating one value each, not `B*C*H` short rows.
@usableFromInline
struct BroadcastPlan {
    /// Length of a row.
    @usableFromInline let inner: Int
    /// Number of rows (target count / inner).
    @usableFromInline let rows: Int
    /// Whether the operand repeats one value along a row.
    @usableFromInline let innerBroadcast: Bool
    @usableFromInline let outerExtents: [Int]
    @usableFromInline let outerStrides: [Int]

    @usableFromInline
    init(target: [Int], operand: [Int]) {
        require(operand.count <= target.count, "cannot broadcast \(operand) to \(target)")
        let padded = Array(repeating: 1, count: target.count - operand.count) + operand
        for (x, y) in zip(padded, target) {
            require(x == y || x == 1, "cannot broadcast \(operand) to \(target)")
        }
        // (extent, operand stride) per target axis, stride 0 where the operand repeats.
        var axes: [(extent: Int, stride: Int)] = []
        var running = 1
        for axis in stride(from: target.count - 1, through: 0, by: -1) {
            axes.insert((target[axis], padded[axis] == 1 ? 0 : running), at: 0)
            running *= padded[axis]
        }
        // Merge neighbours that are both repeated, or both contiguous in the operand.
        var merged: [(extent: Int, stride: Int)] = []
        for axis in axes where axis.extent != 1 {
            if let last = merged.last,
               (last.stride == 0 && axis.stride == 0) || (axis.stride != 0 && last.stride == axis.stride * axis.extent) {
                merged[merged.count - 1] = (last.extent * axis.extent, axis.stride)
            } else {
                merged.append(axis)
            }
        }
        let innerAxis = merged.last ?? (1, 0)
        inner = innerAxis.extent
        rows = inner == 0 ? 0 : target.reduce(1, *) / inner
        innerBroadcast = innerAxis.stride == 0
        outerExtents = merged.dropLast().map(\.extent)
        outerStrides = merged.dropLast().map(\.stride)
    }

    /// Offset in the operand of the start of output row `row`.
    @inlinable
    func operandOffset(row: Int) -> Int {
        var rest = row, offset = 0
        var axis = outerExtents.count - 1
        while axis >= 0 {
            let extent = outerExtents[axis]
            offset += (rest % extent) * outerStrides[axis]
            rest /= extent
            axis -= 1
        }
        return offset
    }
}
