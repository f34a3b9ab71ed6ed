// Stride-1 convolution without a column matrix ("shifted products").
//
// Pad the input once to [Cin, Hp, Wp] and lay the output pixels out in rows of Wp (the
// last Wp - Wo of each row are junk). Then im2col's row (c, i, j) is simply the padded
// plane c read from offset i*Wp + j, and for one kernel tap (i, j) the rows of all
// channels are evenly spaced, Hp*Wp apart: an ordinary sgemm operand, read in place.
// So the output is the sum over taps of W[:, :, i, j] · shifted(input), each product
// accumulated into the same buffer (beta = 1), and the junk columns are dropped at the
// end. Nothing kh*kw times the size of the input is ever written; the price is a copy of
// the weights in tap order (Cout*Cin*kh*kw floats) per call, so this path is taken when
// the image has many more pixels than the layer has output channels (UNet's 64x64 level,
// the VAE), and im2col otherwise (the 16x16 level with 1280 channels).

/// The plan of one stride-1 convolution by shifted products.
struct ShiftedConvolution {
    let geometry: ConvGeometry
    let cout: Int

    /// Whether shifted products beat im2col for this layer: stride 1, a real kernel,
    /// enough input channels for each per-tap product to be efficient, and an image large
    /// enough next to the weights that reordering them costs less than the columns would.
    static func isPreferred(for g: ConvGeometry, cout: Int) -> Bool {
        g.stride == 1 && g.kh * g.kw > 1 && g.cin >= 32 && g.ho * g.wo >= 2 * cout
    }

    /// `out[b] = conv(x[b])` for `batch` images; `out` is `[batch, cout, ho, wo]`.
    func run(
        _ x: UnsafePointer<Float>, batch: Int, weight: MatrixOperand, bias: UnsafePointer<Float>?,
        into out: UnsafeMutablePointer<Float>
    ) {
        let g = geometry
        let (cin, h, w, taps) = (g.cin, g.h, g.w, g.kh * g.kw)
        let hp = h + g.padding.top + g.padding.bottom, wp = w + g.padding.left + g.padding.right
        let plane = hp * wp
        let wideCount = g.ho * wp

        // Weights [Cout, Cin, kh, kw] -> [tap, Cout, Cin], one [Cout, Cin] matrix per tap.
        let reordered = ConvGeometry.tapMajorWeights(weight.base, elementType: weight.elementType,
                                                     cout: cout, cin: cin, taps: taps)
        // The last tap's junk columns read up to kw - 1 floats past the last plane.
        let padded = TensorStorage(uninitializedCount: cin * plane + g.kw)
        (padded.pointer + cin * plane).update(repeating: 0, count: g.kw)
        let wide = TensorStorage(uninitializedCount: cout * wideCount)
        defer { withExtendedLifetime((reordered, padded, wide)) {} }

        for b in 0..<batch {
            pad(x + b * cin * h * w, into: padded.pointer, hp: hp, wp: wp)
            for t in 0..<taps {
                let (i, j) = (t / g.kw, t % g.kw)
                BLAS.gemm(m: cout, n: wideCount, k: cin,
                          a: MatrixOperand(base: reordered.rawPointer, elementType: weight.elementType, ld: cin)
                              .advanced(by: t * cout * cin),
                          b: MatrixOperand(padded.pointer + i * wp + j, ld: plane),
                          beta: t == 0 ? 0 : 1,
                          c: wide.pointer, ldc: wideCount)
            }
            g.dropJunkColumns(wide.pointer, wp: wp, cout: cout, bias: bias, into: out + b * cout * g.ho * g.wo)
        }
    }

    /// Copies one image `[Cin, H, W]` into the zero-padded `[Cin, hp, wp]`.
    private func pad(_ image: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, hp: Int, wp: Int) {
        let g = geometry
        let (h, w, p) = (g.h, g.w, g.padding)
        Parallel.forRanges(g.cin, cost: hp * wp) { channels in
            for c in channels {
                let plane = dst + c * hp * wp, src = image + c * h * w
                plane.update(repeating: 0, count: p.top * wp)
                for y in 0..<h {
                    let row = plane + (p.top + y) * wp
                    row.update(repeating: 0, count: p.left)
                    (row + p.left).update(from: src + y * w, count: w)
                    (row + p.left + w).update(repeating: 0, count: p.right)
                }
                (plane + (p.top + h) * wp).update(repeating: 0, count: p.bottom * wp)
            }
        }
    }
}
