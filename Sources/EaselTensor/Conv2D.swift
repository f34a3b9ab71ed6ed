// 2-D convolution, NCHW, as im2col + sgemm.
//
// Per image, the output [Cout, Ho*Wo] is weight [Cout, Cin*kh*kw] times the column matrix
// [Cin*kh*kw, Ho*Wo], whose row (c, i, j) holds input channel c shifted by (i, j). The
// column matrix of a large image is big (a 3x3 conv over 128 x 512 x 512 would need
// 1.2 GB), so it is built for a band of output rows at a time, sized to stay in the
// last-level cache while leaving sgemm a wide enough product to run at full speed.
// 1x1 stride-1 convolutions need no columns: the input already is the column matrix.
// Small images in a batch (up to 8 x 8 outputs) are multiplied together, their columns
// side by side, so that the weight is read once per call rather than once per image.
// Stride-1 convolutions over images with many pixels per output channel skip the column
// matrix altogether (Conv2DShifted.swift), and so does every stride-1 convolution whose
// weight is packed for AMX (Conv2DDirect.swift). Float32 3x3 convolutions with padding 1
// over even-sized images from 8 x 8 (packed bfloat16 ones from 16 x 16, without AMX) run by
// Winograd's F(2x2, 3x3) or F(4x4, 3x3) (Conv2DWinograd.swift).

/// Zero padding on each side of an image, in pixels.
///
/// An integer literal pads all four sides alike (`padding: 1`); VAE downsampling pads
/// only the bottom and right (`Padding2D(top: 0, left: 0, bottom: 1, right: 1)`).
public struct Padding2D: Hashable, Sendable, ExpressibleByIntegerLiteral {
    public var top: Int
    public var left: Int
    public var bottom: Int
    public var right: Int

    public init(top: Int, left: Int, bottom: Int, right: Int) {
        require(min(top, left, bottom, right) >= 0, "negative padding")
        self.top = top
        self.left = left
        self.bottom = bottom
        self.right = right
    }

    /// The same padding on all four sides.
    public init(_ all: Int) {
        self.init(top: all, left: all, bottom: all, right: all)
    }

    public init(integerLiteral value: Int) {
        self.init(value)
    }
}

extension Tensor {
    /// 2-D convolution (cross-correlation, as PyTorch's `conv2d`).
    ///
    /// - `x`: `[B, Cin, H, W]`.
    /// - `weight`: `[Cout, Cin, kh, kw]`, float32 or bfloat16 (then the products are in
    ///   bfloat16 with float32 sums).
    /// - `bias`: `[Cout]` or nil.
    /// - Returns `[B, Cout, Ho, Wo]` with `Ho = (H + top + bottom - kh) / stride + 1`
    ///   (and the same for the width).
    public static func conv2d(
        _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Padding2D = 0
    ) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, columnBudget: nil)
    }

    /// `conv2d` with a layer's prepared weight (packed once where the CPU multiplies in
    /// bfloat16; with AMX, stride-1 convolutions then run as direct AMX convolutions,
    /// `DirectConvolution`, and otherwise multiply tap-major columns).
    public static func conv2d(
        _ x: Tensor, weight: LayerWeight, bias: Tensor? = nil, stride: Int = 1, padding: Padding2D = 0
    ) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, columnBudget: nil)
    }

    /// `conv2d` with the method forced: a `columnBudget` means im2col building at most that
    /// many floats of column matrix at a time; nil picks the method and budget itself.
    static func conv2d(
        _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Padding2D, columnBudget: Int?
    ) -> Tensor {
        require(weight.rank == 4, "conv2d weight must be [Cout, Cin, kh, kw], got \(weight.shape)")
        return conv2d(x, weight: LayerWeight(convolution: weight, kernels: []), bias: bias, stride: stride,
                      padding: padding, columnBudget: columnBudget)
    }

    static func conv2d(
        _ x: Tensor, weight: LayerWeight, bias: Tensor?, stride: Int, padding: Padding2D, columnBudget: Int?
    ) -> Tensor {
        require(x.rank == 4, "conv2d input must be [B, C, H, W], got \(x.shape)")
        require(stride >= 1, "conv2d stride must be positive")
        let (batch, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (cout, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
        require(weight.shape[1] == cin, "conv2d weight \(weight.shape) does not take \(cin) input channels")
        if let bias { require(bias.count == cout, "conv2d bias \(bias.shape) for \(cout) outputs") }
        let paddedH = h + padding.top + padding.bottom, paddedW = w + padding.left + padding.right
        require(paddedH >= kh && paddedW >= kw, "conv2d kernel \(kh)x\(kw) larger than padded input \(paddedH)x\(paddedW)")
        let geometry = ConvGeometry(
            cin: cin, h: h, w: w, kh: kh, kw: kw, stride: stride, padding: padding,
            ho: (paddedH - kh) / stride + 1, wo: (paddedW - kw) / stride + 1)
        let out = Tensor(uninitializedShape: [batch, cout, geometry.ho, geometry.wo])
        let pixels = geometry.ho * geometry.wo
        let k = geometry.columnRows
        let xp = UnsafePointer(x.storage.pointer), wp = weight.operand(ld: k)
        let bp = bias.map { UnsafePointer($0.storage.pointer) }

        let jointly = columnBudget == nil && Self.multipliesImagesJointly(batch: batch, pixels: pixels, columnRows: k)
        if geometry.isPointwise {
            if jointly {
                convolveJointly(xp, geometry: geometry, weight: weight, cout: cout, batch: batch, bias: bp, into: out.storage.pointer)
                return out
            }
            for b in 0..<batch {
                let o = out.storage.pointer + b * cout * pixels
                BLAS.gemm(m: cout, n: pixels, k: k, a: wp,
                          b: MatrixOperand(xp + b * cin * h * w, ld: pixels),
                          c: o, ldc: pixels, bias: bp, biasPerRow: true)
            }
            return out
        }

        if case let .packed(storage, panelStride) = weight.form, stride == 1, columnBudget == nil,
           Kernels.current.contains(.amxBFloat16) {
            DirectConvolution(geometry: geometry, cout: cout)
                .run(xp, batch: batch, weight: storage, panelStride: panelStride, bias: bp, into: out.storage.pointer)
            return out
        }

        if columnBudget == nil, WinogradConvolution.isApplicable(for: geometry, weight: weight),
           let weights = WinogradConvolution.weights(of: weight) {
            withExtendedLifetime(weight) {
                WinogradConvolution(geometry: geometry, cout: cout)
                    .run(xp, batch: batch, weight: weights, bias: bp, into: out.storage.pointer)
            }
            return out
        }

        if !weight.isPacked && columnBudget == nil && ShiftedConvolution.isPreferred(for: geometry, cout: cout) {
            ShiftedConvolution(geometry: geometry, cout: cout)
                .run(xp, batch: batch, weight: wp, bias: bp, into: out.storage.pointer)
            return out
        }

        if jointly {
            convolveJointly(xp, geometry: geometry, weight: weight, cout: cout, batch: batch, bias: bp, into: out.storage.pointer)
            return out
        }

        let bandRows = geometry.bandRows(budget: columnBudget ?? Self.columnBudget)
        let columns = TensorStorage(uninitializedCount: k * bandRows * geometry.wo)
        defer { withExtendedLifetime(columns) {} }
        for b in 0..<batch {
            let image = xp + b * cin * h * w
            let o = out.storage.pointer + b * cout * pixels
            var row0 = 0
            while row0 < geometry.ho {
                let rows = min(bandRows, geometry.ho - row0)
                let n = rows * geometry.wo
                geometry.im2col(image, into: columns.pointer, outputRows: row0..<(row0 + rows), tapMajor: weight.isPacked)
                BLAS.gemm(m: cout, n: n, k: k, a: wp, b: MatrixOperand(columns.pointer, ld: n),
                          c: o + row0 * geometry.wo, ldc: pixels, bias: bp, biasPerRow: true)
                row0 += rows
            }
        }
        return out
    }

    /// Floats of column matrix built at once (24 MB): large enough that sgemm's panels are
    /// wide, small enough to stay mostly in a server's last-level cache.
    static let columnBudget = 6 << 20

    /// Whether a batch's images are multiplied in one product, their columns side by side,
    /// rather than one product each: where the images are small (up to 8 x 8 outputs) and
    /// their columns fit the budget. There the weight is the large operand (a UNet's
    /// 1280-channel 3x3 layers: 29 MB in bfloat16 against 64 x 11,520 columns per 8 x 8
    /// image), so one product reads (and, in float32, packs) it once instead of once per
    /// image, and 4 x 4 images no longer fill half of the products' 32 columns. Measured on
    /// Zen 4 (`easel bench kernels`, batch 2): 1280->1280 3x3 at 4 x 4 float32 13.9 -> 7.2 ms,
    /// bfloat16 10.1 -> 4.6 ms; at 8 x 8 bfloat16 12.8 -> 11.6 ms; at 16 x 16 the copies cost
    /// more than they save (1x1 640->1280 bfloat16 2.1 -> 2.4 ms). Only on Easel's own
    /// kernels, whose every output is the same sum wherever its column falls, so that each
    /// image keeps the bits it gets alone; OpenBLAS's sums depend on the product's width.
    static func multipliesImagesJointly(batch: Int, pixels: Int, columnRows: Int, kernels: Kernels = .current) -> Bool {
        kernels.contains(.avx512) && batch > 1 && pixels <= 64 && columnRows * batch * pixels <= columnBudget
    }

    /// `out[b] = W · columns_b + bias` for every image at once: the column matrix
    /// `[k, batch * pixels]` holds image b's columns from column b * pixels (a 1x1
    /// convolution's are its input planes). The product `[cout, batch * pixels]` starts from
    /// the bias as the one-image products do (each output the same sum, bit for bit) and is
    /// then split into the images' planes.
    private static func convolveJointly(
        _ x: UnsafePointer<Float>, geometry g: ConvGeometry, weight: LayerWeight, cout: Int, batch: Int,
        bias: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>
    ) {
        let (k, pixels) = (g.columnRows, g.ho * g.wo)
        let n = batch * pixels
        let columns = TensorStorage(uninitializedCount: k * n)
        let product = TensorStorage(uninitializedCount: cout * n)
        defer { withExtendedLifetime((columns, product)) {} }
        for b in 0..<batch {
            let image = x + b * g.cin * g.h * g.w
            if g.isPointwise {
                Parallel.forRanges(g.cin, cost: pixels) { channels in
                    for c in channels { (columns.pointer + c * n + b * pixels).update(from: image + c * pixels, count: pixels) }
                }
            } else {
                g.im2col(image, into: columns.pointer + b * pixels, outputRows: 0..<g.ho, tapMajor: weight.isPacked, ld: n)
            }
        }
        BLAS.gemm(m: cout, n: n, k: k, a: weight.operand(ld: k), b: MatrixOperand(columns.pointer, ld: n),
                  c: product.pointer, ldc: n, bias: bias, biasPerRow: true)
        Parallel.forRanges(cout, cost: n) { rows in
            for co in rows {
                for b in 0..<batch {
                    (out + (b * cout + co) * pixels).update(from: product.pointer + co * n + b * pixels, count: pixels)
                }
            }
        }
    }
}

/// Sizes of one convolution, and the column-matrix construction that depends on them.
struct ConvGeometry {
    let cin: Int, h: Int, w: Int
    let kh: Int, kw: Int
    let stride: Int
    let padding: Padding2D
    let ho: Int, wo: Int

    /// Rows of the column matrix: one per (input channel, kernel row, kernel column).
    var columnRows: Int { cin * kh * kw }

    var isPointwise: Bool {
        kh == 1 && kw == 1 && stride == 1 && padding == Padding2D(0)
    }

    /// Copies an output laid out in rows of `wp` pixels (`[cout, ho, wp]`, the last
    /// `wp - wo` of each row junk) into `out` `[cout, ho, wo]`, adding `bias[co]` on the way.
    func dropJunkColumns(
        _ wide: UnsafePointer<Float>, wp: Int, cout: Int, bias: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>
    ) {
        let (ho, wo) = (self.ho, self.wo)
        Parallel.forRanges(cout * ho, cost: wo) { rows in
            for row in rows {
                let shift = bias?[row / ho] ?? 0
                applyVec(wide + row * wp, out + row * wo, wo) { $0 + shift }
            }
        }
    }

    /// A convolution's weights `[Cout, Cin, taps]` copied into `[taps, Cout, Cin]`: one
    /// `[Cout, Cin]` matrix per kernel tap, as shifted products multiply them and as a
    /// packed `LayerWeight` lays them out.
    static func tapMajorWeights(
        _ weight: UnsafeRawPointer, elementType: ElementType, cout: Int, cin: Int, taps: Int
    ) -> TensorStorage {
        let reordered = TensorStorage(uninitializedCount: taps * cout * cin, elementType: elementType)
        func reorder<T>(_: T.Type) {
            let (src, dst) = (weight.assumingMemoryBound(to: T.self), reordered.rawPointer.assumingMemoryBound(to: T.self))
            Parallel.forRanges(cout, cost: cin * taps) { range in
                // Each output channel's [cin, taps] block (in cache) read tap by tap, so that
                // the writes are taps rows of cin, each one stream (channel by channel, each
                // channel's taps went to taps rows a layer apart: a third of a bfloat16
                // model's load).
                for co in range {
                    let from = src + co * cin * taps
                    for t in 0..<taps {
                        let to = dst + (t * cout + co) * cin
                        for c in 0..<cin { to[c] = from[c * taps + t] }
                    }
                }
            }
        }
        switch elementType {
        case .float32: reorder(Float.self)
        case .bfloat16: reorder(UInt16.self)
        }
        return reordered
    }

    /// Output rows per band so that the band's columns fit in `budget` floats.
    func bandRows(budget: Int) -> Int {
        max(1, min(ho, budget / max(1, columnRows * wo)))
    }

    /// Writes the column matrix `[cin*kh*kw, rows*wo]` for the output rows `outputRows`:
    /// row (c, i, j) as PyTorch's weight `[Cout, Cin, kh, kw]` orders its columns, or with
    /// `tapMajor` row (i, j, c), as a packed `LayerWeight` orders them; rows `ld` apart
    /// (by default rows*wo: one after another).
    func im2col(
        _ image: UnsafePointer<Float>, into columns: UnsafeMutablePointer<Float>, outputRows: Range<Int>, tapMajor: Bool = false,
        ld: Int? = nil
    ) {
        let n = outputRows.count * wo
        let rowStride = ld ?? n
        Parallel.forRanges(cin, cost: kh * kw * n) { channels in
            for c in channels {
                let plane = image + c * h * w
                for i in 0..<kh {
                    for j in 0..<kw {
                        let row = tapMajor ? (i * kw + j) * cin + c : (c * kh + i) * kw + j
                        let dst = columns + row * rowStride
                        fillColumnRow(plane, dst, i: i, j: j, outputRows: outputRows)
                    }
                }
            }
        }
    }

    /// One column row: input plane shifted by kernel offset (i, j), zero outside the image.
    @inline(__always)
    private func fillColumnRow(
        _ plane: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
        i: Int, j: Int, outputRows: Range<Int>
    ) {
        // Output columns [first, last) read inside the image: input column ow*stride + offset.
        let offset = j - padding.left
        let first = min(wo, offset >= 0 ? 0 : (-offset + stride - 1) / stride)
        let last = max(first, min(wo, w - offset <= 0 ? 0 : (w - offset + stride - 1) / stride))
        for oh in outputRows {
            let d = dst + (oh - outputRows.lowerBound) * wo
            let ih = oh * stride - padding.top + i
            if ih < 0 || ih >= h {
                d.update(repeating: 0, count: wo)
                continue
            }
            let src = plane + ih * w + offset
            if first > 0 { d.update(repeating: 0, count: first) }
            if stride == 1 {
                if last > first { (d + first).update(from: src + first, count: last - first) }
            } else {
                for ow in first..<last { d[ow] = src[ow * stride] }
            }
            if last < wo { (d + last).update(repeating: 0, count: wo - last) }
        }
    }
}
