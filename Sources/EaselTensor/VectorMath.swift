// Vectorised float math for the elementwise kernels: 16 lanes at a time, with the
// transcendental functions (exp, erf, tanh, sigmoid) as polynomial approximations,
// because the C library's scalar `expf` would leave the vector units idle.
// Accuracy: exp within 2 ulp over its range, erf within 1.5e-7 absolute (Abramowitz &
// Stegun 7.1.26, the same formula PyTorch's vectorised CPU erf uses).

@usableFromInline typealias Vec = SIMD16<Float>
@usableFromInline typealias VecBits = SIMD16<UInt32>

@usableFromInline let vecWidth = 16

extension UnsafePointer where Pointee == Float {
    @inlinable @inline(__always)
    func loadVec(_ offset: Int) -> Vec {
        UnsafeRawPointer(self + offset).loadUnaligned(as: Vec.self)
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    @inlinable @inline(__always)
    func loadVec(_ offset: Int) -> Vec {
        UnsafeRawPointer(self + offset).loadUnaligned(as: Vec.self)
    }

    @inlinable @inline(__always)
    func storeVec(_ v: Vec, _ offset: Int) {
        UnsafeMutableRawPointer(self + offset).storeBytes(of: v, as: Vec.self)
    }
}

/// Lane-wise minimum (the standard library's generic `pointwiseMin`/`clamped` are not
/// specialised into vector instructions and run lane by lane).
@inlinable @inline(__always)
func vmin(_ a: Vec, _ b: Vec) -> Vec {
    a.replacing(with: b, where: b .< a)
}

/// Lane-wise maximum.
@inlinable @inline(__always)
func vmax(_ a: Vec, _ b: Vec) -> Vec {
    a.replacing(with: b, where: b .> a)
}

/// `e^x`, lane by lane. Below about -87.7 the result is exactly 0 (so masked `-inf`
/// scores vanish); above 88.3 it saturates near `Float.greatestFiniteMagnitude`.
@inlinable @inline(__always)
func vexp(_ x: Vec) -> Vec {
    vexpBelow88(vmin(x, Vec(repeating: 88.3)))
}

/// `e^x` for `x <= 88.3` (softmax's shifted scores are all <= 0, so they skip the upper clamp).
@inlinable @inline(__always)
func vexpBelow88(_ x: Vec) -> Vec {
    // At -88 the exponent below reaches -127, whose 2^n bit pattern is 0: results flush
    // to exactly 0 without a separate test. -inf is clamped to that too.
    let clamped = vmax(x, Vec(repeating: -88))
    // Round x / ln 2 to the nearest integer n with the 1.5 * 2^23 trick: the integer ends up
    // in the low mantissa bits of `shifted`, which also gives 2^n by integer arithmetic.
    let magic: Float = 12582912
    let shifted = clamped * 1.44269504088896341 + Vec(repeating: magic)
    let n = shifted - Vec(repeating: magic)
    // r = x - n ln 2, with ln 2 split in two so the subtraction stays exact.
    let r = (clamped - n * 0.693359375) + n * 2.12194440e-4
    var p = Vec(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * (r * r) + r + 1
    let nBits = unsafeBitCast(shifted, to: VecBits.self) &- magic.bitPattern
    let scale = unsafeBitCast((nBits &+ 127) &<< 23, to: Vec.self)
    return p * scale
}

/// `1 / (1 + e^-x)`.
@inlinable @inline(__always)
func vsigmoid(_ x: Vec) -> Vec {
    1 / (1 + vexp(-x))
}

/// `tanh(x)` as `1 - 2 / (e^2x + 1)`; absolute error about 1e-7.
@inlinable @inline(__always)
func vtanh(_ x: Vec) -> Vec {
    1 - 2 / (vexp(x + x) + 1)
}

/// The error function, absolute error below 1.5e-7.
@inlinable @inline(__always)
func verf(_ x: Vec) -> Vec {
    let bits = unsafeBitCast(x, to: VecBits.self)
    let sign = bits & 0x8000_0000
    let ax = unsafeBitCast(bits & 0x7FFF_FFFF, to: Vec.self)
    let t = 1 / (1 + 0.3275911 * ax)
    var p = Vec(repeating: 1.061405429)
    p = p * t - 1.453152027
    p = p * t + 1.421413741
    p = p * t - 0.284496736
    p = p * t + 0.254829592
    let y = 1 - p * t * vexp(-(ax * ax))
    return unsafeBitCast(unsafeBitCast(y, to: VecBits.self) | sign, to: Vec.self)
}

/// Exact GELU: `x/2 * (1 + erf(x / sqrt 2))`.
@inlinable @inline(__always)
func vgelu(_ x: Vec) -> Vec {
    0.5 * x * (1 + verf(x * 0.70710678118654752))
}

/// GELU with PyTorch's tanh approximation.
@inlinable @inline(__always)
func vgeluTanh(_ x: Vec) -> Vec {
    let inner = 0.79788456080286536 * (x + 0.044715 * x * x * x)
    return 0.5 * x * (1 + vtanh(inner))
}

/// Applies `f` to `count` floats from `src` into `dst` (which may be `src`), 16 at a time;
/// the ragged end goes through a zero-padded vector.
@inlinable @inline(__always)
func applyVec(
    _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int,
    _ f: (Vec) -> Vec
) {
    var i = 0
    while i + vecWidth <= count {
        dst.storeVec(f(src.loadVec(i)), i)
        i += vecWidth
    }
    if i < count {
        var v = Vec()
        for lane in 0..<(count - i) { v[lane] = src[i + lane] }
        let r = f(v)
        for lane in 0..<(count - i) { dst[i + lane] = r[lane] }
    }
}

/// Sum of `count` floats, accumulated in float vector lanes over blocks of 1024 and in
/// `Double` across blocks, so long reductions keep float32-reference accuracy.
@inlinable
func preciseSum(_ p: UnsafePointer<Float>, _ count: Int) -> Double {
    var total = 0.0
    var start = 0
    while start < count {
        let end = min(start + 1024, count)
        var acc0 = Vec(), acc1 = Vec()
        var i = start
        while i + 2 * vecWidth <= end {
            acc0 += p.loadVec(i)
            acc1 += p.loadVec(i + vecWidth)
            i += 2 * vecWidth
        }
        var tail: Float = 0
        while i < end { tail += p[i]; i += 1 }
        total += Double(horizontalSum(acc0 + acc1)) + Double(tail)
        start = end
    }
    return total
}

/// Sum of `(x - mean)^2` over `count` floats, accumulated like `preciseSum`.
@inlinable
func preciseSquaredDeviation(_ p: UnsafePointer<Float>, _ count: Int, mean: Float) -> Double {
    var total = 0.0
    var start = 0
    let m = Vec(repeating: mean)
    while start < count {
        let end = min(start + 1024, count)
        var acc0 = Vec(), acc1 = Vec()
        var i = start
        while i + 2 * vecWidth <= end {
            let d0 = p.loadVec(i) - m, d1 = p.loadVec(i + vecWidth) - m
            acc0 += d0 * d0
            acc1 += d1 * d1
            i += 2 * vecWidth
        }
        var tail: Float = 0
        while i < end { let d = p[i] - mean; tail += d * d; i += 1 }
        total += Double(horizontalSum(acc0 + acc1)) + Double(tail)
        start = end
    }
    return total
}

/// Largest of `count > 0` floats.
@inlinable
func vectorMax(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
    if count < vecWidth {
        var best = p[0]
        for i in 1..<count { best = max(best, p[i]) }
        return best
    }
    var acc = p.loadVec(0)
    var i = vecWidth
    while i + vecWidth <= count {
        acc = vmax(acc, p.loadVec(i))
        i += vecWidth
    }
    // The ragged end as one more (overlapping) vector: max does not mind repeats.
    if i < count { acc = vmax(acc, p.loadVec(count - vecWidth)) }
    return horizontalMax(acc)
}

/// Sum of the 16 lanes, by halving (the generic `sum()` goes lane by lane).
@inlinable @inline(__always)
func horizontalSum(_ v: Vec) -> Float {
    let h8 = v.lowHalf + v.highHalf
    let h4 = h8.lowHalf + h8.highHalf
    let h2 = h4.lowHalf + h4.highHalf
    return h2[0] + h2[1]
}

/// Largest of the 16 lanes, by halving.
@inlinable @inline(__always)
func horizontalMax(_ v: Vec) -> Float {
    let a8 = v.lowHalf, b8 = v.highHalf
    let h8 = a8.replacing(with: b8, where: b8 .> a8)
    let a4 = h8.lowHalf, b4 = h8.highHalf
    let h4 = a4.replacing(with: b4, where: b4 .> a4)
    return max(max(h4[0], h4[1]), max(h4[2], h4[3]))
}
