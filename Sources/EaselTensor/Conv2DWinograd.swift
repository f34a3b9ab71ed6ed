import CEaselKernels

// 3x3 stride-1 convolutions in float32 by Winograd's F(2x2, 3x3) (conv_winograd_f32.c): 16
// products over the input channels per 2 x 2 block of outputs instead of 36, with only
// additions and halvings in the transforms, so as accurate as the direct sum. From 16 x 16
// (16 tiles of 4 x 4 per image, half of the kernel's blocks of 32), sizes multiples of 4,
// F(4x4, 3x3) (conv_winograd4_f32.c): 36 products per 4 x 4 outputs instead of 144, a
// little less exact. The choice never depends on the batch, so an image's bits do not.
//
// The weights (float32, or bfloat16 as packed for the bfloat16 products, widened exactly)
// are transformed into 16 [Cout, Cin] matrices packed as the float32 product's panels (16/9
// of the weight; 36 and four times the weight for F(4x4, 3x3)), and the images, padded by
// one pixel for F(2x2, 3x3), into V, the products' other operand. Two ways to order that:
// - Calls with few tiles (their V fits in the last-level cache: SD 1.5's 8 x 8 and 16 x 16
//   layers, 32 x 32 ones at batch 1 and 2): V of all tiles first, then pieces of output-
//   channel panels, each transforming its panels' weights where it multiplies them, in
//   slices that stay in L2 (`by_panels` in winograd.h).
// - Larger ones: all weights transformed first (kept only for the call), then pieces of
//   tiles (or, where too few tiles would leave cores idle, of panels) each transforming its
//   input in blocks of up to 64 tiles (32 for F(4x4, 3x3)) that stay in cache, reading the
//   transformed weights once per block.
// The result does not depend on the order or the split: every output is the same sums in the
// same order.

/// The plan of one Winograd convolution.
struct WinogradConvolution {
    let geometry: ConvGeometry
    let cout: Int

    /// Convolutions the kernel takes: 3x3, stride 1, padding 1 on every side, even width and
    /// height, on a CPU with AVX-512, with float32 weights or bfloat16 ones packed for the
    /// bfloat16 products (`weights(of:)`); where it pays: enough input channels, and at
    /// least 8 x 8 pixels (on 4 x 4 an image's 4 tiles leave most of the product's 32
    /// columns empty); and one image's input and output within the kernel's 32-bit offsets.
    /// Zen 4, two cores, `easel bench kernels`, ms, 1280->1280 at 8x8 against the direct
    /// convolution's column-matrix product: 8.0 against 13.5 (batch 1), 11.9 against 20.7
    /// (batch 2).
    ///
    /// A packed bfloat16 weight reaches it only on a CPU without AMX (with AMX the direct
    /// convolution takes those layers first), from 16 x 16: there float32 Winograd beats the
    /// AVX-512 BF16 dot products' column-matrix product, at 8 x 8 it loses (Zen 4, ms, batch
    /// 1 and 2: 1280->1280 at 16x16 17.8 and 26.1 against 26.2 and 49.8; at 8x8 8.0 and 11.9
    /// against 6.1 and 10.4; GFLOP/s as direct: 128->128 at 512x512 627 against 270, 320->320
    /// at 64x64 776 against 332). It is the more exact of the two as well: the weights are
    /// widened exactly and the images stay float32.
    static func isApplicable(for g: ConvGeometry, weight: LayerWeight) -> Bool {
        guard Kernels.current.contains(.avx512), let source = weights(of: weight) else { return false }
        let minimumPixels = source.packed == nil ? 64 : 256
        return g.kh == 3 && g.kw == 3 && g.stride == 1 && g.padding == Padding2D(1)
            && g.w % 2 == 0 && g.h % 2 == 0 && g.h * g.w >= minimumPixels && g.cin >= 32
            && max(g.cin * (g.h + 2) * (g.w + 2), weight.shape[0] * g.h * g.w) <= Int(Int32.max)
    }

    /// Whether the kernel runs F(4x4, 3x3) rather than F(2x2, 3x3): sizes a multiple of 4,
    /// and at least 16 tiles per image (half a block of 32; a lone image's empty half is
    /// skipped, `easel_sgemm_micro_kernel`). Zen 4, two cores, float32, ms for F(2x2, 3x3)
    /// against F(4x4, 3x3) (`easel bench kernels`): 640->640 at 32x32 17.5 against 14.1
    /// (batch 1) and 33.5 against 23.7 (batch 2), 1920->640 at 32x32 53 against 42 (batch 1);
    /// 1280->1280 at 16x16, each panel's weights transformed in cache, 36.2 against 24.7
    /// (batch 2) and about 19 against 16.3 (batch 1).
    var usesLargeTiles: Bool {
        let (h, w) = (geometry.h, geometry.w)
        return h % 4 == 0 && w % 4 == 0 && (h / 4) * (w / 4) >= 16
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

    /// How a call's work is cut into pieces: pieces of tiles or of output-channel panels, the
    /// weights transformed for the whole call first (`inPieces`); or pieces of panels, each
    /// panel's weights transformed where they are multiplied (`byPanelsWeightsInCache`).
    enum Split { case byTiles, byPanels, byPanelsWeightsInCache }

    /// `out[b] = conv(x[b]) + bias` for `batch` images; `out` is `[batch, cout, h, w]`,
    /// `weight` `[cout, cin, 3, 3]` (`weights(of:)`). `split` overrides how the work is cut
    /// (for tests: the bits do not depend on it).
    func run(
        _ x: UnsafePointer<Float>, batch: Int, weight: easel_conv3x3_weights, bias: UnsafePointer<Float>?,
        into out: UnsafeMutablePointer<Float>, split: Split? = nil
    ) {
        let (cin, h, w, cout) = (geometry.cin, geometry.h, geometry.w, cout)
        let panels = (cout + 13) / 14
        let large = usesLargeTiles
        let plane = large ? h * w : (h + 2) * (w + 2)
        let imageFloats = max(cin * plane, cout * h * w)
        if split == .byPanelsWeightsInCache || (split == nil && weightsStayInCache(batch: batch)) {
            precondition(batch * imageFloats <= Int(Int32.max), "images past the kernels' 32-bit offsets")
            let positions = large ? 36 : 16
            let tiles = batch * (large ? (h / 4) * (w / 4) : (h / 2) * (w / 2))
            let blockFloats = positions * cin * 32
            let v = TensorStorage(uninitializedCount: (tiles + 31) / 32 * blockFloats)
            let padded = large ? nil : pad(x, batch: batch)
            defer { withExtendedLifetime((v, padded)) {} }
            let vp = v.pointer
            Parallel.forEach((tiles + 31) / 32) { block in
                if let padded {
                    easel_winograd_f32_input(cin, h, w, padded.pointer, tiles, block * 32, vp + block * blockFloats)
                } else {
                    easel_winograd4_f32_input(cin, h, w, x, tiles, block * 32, vp + block * blockFloats)
                }
            }
            let pieces = max(1, min(panels, 4 * Parallel.coreCount))
            Parallel.forEach(pieces) { i in
                let (panel0, panel1) = (i * panels / pieces, (i + 1) * panels / pieces)
                if large {
                    easel_winograd4_f32_panels(cout, cin, h, w, weight, vp, bias, tiles, panel0, panel1, out)
                } else {
                    easel_winograd_f32_panels(cout, cin, h, w, weight, vp, bias, tiles, panel0, panel1, out)
                }
            }
        } else if large {
            // F(4x4, 3x3) reads the images as they are.
            let transformed = Self.transformedWeights(easel_winograd4_f32_weight_size(cout, cin))
            defer { withExtendedLifetime(transformed) {} }
            let u = transformed.pointer
            Parallel.forRanges(panels, cost: 14 * cin * 36) { range in
                easel_winograd4_f32_weights(cout, cin, weight, range.lowerBound, range.upperBound, u)
            }
            inPieces(batch: batch, tilesPerImage: (h / 4) * (w / 4), panels: panels, imageFloats: imageFloats,
                     split: split) { image, tile0, tiles, panel0, panel1 in
                easel_winograd4_f32(cout, cin, h, w, x + image * cin * h * w, u, bias, tile0, tiles, panel0, panel1,
                                    out + image * cout * h * w)
            }
        } else {
            let transformed = Self.transformedWeights(easel_winograd_f32_weight_size(cout, cin))
            let padded = pad(x, batch: batch)
            defer { withExtendedLifetime((transformed, padded)) {} }
            let u = transformed.pointer, xp = padded.pointer
            Parallel.forRanges(panels, cost: 14 * cin * 16) { range in
                easel_winograd_f32_weights(cout, cin, weight, range.lowerBound, range.upperBound, u)
            }
            inPieces(batch: batch, tilesPerImage: (h / 2) * (w / 2), panels: panels, imageFloats: imageFloats,
                     split: split) { image, tile0, tiles, panel0, panel1 in
                easel_winograd_f32(cout, cin, h, w, xp + image * cin * plane, u, bias, tile0, tiles, panel0, panel1,
                                   out + image * cout * h * w)
            }
        }
    }

    /// Whether a call transforms each panel's weights where it multiplies them
    /// (`Split.byPanelsWeightsInCache`): where the V of all its tiles fits in 16 MB, so stays
    /// in the last-level cache while every panel reads it. There, writing the transformed
    /// weights out and reading them back from memory is most of the time of the
    /// transform-first kernels (Zen 4, `easel bench kernels`, ms, against the transform-first
    /// kernels: 1280->1280 at 16x16, batch 2, 25 against 35 (F(4x4, 3x3)) and 38 (F(2x2, 3x3));
    /// at 8x8 11.6 against 15.5; 640->640 at 32x32, batch 1, 11.7 against 12.6). Where V
    /// would be larger, the transformed weights' one read per block of tiles is cheaper than
    /// V's per panel (1920->640 at 32x32, batch 2: 80 against 66).
    func weightsStayInCache(batch: Int) -> Bool {
        let (h, w, large) = (geometry.h, geometry.w, usesLargeTiles)
        let tiles = batch * (large ? (h / 4) * (w / 4) : (h / 2) * (w / 2))
        let floats = (tiles + 31) / 32 * 32 * (large ? 36 : 16) * geometry.cin
        let imageFloats = max(geometry.cin * (large ? h * w : (h + 2) * (w + 2)), cout * h * w)
        return floats * MemoryLayout<Float>.size <= 16 << 20 && batch * imageFloats <= Int(Int32.max)
    }

    /// The images with one pixel of zeros on every side, as F(2x2, 3x3) reads them.
    private func pad(_ x: UnsafePointer<Float>, batch: Int) -> TensorStorage {
        let (cin, h, w) = (geometry.cin, geometry.h, geometry.w)
        let plane = (h + 2) * (w + 2)
        let padded = TensorStorage(uninitializedCount: batch * cin * plane)
        let xp = padded.pointer
        Parallel.forRanges(batch * cin, cost: plane) { range in
            easel_winograd_f32_pad(range.count, h, w, x + range.lowerBound * h * w, xp + range.lowerBound * plane)
        }
        return padded
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
