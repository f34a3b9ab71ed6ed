// The float log and sincos that PyTorch's vectorised normal sampler uses
// (`aten/src/ATen/native/cpu/avx_mathfun.h`, Cephes polynomials by way of Julien Pommier's
// sse_mathfun), evaluated one lane at a time.
//
// Bit-exactness depends on where the C++ compiler fused a multiply into the following add:
// PyTorch's x86 wheels are built by GCC with `-mfma` and its default `-ffp-contract=fast`,
// which fuses every multiply whose only use is an add or subtract, earliest multiply first.
// The `addingProduct` calls below sit exactly where GCC put its FMAs; with them the normals
// are bit-identical to torch's (Tests/EaselDiffusionTests/TorchRandomTests.swift), and
// without them about 1% differ in the last bit. Being plain float arithmetic, this path
// gives the same bits on every platform, unlike one built on the C library's logf/sinf.

/// Cephes single-precision kernels, as inlined into PyTorch's `NormalFill16` for AVX2/AVX512.
enum CephesFloat {
    // Constants by bit pattern, so no decimal-to-float rounding question arises.
    private static let logP: [Float] = [
        0x3D90_21BB, 0xBDEB_D1B8, 0x3DEF_251A, 0xBDFE_5D4F, 0x3E11_E9BF,
        0xBE2A_AE50, 0x3E4C_CEAC, 0xBE7F_FFFC, 0x3EAA_AAAA,
    ].map { Float(bitPattern: $0) }
    private static let logQ1 = Float(bitPattern: 0xB95E_8083)  // -2.12194440e-4
    private static let logQ2 = Float(bitPattern: 0x3F31_8000)  // 0.693359375
    private static let sqrtHalf = Float(bitPattern: 0x3F35_04F3)
    private static let minNormal = Float(bitPattern: 0x0080_0000)

    private static let dp1 = Float(bitPattern: 0xBF49_0000)  // -0.78515625
    private static let dp2 = Float(bitPattern: 0xB97D_A000)  // -2.4187564849853515625e-4
    private static let dp3 = Float(bitPattern: 0xB322_2169)  // -3.77489497744594108e-8
    private static let sinP0 = Float(bitPattern: 0xB94C_A1F9)
    private static let sinP1 = Float(bitPattern: 0x3C08_839E)
    private static let sinP2 = Float(bitPattern: 0xBE2A_AAA3)
    private static let cosP0 = Float(bitPattern: 0x37CC_F5CE)
    private static let cosP1 = Float(bitPattern: 0xBAB6_061A)
    private static let cosP2 = Float(bitPattern: 0x3D2A_AAA5)
    private static let fourOverPi = Float(bitPattern: 0x3FA2_F983)  // 1.27323954473516

    /// `Float(2.0 * M_PI)`, the constant PyTorch multiplies the second uniform by.
    static let twoPi = Float(bitPattern: 0x40C9_0FDB)

    /// `log256_ps` for one positive, finite lane.
    static func log(_ input: Float) -> Float {
        let clipped = Swift.max(input, minNormal)
        let exponentBits = Int32(bitPattern: clipped.bitPattern >> 23)
        // Mantissa with the exponent of 0.5: x in [0.5, 1).
        var x = Float(bitPattern: (clipped.bitPattern & ~0x7F80_0000) | Float(0.5).bitPattern)
        var e = Float(exponentBits - 0x7F) + 1
        let below = x < sqrtHalf
        let tmp: Float = below ? x : 0
        x = x - 1
        e = e - (below ? 1 : 0)
        x = x + tmp

        let z = x * x
        var y = logP[0]
        for p in logP.dropFirst() { y = p.addingProduct(y, x) }
        y = y * x
        y = (e * logQ1).addingProduct(y, z)
        y = y.addingProduct(-z, 0.5)
        x = x + y
        return x.addingProduct(e, logQ2)
    }

    /// `sincos256_ps` for one finite lane; returns (sine, cosine).
    static func sincos(_ input: Float) -> (sin: Float, cos: Float) {
        var x = Swift.abs(input)
        var sineNegative = input.sign == .minus
        var j = Int32(x * fourOverPi)  // truncation, as cvttps
        j = (j &+ 1) & ~1
        let y = Float(j)
        if j & 4 != 0 { sineNegative.toggle() }
        let useSinePolynomial = j & 2 == 0
        let cosineNegative = (~(j &- 2)) & 4 != 0

        // Extended-precision reduction: x = ((x - y*DP1) - y*DP2) - y*DP3.
        x = x.addingProduct(y, dp1)
        x = x.addingProduct(y, dp2)
        x = x.addingProduct(y, dp3)

        let z = x * x
        var cosPoly = cosP1.addingProduct(cosP0, z)
        cosPoly = cosP2.addingProduct(cosPoly, z)
        cosPoly = cosPoly * z
        cosPoly = (-(z * 0.5)).addingProduct(cosPoly, z)
        cosPoly = cosPoly + 1

        var sinPoly = sinP1.addingProduct(sinP0, z)
        sinPoly = sinP2.addingProduct(sinPoly, z)
        sinPoly = sinPoly * z
        sinPoly = x.addingProduct(sinPoly, x)

        var s = useSinePolynomial ? sinPoly : cosPoly
        var c = useSinePolynomial ? cosPoly : sinPoly
        if sineNegative { s = -s }
        if cosineNegative { c = -c }
        return (s, c)
    }
}
