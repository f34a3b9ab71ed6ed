import CEaselKernels

// 3x3 stride-1 float32 convolutions by Winograd's F(2x2, 3x3) (conv_winograd_f32.c): 16
// products over the input channels per 2 x 2 block of outputs instead of 36, with only
// additions and halvings in the transforms, so as accurate as the direct sum.
//
// Per call, the weights are transformed (16 [Cout, Cin] matrices, packed as the float32
// product's panels; 16/9 of the weight, kept only for the call) and the images padded by
// one pixel; then pieces of 2 x 2 output tiles run on all cores, each transforming its
// input in blocks of 64 tiles that stay in cache. The result does not depend on the split:
// every output is the same sums in the same order.

/// The plan of one Winograd convolution.
struct WinogradConvolution {
    let geometry: ConvGeometry
    let cout: Int

    /// Convolutions the kernel takes: float32 3x3, stride 1, padding 1 on every side, width
    /// a multiple of 32 and even height (rows of tiles in whole vectors), enough input
    /// channels for the products to pay, on a CPU with AVX-512.
    static func isApplicable(for g: ConvGeometry, weight: LayerWeight) -> Bool {
        Kernels.current.contains(.avx512) && weight.tensor?.elementType == .float32
            && g.kh == 3 && g.kw == 3 && g.stride == 1 && g.padding == Padding2D(1)
            && g.w % 32 == 0 && g.h % 2 == 0 && g.cin >= 32
    }

    /// `out[b] = conv(x[b]) + bias` for `batch` images; `out` is `[batch, cout, h, w]`,
    /// `weight` `[cout, cin, 3, 3]`.
    func run(
        _ x: UnsafePointer<Float>, batch: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        into out: UnsafeMutablePointer<Float>
    ) {
        let (cin, h, w, cout) = (geometry.cin, geometry.h, geometry.w, cout)
        let plane = (h + 2) * (w + 2)
        let transformed = TensorStorage(uninitializedCount: easel_winograd_f32_weight_size(cout, cin))
        let padded = TensorStorage(uninitializedCount: batch * cin * plane)
        defer { withExtendedLifetime((transformed, padded)) {} }
        let u = transformed.pointer, xp = padded.pointer
        Parallel.forRanges((cout + 13) / 14, cost: 14 * cin * 16) { range in
            easel_winograd_f32_weights(cout, cin, weight, range.lowerBound, range.upperBound, u)
        }
        Parallel.forRanges(batch * cin, cost: plane) { range in
            easel_winograd_f32_pad(range.count, h, w, x + range.lowerBound * h * w, xp + range.lowerBound * plane)
        }
        // Pieces of whole 64-tile blocks, about four per core in all.
        let tiles = (h / 2) * (w / 2)
        let perImage = max(1, 4 * Parallel.coreCount / batch)
        let chunk = max(64, ((tiles + perImage - 1) / perImage + 63) / 64 * 64)
        let chunks = (tiles + chunk - 1) / chunk
        Parallel.forEach(batch * chunks) { piece in
            let (b, t0) = (piece / chunks, piece % chunks * chunk)
            easel_winograd_f32(cout, cin, h, w, xp + b * cin * plane, u, bias, t0, min(chunk, tiles - t0),
                               out + b * cout * h * w)
        }
    }
}
