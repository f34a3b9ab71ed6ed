// Operations that move elements without arithmetic: permute, slice, chunk, concatenate,
// gather rows, nearest upsampling; plus whole-tensor sum and mean.

import CEaselKernels

extension Tensor {
    /// The axes reordered: output axis `i` is input axis `axes[i]` (as `torch.permute`).
    ///
    /// `[B, C, H, W].permuted([0, 2, 3, 1])` gives `[B, H, W, C]`. Copies; the common
    /// layouts (a batch of 2-D transposes, moving whole contiguous runs) take fast paths.
    public func permuted(_ axes: [Int]) -> Tensor {
        require(axes.count == rank && Set(axes) == Set(0..<rank),
                "permuted(\(axes)) is not a permutation of the \(rank) axes of \(shape)")
        let out = Tensor(uninitializedShape: axes.map { shape[$0] })
        var inStrides = Array(repeating: 1, count: rank)
        for axis in stride(from: rank - 2, through: 0, by: -1) { inStrides[axis] = inStrides[axis + 1] * shape[axis + 1] }
        let dims = PermutePlan(extents: axes.map { shape[$0] }, inStrides: axes.map { inStrides[$0] })
        dims.copy(from: storage.pointer, to: out.storage.pointer)
        return out
    }

    /// Axes `a` and `b` swapped (as `torch.transpose`). `[B, N, C].transposed(1, 2)` is `[B, C, N]`.
    public func transposed(_ a: Int, _ b: Int) -> Tensor {
        var axes = Array(0..<rank)
        axes.swapAt(a, b)
        return permuted(axes)
    }

    /// The elements whose index along `axis` lies in `range` (a copy). Shape as `self`, with
    /// `range.count` along `axis`.
    public func sliced(axis: Int, _ range: Range<Int>) -> Tensor {
        require(axis >= 0 && axis < rank, "sliced: axis \(axis) out of range for \(shape)")
        require(range.lowerBound >= 0 && range.upperBound <= shape[axis],
                "sliced: range \(range) outside 0..<\(shape[axis]) on axis \(axis) of \(shape)")
        var outShape = shape
        outShape[axis] = range.count
        let out = Tensor(uninitializedShape: outShape)
        let outer = shape[..<axis].reduce(1, *), rest = shape[(axis + 1)...].reduce(1, *)
        let run = range.count * rest, inRow = shape[axis] * rest
        let src = UnsafePointer(storage.pointer) + range.lowerBound * rest, dst = out.storage.pointer
        Parallel.forRanges(outer, cost: run) { r in
            for o in r { (dst + o * run).update(from: src + o * inRow, count: run) }
        }
        return out
    }

    /// `self` split along `axis` into `count` pieces, as `torch.chunk`: each piece has
    /// `ceil(extent / count)` entries along `axis`, the last one what remains.
    public func chunked(_ count: Int, axis: Int) -> [Tensor] {
        require(count > 0, "chunked into \(count) pieces")
        require(axis >= 0 && axis < rank, "chunked: axis \(axis) out of range for \(shape)")
        let extent = shape[axis]
        let size = (extent + count - 1) / count
        if size == 0 { return [self] }
        return stride(from: 0, to: extent, by: size).map { sliced(axis: axis, $0..<min($0 + size, extent)) }
    }

    /// Tensors joined along `axis`; all other extents must agree (as `torch.cat`).
    public static func concatenate(_ tensors: [Tensor], axis: Int) -> Tensor {
        require(!tensors.isEmpty, "concatenate of no tensors")
        let first = tensors[0]
        require(axis >= 0 && axis < first.rank, "concatenate: axis \(axis) out of range for \(first.shape)")
        for t in tensors {
            let matches = t.rank == first.rank
                && (0..<first.rank).allSatisfy { $0 == axis || t.shape[$0] == first.shape[$0] }
            require(matches, "concatenate along \(axis): \(t.shape) does not match \(first.shape)")
        }
        var outShape = first.shape
        outShape[axis] = tensors.reduce(0) { $0 + $1.shape[axis] }
        let out = Tensor(uninitializedShape: outShape)
        let outer = first.shape[..<axis].reduce(1, *), rest = first.shape[(axis + 1)...].reduce(1, *)
        let runs = tensors.map { $0.shape[axis] * rest }
        let outRow = runs.reduce(0, +)
        let sources = tensors.map { UnsafePointer($0.storage.pointer) }
        let dst = out.storage.pointer
        Parallel.forRanges(outer, cost: outRow) { r in
            for o in r {
                var offset = o * outRow
                for (src, run) in zip(sources, runs) {
                    (dst + offset).update(from: src + o * run, count: run)
                    offset += run
                }
            }
        }
        return out
    }

    /// Rows of a table picked by index (an embedding lookup).
    ///
    /// - `self`: `[V, D]`. `ids`: `n` indices in `0..<V`. Returns `[n, D]`.
    public func gatherRows(_ ids: [Int]) -> Tensor {
        require(rank == 2, "gatherRows needs a [V, D] table, got \(shape)")
        let (v, d) = (shape[0], shape[1])
        let out = Tensor(uninitializedShape: [ids.count, d])
        let src = UnsafePointer(storage.pointer), dst = out.storage.pointer
        for (row, id) in ids.enumerated() {
            require(id >= 0 && id < v, "gatherRows: id \(id) outside the table's \(v) rows")
            (dst + row * d).update(from: src + id * d, count: d)
        }
        return out
    }

    /// Nearest-neighbour upsampling of an image by an integer factor (as
    /// `F.interpolate(mode="nearest", scale_factor=factor)`).
    ///
    /// - `self`: `[B, C, H, W]`. Returns `[B, C, H*factor, W*factor]`.
    public func upsampledNearest(factor: Int) -> Tensor {
        require(rank == 4, "upsampledNearest needs [B, C, H, W], got \(shape)")
        require(factor >= 1, "upsampling factor \(factor)")
        let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3])
        let wo = w * factor
        let out = Tensor(uninitializedShape: [shape[0], shape[1], h * factor, wo])
        let src = UnsafePointer(storage.pointer), dst = out.storage.pointer
        Parallel.forRanges(planes, cost: h * w * factor * factor) { r in
            for plane in r {
                for y in 0..<h {
                    let s = src + (plane * h + y) * w
                    let d = dst + (plane * h + y) * factor * wo
                    if factor == 2 {
                        for x in 0..<w { d[2 * x] = s[x]; d[2 * x + 1] = s[x] }
                    } else {
                        for x in 0..<w { (d + x * factor).update(repeating: s[x], count: factor) }
                    }
                    for copy in 1..<factor { (d + copy * wo).update(from: d, count: wo) }
                }
            }
        }
        return out
    }

    /// Sum of all elements, accumulated in Double.
    public func sum() -> Float {
        Float(preciseSum(storage.pointer, count))
    }

    /// Mean of all elements, accumulated in Double (NaN for an empty tensor).
    public func mean() -> Float {
        Float(preciseSum(storage.pointer, count) / Double(count))
    }
}

/// A permutation reduced to its essentials: output axes of extent 1 dropped, and output
/// axes that are also adjacent and in order in the input merged.
struct PermutePlan {
    /// (extent, input stride) per remaining output axis, outermost first.
    private(set) var dims: [(extent: Int, inStride: Int)] = []

    init(extents: [Int], inStrides: [Int]) {
        for (extent, inStride) in zip(extents, inStrides) where extent != 1 {
            if let last = dims.last, last.inStride == extent * inStride {
                dims[dims.count - 1] = (last.extent * extent, inStride)
            } else {
                dims.append((extent, inStride))
            }
        }
    }

    func copy(from src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>) {
        let total = dims.reduce(1) { $0 * $1.extent }
        guard let last = dims.last, total > 0 else {
            if total > 0 { dst[0] = src[0] }
            return
        }
        if last.inStride == 1 {
            copyRuns(src, dst, run: last.extent, outer: Array(dims.dropLast()))
        } else if let (batch, rows, cols, batchStride) = batchedTranspose {
            transposeBlocks(src, dst, batch: batch, rows: rows, cols: cols, batchStride: batchStride)
        } else {
            gather(src, dst, inner: last, outer: Array(dims.dropLast()))
        }
    }

    /// Output `[batch, rows, cols]` from input `[batch, cols, rows]`, if that is what this is.
    private var batchedTranspose: (Int, Int, Int, Int)? {
        let tail = Array(dims.suffix(2))
        guard tail.count == 2, tail[0].inStride == 1, tail[1].inStride == tail[0].extent else { return nil }
        let (rows, cols) = (tail[0].extent, tail[1].extent)
        if dims.count == 2 { return (1, rows, cols, rows * cols) }
        if dims.count == 3, dims[0].inStride == rows * cols { return (dims[0].extent, rows, cols, rows * cols) }
        return nil
    }

    /// Offset in the input of outer index `index` (row-major over `outer`).
    private static func offset(_ index: Int, _ outer: [(extent: Int, inStride: Int)]) -> Int {
        var rest = index, offset = 0
        for axis in stride(from: outer.count - 1, through: 0, by: -1) {
            offset += (rest % outer[axis].extent) * outer[axis].inStride
            rest /= outer[axis].extent
        }
        return offset
    }

    private func copyRuns(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                          run: Int, outer: [(extent: Int, inStride: Int)]) {
        let count = outer.reduce(1) { $0 * $1.extent }
        Parallel.forRanges(count, cost: run) { r in
            for o in r { (dst + o * run).update(from: src + Self.offset(o, outer), count: run) }
        }
    }

    private func gather(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                        inner: (extent: Int, inStride: Int), outer: [(extent: Int, inStride: Int)]) {
        let count = outer.reduce(1) { $0 * $1.extent }
        let (n, s) = inner
        Parallel.forRanges(count, cost: n * 2) { r in
            for o in r {
                let from = src + Self.offset(o, outer), to = dst + o * n
                for i in 0..<n { to[i] = from[i * s] }
            }
        }
    }

    /// Cache-blocked transposes: dst[b][r][c] = src[b][c][r] (16 x 16 blocks through AVX-512
    /// registers where the CPU has them: [2, 320, 64, 64] -> [2, 64, 64, 320] on Zen 4 2.7 ->
    /// 0.75 ms).
    private func transposeBlocks(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                 batch: Int, rows: Int, cols: Int, batchStride: Int) {
        let tile = 32
        let rowTiles = (rows + tile - 1) / tile
        let inC = Kernels.current.contains(.avx512)
        Parallel.forRanges(batch * rowTiles, cost: tile * cols * 2) { r in
            for task in r {
                let b = task / rowTiles, r0 = (task % rowTiles) * tile
                let r1 = min(rows, r0 + tile)
                let s = src + b * batchStride, d = dst + b * batchStride
                if inC {
                    easel_transpose(s, d, rows, cols, r0, r1)
                    continue
                }
                var c0 = 0
                while c0 < cols {
                    let c1 = min(cols, c0 + tile)
                    for row in r0..<r1 {
                        let drow = d + row * cols
                        for c in c0..<c1 { drow[c] = s[c * rows + row] }
                    }
                    c0 = c1
                }
            }
        }
    }
}
