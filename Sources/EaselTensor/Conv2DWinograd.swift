import CEaselKernels

// 3x3 stride-1 convolutions in float32 by Winograd's F(2x2, 3x3) (conv_winograd_f32.c): 16
// products over the input channels per 2 x 2 block of outputs instead of 36, with only
// additions and halvings in the transforms, so as accurate as the direct sum. From 32 x 32
// (an image's 4 x 4 tiles fill the kernel's blocks of 32), sizes multiples of 4,
// F(4x4, 3x3) (conv_winograd4_f32.c): 36 products per 4 x 4 outputs instead of 144, a
// little less exact. The choice never depends on the batch, so an image's bits do not.
//
// Per call, the weights (float32, or bfloat16 as packed for the bfloat16 products, widened
// exactly) are transformed (16 [Cout, Cin] matrices, packed as the float32
// product's panels; 16/9 of the weight, kept only for the call; 36 and four times the
// weight for F(4x4, 3x3)) and, for F(2x2, 3x3), the images padded by one pixel; then
// pieces run on all cores, each transforming its input in blocks of up to 64 tiles (32 for
// F(4x4, 3x3)) that stay in cache: pieces of output tiles, or, where there are too few tiles
// to give every core some, of output channels. The result does not depend on the split:
// every output is the same sums in the same order.

/// The plan of one Winograd convolution.
struct WinogradConvolution {
    let geometry: ConvGeometry
    let cout: Int

    /// Convolutions the kernel takes: 3x3, stride 1, padding 1 on every side, even width and
    /// height, on a CPU with AVX-512, with float32 weights or bfloat16 ones packed for the
    /// bfloat16 products (`weights(of:)`); where it pays: enough input channels, and at
    /// least 16 x 16 pixels (on 8 x 8 the 16 tiles fill half of the product's 32 columns,
    /// and the transformed weights, 16/9 of the weights, are read for little work); and one
    /// image's input and output within the kernel's 32-bit offsets.
    ///
    /// A packed bfloat16 weight reaches it only on a CPU without AMX (with AMX the direct
    /// convolution takes those layers first), from 32 x 32: there float32 Winograd beats the
    /// AVX-512 BF16 dot products' column-matrix product, below it loses (Zen 4, `easel bench
    /// kernels`, GFLOP/s as direct: 128->128 at 512x512 627 against 270, 320->320 at 64x64
    /// 776 against 332, 640->640 at 32x32 428-499 against 361-367, 1280->1280 at 16x16
    /// 289-335 against 359-365). It is the more exact of the two as well: the weights are
    /// widened exactly and the images stay float32.
    static func isApplicable(for g: ConvGeometry, weight: LayerWeight) -> Bool {
        guard Kernels.current.contains(.avx512), let source = weights(of: weight) else { return false }
        let minimumPixels = source.packed == nil ? 256 : 1024
        return g.kh == 3 && g.kw == 3 && g.stride == 1 && g.padding == Padding2D(1)
            && g.w % 2 == 0 && g.h % 2 == 0 && g.h * g.w >= minimumPixels && g.cin >= 32
            && max(g.cin * (g.h + 2) * (g.w + 2), weight.shape[0] * g.h * g.w) <= Int(Int32.max)
    }

    /// Whether the kernel runs F(4x4, 3x3) rather than F(2x2, 3x3): sizes a multiple of 4,
    /// and at least one whole block of its 32 tiles per image (with 16 on a 16 x 16 image,
    /// half the product's columns would be empty; in twos they fill a block, but then an
    /// image's bits would depend on its batch). Zen 4, two cores, float32, ms for F(2x2, 3x3)
    /// against F(4x4, 3x3) (`easel bench kernels`): 640->640 at 32x32 17.5 against 14.1
    /// (batch 1) and 33.5 against 23.7 (batch 2), 1920->640 at 32x32 53 against 42 (batch 1);
    /// 1280->1280 at 16x16 25.7 against 33.9 (batch 1).
    var usesLargeTiles: Bool {
        let (h, w) = (geometry.h, geometry.w)
        return h % 4 == 0 && w % 4 == 0 && (h / 4) * (w / 4) >= 32
    }

    /// The weight as the transforms read it: a float32 tensor, or bfloat16 panels packed for
    /// the bfloat16 products (3x3 taps one after another along k); nil for any other form.
    /// Valid while `weight` lives.
    static func weights(of weight: LayerWeight) -> easel_conv3x3_weights? {
        switch weight.form {
        case let .tensor(t) where t.elementType == .float32:
            easel_conv3x3_weights(f32: UnsafePointer(t.storage.pointer), packed: nil, panelStride: 0)
        case let .packed(storage, panelStride) where weight.shape.count == 4:
            easel_conv3x3_weights(f32: nil, packed: UnsafePointer(storage.rawPointer.assumingMemoryBound(to: UInt16.self)),
                                  panelStride: panelStride)
        default:
            nil
        }
    }

    /// How a call's work is cut into pieces (`inPieces`).
    enum Split { case byTiles, byPanels }

    /// `out[b] = conv(x[b]) + bias` for `batch` images; `out` is `[batch, cout, h, w]`,
    /// `weight` `[cout, cin, 3, 3]` (`weights(of:)`). `split` overrides how the work is cut
    /// (for tests: the bits do not depend on it).
    func run(
        _ x: UnsafePointer<Float>, batch: Int, weight: easel_conv3x3_weights, bias: UnsafePointer<Float>?,
        into out: UnsafeMutablePointer<Float>, split: Split? = nil
    ) {
        let (cin, h, w, cout) = (geometry.cin, geometry.h, geometry.w, cout)
        let panels = (cout + 13) / 14
        if usesLargeTiles {
            // F(4x4, 3x3) reads the images as they are.
            let transformed = Self.transformedWeights(easel_winograd4_f32_weight_size(cout, cin))
            defer { withExtendedLifetime(transformed) {} }
            let u = transformed.pointer
            Parallel.forRanges(panels, cost: 14 * cin * 36) { range in
                easel_winograd4_f32_weights(cout, cin, weight, range.lowerBound, range.upperBound, u)
            }
            inPieces(batch: batch, tilesPerImage: (h / 4) * (w / 4), panels: panels,
                     imageFloats: max(cin, cout) * h * w, split: split) { image, tile0, tiles, panel0, panel1 in
                easel_winograd4_f32(cout, cin, h, w, x + image * cin * h * w, u, bias, tile0, tiles, panel0, panel1,
                                    out + image * cout * h * w)
            }
        } else {
            let plane = (h + 2) * (w + 2)
            let transformed = Self.transformedWeights(easel_winograd_f32_weight_size(cout, cin))
            let padded = TensorStorage(uninitializedCount: batch * cin * plane)
            defer { withExtendedLifetime((transformed, padded)) {} }
            let u = transformed.pointer, xp = padded.pointer
            Parallel.forRanges(panels, cost: 14 * cin * 16) { range in
                easel_winograd_f32_weights(cout, cin, weight, range.lowerBound, range.upperBound, u)
            }
            Parallel.forRanges(batch * cin, cost: plane) { range in
                easel_winograd_f32_pad(range.count, h, w, x + range.lowerBound * h * w, xp + range.lowerBound * plane)
            }
            inPieces(batch: batch, tilesPerImage: (h / 2) * (w / 2), panels: panels,
                     imageFloats: max(cin * plane, cout * h * w), split: split) { image, tile0, tiles, panel0, panel1 in
                easel_winograd_f32(cout, cin, h, w, xp + image * cin * plane, u, bias, tile0, tiles, panel0, panel1,
                                   out + image * cout * h * w)
            }
        }
    }

    /// A buffer for `count` floats of transformed weights, rounded up to a power of two, so
    /// that the layers of a model, whose transformed weights come in many sizes (14 to 210 MB
    /// in SD 1.5's UNet at 512x512), share a few of the buffers `BufferPool` recycles rather
    /// than each keeping one of its own.
    private static func transformedWeights(_ count: Int) -> TensorStorage {
        TensorStorage(uninitializedCount: count <= 1 ? 1 : 1 << (Int.bitWidth - (count - 1).leadingZeroBitCount))
    }

    /// Runs `piece(first image, tile0, tiles, panel0, panel1)` on all cores over every image's
    /// tiles as one sequence (one image at a time where the batch would pass the kernels'
    /// 32-bit offsets): pieces of whole 32-tile panels, about four per core; or, where there
    /// are fewer than 32 tiles per core, pieces of output-channel panels. Each of those
    /// transforms every tile's input again, so they pay only when the tiles would leave
    /// cores idle: with 64 and 128 tiles on two cores, pieces of tiles took 640->640 at
    /// 32x32 from 17.4 to 14.1 ms (batch 1) and from 35.8 to 23.7 (batch 2), 1920->640
    /// from 117 to 70 (batch 2), though each piece reads all the transformed weights.
    private func inPieces(
        batch: Int, tilesPerImage: Int, panels: Int, imageFloats: Int, split: Split?,
        _ piece: (Int, Int, Int, Int, Int) -> Void
    ) {
        let together = batch * imageFloats <= Int(Int32.max)
        let (images, calls) = together ? (batch, 1) : (1, batch)
        let tiles = images * tilesPerImage
        let byPanels = split.map { $0 == .byPanels } ?? (tiles < 32 * Parallel.coreCount)
        for call in 0..<calls {
            if byPanels {
                let pieces = max(1, min(panels, 4 * Parallel.coreCount))
                Parallel.forEach(pieces) { i in
                    piece(call, 0, tiles, i * panels / pieces, (i + 1) * panels / pieces)
                }
            } else {
                let chunk = max(32, (tiles / (4 * Parallel.coreCount) + 31) / 32 * 32)
                Parallel.forEach((tiles + chunk - 1) / chunk) { i in
                    piece(call, i * chunk, min(chunk, tiles - i * chunk), 0, panels)
                }
            }
        }
    }
}
