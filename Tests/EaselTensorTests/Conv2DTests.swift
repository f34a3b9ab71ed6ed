import Testing
@testable import EaselTensor

/// Direct convolution in Double, straight from the definition.
private func referenceConv(
    _ x: Tensor, _ w: Tensor, _ bias: Tensor?, stride: Int, padding: Padding2D
) -> (shape: [Int], values: [Double]) {
    let (b, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (cout, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    let ho = (h + padding.top + padding.bottom - kh) / stride + 1
    let wo = (wd + padding.left + padding.right - kw) / stride + 1
    let xs = x.scalars, ws = w.scalars, bs = bias?.scalars
    var out = [Double](repeating: 0, count: b * cout * ho * wo)
    for n in 0..<b {
        for co in 0..<cout {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    var s = Double(bs?[co] ?? 0)
                    for ci in 0..<cin {
                        for i in 0..<kh {
                            let iy = oy * stride - padding.top + i
                            if iy < 0 || iy >= h { continue }
                            for j in 0..<kw {
                                let ix = ox * stride - padding.left + j
                                if ix < 0 || ix >= wd { continue }
                                s += Double(xs[((n * cin + ci) * h + iy) * wd + ix]) * Double(ws[((co * cin + ci) * kh + i) * kw + j])
                            }
                        }
                    }
                    out[((n * cout + co) * ho + oy) * wo + ox] = s
                }
            }
        }
    }
    return ([b, cout, ho, wo], out)
}

@Suite struct Conv2DTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var batch = 1, cin = 3, cout = 4, h = 5, w = 7, k = 3, stride = 1
        var padding: Padding2D = 1
        var bias = true
        /// Relative error allowed against the Double reference: F(4x4, 3x3)'s transforms
        /// scale by up to 8 (1.4e-5 measured at 400 input channels, against 1e-6 for the
        /// other paths).
        var tolerance = 1e-5
        var testDescription: String { "b\(batch) \(cin)->\(cout) \(h)x\(w) k\(k) s\(stride) p\(padding) bias \(bias)" }
    }

    static let cases: [Case] = [
        Case(),
        Case(padding: 0),
        Case(h: 7, w: 5, stride: 2),
        Case(h: 9, w: 9, stride: 2, padding: 0),
        Case(batch: 2, cin: 5, cout: 6, h: 6, w: 6, k: 1, padding: 0),
        Case(batch: 2, cin: 5, cout: 6, h: 6, w: 6, k: 1, padding: 0, bias: false),
        Case(cin: 4, cout: 3, h: 8, w: 6, k: 1, stride: 2, padding: 0),
        Case(batch: 2, cin: 3, cout: 2, h: 6, w: 5, k: 5, padding: 2),
        Case(cin: 2, cout: 3, h: 8, w: 8, k: 3, stride: 2, padding: Padding2D(top: 0, left: 0, bottom: 1, right: 1)),
        Case(cin: 2, cout: 2, h: 3, w: 4, k: 3, padding: 3, bias: false),
        Case(batch: 2, cin: 8, cout: 16, h: 16, w: 12, k: 3),
        // Enough input channels for the shifted-products path (stride 1, cin >= 32).
        Case(batch: 2, cin: 32, cout: 8, h: 9, w: 11, k: 3),
        Case(cin: 40, cout: 6, h: 8, w: 7, k: 3, padding: 0),
        Case(cin: 33, cout: 5, h: 10, w: 9, k: 5, padding: 2, bias: false),
        Case(cin: 32, cout: 4, h: 8, w: 8, k: 3, padding: Padding2D(top: 0, left: 0, bottom: 1, right: 1)),
        Case(cin: 32, cout: 3, h: 6, w: 9, k: 3, padding: Padding2D(top: 2, left: 1, bottom: 0, right: 3)),
        // Winograd (AVX-512): a row of 16 tiles and a last half panel; panels of 14 output
        // channels with a partial last one; input channels past one pass of the product
        // (384); several 64-tile blocks and pieces per image.
        Case(batch: 2, cin: 32, cout: 15, h: 6, w: 32, k: 3),
        Case(cin: 40, cout: 14, h: 10, w: 64, k: 3, bias: false),
        Case(cin: 400, cout: 30, h: 4, w: 32, k: 3),
        Case(batch: 3, cin: 33, cout: 29, h: 34, w: 96, k: 3),
        // Rows of tiles not a whole number of vectors (gathered): 8 (few enough tiles, 128, to
        // split by output channels on five cores or more), 11 and 15 per row.
        Case(batch: 2, cin: 48, cout: 20, h: 16, w: 16, k: 3),
        Case(cin: 32, cout: 9, h: 24, w: 22, k: 3, bias: false),
        Case(cin: 32, cout: 16, h: 40, w: 30, k: 3),
        // F(4x4, 3x3) where the tiles fill a block of 32: rows of 16 and 64 tiles read whole,
        // with the padding from masks; a partial last panel of output channels; input
        // channels past one pass of the product; rows of 11 tiles gathered, over three
        // images, with a ragged last piece; 128 tiles (split by output channels on five
        // cores or more).
        Case(cin: 32, cout: 15, h: 64, w: 64, k: 3, tolerance: 3e-5),
        Case(cin: 32, cout: 14, h: 20, w: 256, k: 3, bias: false, tolerance: 3e-5),
        Case(batch: 2, cin: 400, cout: 16, h: 32, w: 64, k: 3, tolerance: 3e-5),
        Case(batch: 3, cin: 33, cout: 20, h: 36, w: 44, k: 3, bias: false, tolerance: 3e-5),
        Case(batch: 2, cin: 40, cout: 30, h: 32, w: 32, k: 3, tolerance: 3e-5),
    ]

    @Test(arguments: cases)
    func matchesDirectConvolution(_ c: Case) {
        let x = Tensor.random([c.batch, c.cin, c.h, c.w], seed: 21)
        let w = Tensor.random([c.cout, c.cin, c.k, c.k], seed: 22)
        let bias = c.bias ? Tensor.random([c.cout], seed: 23) : nil
        let y = Tensor.conv2d(x, weight: w, bias: bias, stride: c.stride, padding: c.padding)
        let ref = referenceConv(x, w, bias, stride: c.stride, padding: c.padding)
        #expect(y.shape == ref.shape)
        #expect(relativeError(y, ref.values) < c.tolerance)
    }

    @Test func pathChoice() {
        func geometry(_ cin: Int, _ size: Int, stride: Int = 1, k: Int = 3) -> ConvGeometry {
            ConvGeometry(cin: cin, h: size, w: size, kh: k, kw: k, stride: stride, padding: Padding2D(k / 2),
                         ho: (size - 1) / stride + 1, wo: (size - 1) / stride + 1)
        }
        // Shifted products where the image is large next to the layer's outputs...
        #expect(ShiftedConvolution.isPreferred(for: geometry(320, 64), cout: 320))
        #expect(ShiftedConvolution.isPreferred(for: geometry(128, 256), cout: 128))
        #expect(ShiftedConvolution.isPreferred(for: geometry(32, 9), cout: 8))
        // ...im2col for deep layers on small images, strided or thin inputs, and 1x1 kernels.
        #expect(!ShiftedConvolution.isPreferred(for: geometry(1280, 16), cout: 1280))
        #expect(!ShiftedConvolution.isPreferred(for: geometry(640, 32), cout: 640))
        #expect(!ShiftedConvolution.isPreferred(for: geometry(320, 64, stride: 2), cout: 320))
        #expect(!ShiftedConvolution.isPreferred(for: geometry(4, 64), cout: 320))
        #expect(!ShiftedConvolution.isPreferred(for: geometry(320, 64, k: 1), cout: 320))
        // Winograd for float32 3x3 convolutions, padding 1, over even sizes from 8 x 8, and
        // for packed bfloat16 ones from 16 x 16; not for bfloat16 weights kept as tensors.
        let float = LayerWeight(convolution: Tensor.random([8, 8, 3, 3], seed: 1), kernels: [])
        let half = LayerWeight(convolution: Tensor.random([8, 8, 3, 3], seed: 1).converted(to: .bfloat16), kernels: [])
        let winograd = Kernels.current.contains(.avx512)
        if Kernels.detected.contains(.avx512BFloat16) {
            let packed = LayerWeight(convolution: Tensor.random([8, 32, 3, 3], seed: 1).converted(to: .bfloat16),
                                     kernels: [.avx512, .avx512BFloat16, .bfloat16Dot])
            #expect(packed.isPacked)
            #expect(WinogradConvolution.isApplicable(for: geometry(32, 64), weight: packed) == winograd)
            #expect(WinogradConvolution.isApplicable(for: geometry(32, 32), weight: packed) == winograd)
            #expect(WinogradConvolution.isApplicable(for: geometry(32, 16), weight: packed) == winograd)
            #expect(!WinogradConvolution.isApplicable(for: geometry(32, 8), weight: packed))
        }
        #expect(WinogradConvolution.isApplicable(for: geometry(320, 64), weight: float) == winograd)
        #expect(WinogradConvolution.isApplicable(for: geometry(128, 512), weight: float) == winograd)
        #expect(!WinogradConvolution.isApplicable(for: geometry(320, 64), weight: half))
        #expect(WinogradConvolution.isApplicable(for: geometry(1280, 16), weight: float) == winograd)
        #expect(WinogradConvolution.isApplicable(for: geometry(1280, 8), weight: float) == winograd)
        #expect(!WinogradConvolution.isApplicable(for: geometry(1280, 4), weight: float))
        #expect(!WinogradConvolution.isApplicable(for: geometry(320, 63), weight: float))
        // An image whose planes pass 2^31 floats (here 512 channels of 2,050 x 2,050).
        #expect(!WinogradConvolution.isApplicable(for: geometry(512, 2048), weight: float))
        #expect(!WinogradConvolution.isApplicable(for: geometry(320, 64, stride: 2), weight: float))
        #expect(!WinogradConvolution.isApplicable(for: geometry(4, 64), weight: float))
        #expect(!WinogradConvolution.isApplicable(for: geometry(320, 64, k: 1), weight: float))
        // F(4x4, 3x3) where the sizes are multiples of 4 and an image has 16 tiles or more.
        func large(_ cin: Int, _ size: Int) -> Bool {
            WinogradConvolution(geometry: geometry(cin, size), cout: cin).usesLargeTiles
        }
        #expect(large(128, 512))
        #expect(large(320, 64))
        #expect(large(640, 32))
        #expect(large(1280, 16))
        #expect(!large(1280, 8))
        #expect(!large(640, 12))
        #expect(!large(128, 510))
        // Each panel's weights transformed where they are multiplied where V fits in 16 MB.
        func inCache(_ cin: Int, _ size: Int, batch: Int) -> Bool {
            WinogradConvolution(geometry: geometry(cin, size), cout: cin).weightsStayInCache(batch: batch)
        }
        #expect(inCache(1280, 8, batch: 2))
        #expect(inCache(1280, 16, batch: 2))
        #expect(inCache(2560, 16, batch: 2))
        #expect(inCache(640, 32, batch: 2))
        #expect(!inCache(1920, 32, batch: 2))
        #expect(!inCache(320, 64, batch: 2))
    }

    /// Winograd's work cut by tiles or by output-channel panels, the weights transformed first
    /// or panel by panel, gives the same bits (every output the same sums in the same order),
    /// for F(2x2, 3x3) and F(4x4, 3x3), with a partial last panel, tiles not a whole number of
    /// vectors per row, and input channels past one pass of the product (384).
    @Test(.enabled(if: Kernels.current.contains(.avx512)))
    func winogradGivesTheSameBitsHoweverItsWorkIsSplit() {
        for (batch, cin, cout, h, w) in [(2, 48, 30, 16, 16), (2, 40, 30, 32, 32), (3, 33, 20, 36, 44),
                                         (2, 400, 16, 8, 8), (3, 40, 20, 8, 12), (1, 35, 30, 16, 20)] {
            let g = ConvGeometry(cin: cin, h: h, w: w, kh: 3, kw: 3, stride: 1, padding: 1, ho: h, wo: w)
            let x = Tensor.random([batch, cin, h, w], seed: 61)
            let weight = LayerWeight(convolution: Tensor.random([cout, cin, 3, 3], seed: 62), kernels: [])
            let bias = Tensor.random([cout], seed: 63)
            let plan = WinogradConvolution(geometry: g, cout: cout)
            guard let weights = WinogradConvolution.weights(of: weight) else {
                Issue.record("a float32 weight has Winograd weights")
                continue
            }
            let outputs = [WinogradConvolution.Split.byTiles, .byPanels, .byPanelsWeightsInCache].map { split in
                let out = Tensor(uninitializedShape: [batch, cout, h, w])
                withExtendedLifetime(weight) {
                    plan.run(x.storage.pointer, batch: batch, weight: weights, bias: bias.storage.pointer,
                             into: out.storage.pointer, split: split)
                }
                return out
            }
            #expect(outputs[0].scalars == outputs[1].scalars, "\(g) F(4x4): \(plan.usesLargeTiles)")
            #expect(outputs[0].scalars == outputs[2].scalars, "\(g) F(4x4): \(plan.usesLargeTiles)")
            let want = Tensor.conv2d(x, weight: weight, bias: bias, stride: 1, padding: 1)
            #expect(outputs[0].scalars == want.scalars)
        }
    }

    /// Small images in a batch are multiplied together (their columns side by side), each
    /// output the same sum as in a one-image product: bit for bit the images one at a time,
    /// for float32 weights and, where the CPU multiplies in bfloat16, packed ones (without
    /// AVX-512, OpenBLAS multiplies the images one at a time). Larger ones (Winograd's
    /// F(2x2, 3x3) at 16 x 16, F(4x4, 3x3) at 32 x 32) keep their bits in a batch too.
    @Test func smallImagesMultipliedTogetherGiveEachImagesOwnSums() {
        let ours = Kernels.current.contains(.avx512)
        #expect(Tensor.multipliesImagesJointly(batch: 2, pixels: 64, columnRows: 11_520) == ours)
        #expect(Tensor.multipliesImagesJointly(batch: 2, pixels: 16, columnRows: 23_040) == ours)
        #expect(!Tensor.multipliesImagesJointly(batch: 2, pixels: 64, columnRows: 11_520, kernels: []))
        #expect(!Tensor.multipliesImagesJointly(batch: 1, pixels: 64, columnRows: 11_520))
        #expect(!Tensor.multipliesImagesJointly(batch: 2, pixels: 256, columnRows: 11_520))
        let kernelSets: [Kernels] = Kernels.current.multipliesBFloat16 ? [[], Kernels.current] : [[]]
        for (cin, cout, size, k, stride) in [(64, 40, 8, 3, 1), (64, 40, 4, 3, 1), (96, 48, 8, 1, 1),
                                             (32, 24, 16, 3, 2), (64, 20, 16, 3, 1), (40, 24, 32, 3, 1),
                                             (48, 30, 5, 3, 1)] {
            let x = Tensor.random([3, cin, size, size], seed: 51)
            let plain = Tensor.random([cout, cin, k, k], seed: 52)
            let bias = Tensor.random([cout], seed: 53)
            for kernels in kernelSets {
                let weight = kernels.isEmpty ? LayerWeight(convolution: plain, kernels: [])
                    : LayerWeight(convolution: plain.converted(to: .bfloat16), kernels: kernels)
                for withBias in [true, false] {
                    let all = Tensor.conv2d(x, weight: weight, bias: withBias ? bias : nil, stride: stride, padding: Padding2D(k / 2))
                    let perImage = all.count / 3
                    for b in 0..<3 {
                        let image = Tensor(shape: [1, cin, size, size],
                                           scalars: Array(x.scalars[(b * cin * size * size)..<((b + 1) * cin * size * size)]))
                        let one = Tensor.conv2d(image, weight: weight, bias: withBias ? bias : nil, stride: stride,
                                                padding: Padding2D(k / 2))
                        #expect(Array(all.scalars[(b * perImage)..<((b + 1) * perImage)]) == one.scalars,
                                "\(cin)->\(cout) \(size)x\(size) k\(k)/\(stride) packed \(weight.isPacked) bias \(withBias) image \(b)")
                    }
                }
            }
        }
    }

    @Test func bandsOfOutputRowsCoverTheImage() {
        // A geometry whose column matrix is cut into several bands.
        let g = ConvGeometry(cin: 64, h: 40, w: 40, kh: 3, kw: 3, stride: 1, padding: 1, ho: 40, wo: 40)
        #expect(g.bandRows(budget: 64 * 9 * 40 * 7) == 7)
        #expect(g.bandRows(budget: 1) == 1)
        #expect(g.bandRows(budget: .max) == 40)
    }

    @Test func bandedConvolutionMatchesReference() {
        // 3 x 3 over 64 channels: large enough to be cut into bands with a small budget.
        let x = Tensor.random([1, 16, 23, 19], seed: 24)
        let w = Tensor.random([8, 16, 3, 3], seed: 25)
        let bias = Tensor.random([8], seed: 26)
        let y = Tensor.conv2d(x, weight: w, bias: bias, stride: 1, padding: 1, columnBudget: 16 * 9 * 19 * 4)
        let ref = referenceConv(x, w, bias, stride: 1, padding: 1)
        #expect(relativeError(y, ref.values) < 1e-5)
    }
}
