import CEaselKernels

// Stride-1 convolution of a packed bfloat16 weight on AMX tiles (conv_bf16_amx.c).
//
// As with shifted products (Conv2DShifted.swift), the output is laid out in rows of the
// padded width wp, so that kernel tap (i, j) is the padded image read from offset
// i*wp + j. Here the image is converted once per call into bfloat16 pair rows (channels
// 2p and 2p+1 interleaved), which AMX reads as its right-hand tiles straight from memory
// at any offset: every tap and channel of a 32 x 32 output block is summed in the tiles
// and the block is stored once. No column matrix, no per-tap product through memory, no
// packing of the image per tap, and none of the weights (packed at load, `LayerWeight`).
// Each output element is one kernel call's sum in a fixed order, so the result does not
// depend on how the work is split across threads (by columns, or by output channels where
// the weights outweigh the image).

/// The plan of one direct AMX convolution.
struct DirectConvolution {
    let geometry: ConvGeometry
    let cout: Int

    /// `out[b] = conv(x[b]) + bias` for `batch` images; `out` is `[batch, cout, ho, wo]`,
    /// `weight` packed by `LayerWeight(convolution:)`.
    func run(
        _ x: UnsafePointer<Float>, batch: Int, weight: TensorStorage, panelStride: Int, bias: UnsafePointer<Float>?,
        into out: UnsafeMutablePointer<Float>
    ) {
        let g = geometry
        let (cin, h, w, taps) = (g.cin, g.h, g.w, g.kh * g.kw)
        let hp = h + g.padding.top + g.padding.bottom, wp = w + g.padding.left + g.padding.right
        let wideCount = g.ho * wp
        // Blocks of 32 output columns read up to 31 + kw - 1 pixels past the last row.
        let tail = 32 + g.kw
        let plane = hp * wp + tail
        let pairs = TensorStorage(uninitializedCount: cin * plane, elementType: .bfloat16)
        let wide = TensorStorage(uninitializedCount: cout * wideCount)
        defer { withExtendedLifetime((pairs, wide, weight)) {} }
        let pairRows = pairs.rawPointer.assumingMemoryBound(to: UInt16.self)
        let packed = UnsafePointer(weight.rawPointer.assumingMemoryBound(to: UInt16.self))
        let offsets = (0..<taps).map { t in (t / g.kw) * wp + t % g.kw }
        // Every piece of work reads all of what it does not split: a split by columns reads
        // every weight in each piece, a split by output channels the whole image. Split the
        // larger one (deep layers on small images: the weights; wide images: the columns).
        let panels = (cout + 31) / 32
        let byChannels = panels >= 2 && cout * cin * taps > cin * plane
        // Column chunks: a multiple of 128 columns, about two per core.
        let chunk = max(128, (wideCount / (2 * Parallel.coreCount) + 127) / 128 * 128)
        let chunks = (wideCount + chunk - 1) / chunk

        for b in 0..<batch {
            let image = x + b * cin * h * w
            Parallel.forRanges(cin / 2, cost: 2 * plane) { range in
                easel_amx_pair_rows(image + range.lowerBound * 2 * h * w, range.count * 2, h, w,
                                    g.padding.top, g.padding.left, hp, wp, tail, pairRows + range.lowerBound * 2 * plane)
            }
            offsets.withUnsafeBufferPointer { tapOffsets in
                if byChannels {
                    Parallel.forRanges(panels, cost: taps * cin * wideCount) { range in
                        let co0 = range.lowerBound * 32
                        easel_conv_bf16_amx(min(cout, range.upperBound * 32) - co0, wideCount, cin, taps,
                                            tapOffsets.baseAddress!, packed + range.lowerBound * panelStride, panelStride,
                                            pairRows, 2 * plane, wide.pointer + co0 * wideCount, wideCount)
                    }
                } else {
                    Parallel.forEach(chunks) { i in
                        let q0 = i * chunk
                        easel_conv_bf16_amx(cout, min(chunk, wideCount - q0), cin, taps, tapOffsets.baseAddress!,
                                            packed, panelStride, pairRows + 2 * q0, 2 * plane,
                                            wide.pointer + q0, wideCount)
                    }
                }
            }
            g.dropJunkColumns(wide.pointer, wp: wp, cout: cout, bias: bias, into: out + b * cout * g.ho * g.wo)
        }
    }
}
