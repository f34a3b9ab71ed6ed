import CEaselKernels
import Foundation

// Group norm, layer norm and softmax. Statistics are two-pass (mean, then squared
// deviations from it) with float lanes summed into Double per block of 1024, so a
// group of 40 x 64 x 64 elements keeps the accuracy of PyTorch's float32 result.

extension Tensor {
    /// Group normalisation, as `torch.nn.GroupNorm`, optionally followed by SiLU.
    ///
    /// - `self`: `[B, C, ...]` (typically `[B, C, H, W]`); `C` must divide into `groups`.
    /// - `weight`, `bias`: `[C]` (the affine transform), or nil for none.
    /// - `fusingSiLU`: apply `x * sigmoid(x)` to the result in the same pass, as every
    ///   `ResnetBlock2D` does right after its norms.
    /// - Returns the same shape.
    public func groupNorm(
        groups: Int, weight: Tensor?, bias: Tensor?, epsilon: Float = 1e-5, fusingSiLU: Bool = false
    ) -> Tensor {
        groupNorm(groups: groups, weight: weight, bias: bias, epsilon: epsilon, fusingSiLU: fusingSiLU, kernels: .current)
    }

    /// `groupNorm` with its affine pass (and SiLU) in AVX-512 C where `kernels` allow: the
    /// bits of the Swift vectors ([2, 320, 64, 64] with SiLU on Zen 4: 2.1 -> 0.9 ms).
    func groupNorm(
        groups: Int, weight: Tensor?, bias: Tensor?, epsilon: Float, fusingSiLU: Bool, kernels: Kernels
    ) -> Tensor {
        require(rank >= 2, "groupNorm needs [B, C, ...], got \(shape)")
        let batch = shape[0], channels = shape[1]
        require(groups > 0 && channels % groups == 0, "groupNorm: \(channels) channels do not split into \(groups) groups")
        if let weight { require(weight.count == channels, "groupNorm weight \(weight.shape) for \(channels) channels") }
        if let bias { require(bias.count == channels, "groupNorm bias \(bias.shape) for \(channels) channels") }
        let spatial = shape.dropFirst(2).reduce(1, *)
        let perGroup = channels / groups
        let groupSize = perGroup * spatial
        let out = Tensor(uninitializedShape: shape)
        let xp = UnsafePointer(storage.pointer), op = out.storage.pointer
        let wp = weight.map { UnsafePointer($0.storage.pointer) }
        let bp = bias.map { UnsafePointer($0.storage.pointer) }
        let inC = kernels.contains(.avx512)
        Parallel.forEach(batch * groups) { task in
            let g = task % groups
            let src = xp + task * groupSize, dst = op + task * groupSize
            let (mean, invStd) = Self.statistics(src, groupSize, epsilon: epsilon)
            for local in 0..<perGroup {
                let c = g * perGroup + local
                let scale = invStd * (wp?[c] ?? 1)
                let shift = (bp?[c] ?? 0) - mean * scale
                let s = src + local * spatial, d = dst + local * spatial
                if inC {
                    easel_affine_silu(s, d, spatial, scale, shift, fusingSiLU ? 1 : 0)
                } else if fusingSiLU {
                    applyVec(s, d, spatial) { v in
                        let y = v * scale + shift
                        return y * vsigmoid(y)
                    }
                } else {
                    applyVec(s, d, spatial) { $0 * scale + shift }
                }
            }
        }
        return out
    }

    /// Layer normalisation over the last axis, as `torch.nn.LayerNorm(normalized_shape=D)`.
    ///
    /// - `self`: `[..., D]`.
    /// - `weight`, `bias`: `[D]`, or nil for none.
    /// - Returns the same shape.
    public func layerNorm(weight: Tensor?, bias: Tensor?, epsilon: Float = 1e-5) -> Tensor {
        require(rank >= 1, "layerNorm of a scalar")
        let d = shape[rank - 1]
        if let weight { require(weight.count == d, "layerNorm weight \(weight.shape) for last axis \(d)") }
        if let bias { require(bias.count == d, "layerNorm bias \(bias.shape) for last axis \(d)") }
        let rows = d == 0 ? 0 : count / d
        let out = Tensor(uninitializedShape: shape)
        let xp = UnsafePointer(storage.pointer), op = out.storage.pointer
        let wp = weight.map { UnsafePointer($0.storage.pointer) }
        let bp = bias.map { UnsafePointer($0.storage.pointer) }
        Parallel.forRanges(rows, cost: 4 * d) { r in
            for row in r {
                let src = xp + row * d, dst = op + row * d
                let (mean, invStd) = Self.statistics(src, d, epsilon: epsilon)
                let m = Vec(repeating: mean), s = Vec(repeating: invStd)
                var i = 0
                while i + vecWidth <= d {
                    var y = (src.loadVec(i) - m) * s
                    if let wp { y *= wp.loadVec(i) }
                    if let bp { y += bp.loadVec(i) }
                    dst.storeVec(y, i)
                    i += vecWidth
                }
                while i < d {
                    var y = (src[i] - mean) * invStd
                    if let wp { y *= wp[i] }
                    if let bp { y += bp[i] }
                    dst[i] = y
                    i += 1
                }
            }
        }
        return out
    }

    /// Softmax over the last axis, numerically stable (the row maximum is subtracted first).
    ///
    /// - `self`: `[..., N]`. Returns the same shape; each row sums to 1. A row that is all
    ///   `-infinity` (fully masked) becomes all zeros.
    public func softmax() -> Tensor {
        require(rank >= 1, "softmax of a scalar")
        let n = shape[rank - 1]
        let rows = n == 0 ? 0 : count / n
        let out = Tensor(uninitializedShape: shape)
        let xp = UnsafePointer(storage.pointer), op = out.storage.pointer
        Parallel.forRanges(rows, cost: 8 * n) { r in
            for row in r {
                (op + row * n).update(from: xp + row * n, count: n)
                softmaxRow(op + row * n, n)
            }
        }
        return out
    }

    /// Mean and `1 / sqrt(variance + epsilon)` (biased variance) of `count` floats.
    static func statistics(_ p: UnsafePointer<Float>, _ count: Int, epsilon: Float) -> (Float, Float) {
        guard count > 0 else { return (0, 1 / epsilon.squareRoot()) }
        let mean = preciseSum(p, count) / Double(count)
        let variance = preciseSquaredDeviation(p, count, mean: Float(mean)) / Double(count)
        return (Float(mean), Float(1 / (variance + Double(epsilon)).squareRoot()))
    }
}

/// Softmax of one row in place (stable). An all `-infinity` row becomes zeros.
@inline(__always)
func softmaxRow(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
    let total = exponentiateRow(p, n)
    scaleRow(p, n, by: total > 0 ? 1 / total : 0)
}

/// Replaces a row by `exp(x - max(row))` and returns the sum of the new values: softmax
/// without its final division, which attention applies to its (narrower) output instead.
/// An all `-infinity` row becomes zeros, with sum 0.
@inline(__always)
func exponentiateRow(_ p: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
    if n == 0 { return 0 }
    let maxValue = vectorMax(UnsafePointer(p), n)
    if maxValue == -.infinity {
        p.update(repeating: 0, count: n)
        return 0
    }
    let m = Vec(repeating: maxValue)
    var acc = Vec()
    var i = 0
    while i + vecWidth <= n {
        let e = vexpBelow88(p.loadVec(i) - m)
        p.storeVec(e, i)
        acc += e
        i += vecWidth
    }
    if i < n {
        // The ragged end, through a buffer padded with -inf (whose exp is 0).
        withUnsafeTemporaryAllocation(of: Float.self, capacity: vecWidth) { buffer in
            let t = buffer.baseAddress!
            t.update(repeating: -.infinity, count: vecWidth)
            t.update(from: p + i, count: n - i)
            let e = vexpBelow88(t.loadVec(0) - m)
            acc += e
            t.storeVec(e, 0)
            (p + i).update(from: t, count: n - i)
        }
    }
    return horizontalSum(acc)
}

/// Multiplies `n` floats in place by `factor`.
@inline(__always)
func scaleRow(_ p: UnsafeMutablePointer<Float>, _ n: Int, by factor: Float) {
    let f = Vec(repeating: factor)
    var i = 0
    while i + vecWidth <= n {
        p.storeVec(p.loadVec(i) * f, i)
        i += vecWidth
    }
    while i < n { p[i] *= factor; i += 1 }
}
