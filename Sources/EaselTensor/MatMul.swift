// Matrix products (BLAS.swift): matmul (plain and batched) and linear layers.

import CEaselKernels

extension Tensor {
    /// Matrix product over the last two axes.
    ///
    /// - `a`: `[..., M, K]`.
    /// - `b`: `[K, N]` (shared by every leading index of `a`: one sgemm over all rows), or
    ///   `[..., K, N]` with the same leading axes as `a` (one product per leading index).
    ///   With `transposeB`, `b` is `[N, K]` / `[..., N, K]` and is read transposed in place.
    /// - Returns `[..., M, N]`.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeB: Bool = false) -> Tensor {
        require(a.rank >= 2 && b.rank >= 2, "matmul needs rank >= 2, got \(a.shape) and \(b.shape)")
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1]
        let bRows = b.shape[b.rank - 2], bCols = b.shape[b.rank - 1]
        let (bk, n) = transposeB ? (bCols, bRows) : (bRows, bCols)
        require(bk == k, "matmul: inner extents differ, \(a.shape) x \(b.shape)\(transposeB ? "ᵀ" : "")")
        var outShape = a.shape
        outShape[outShape.count - 1] = n
        let out = Tensor(uninitializedShape: outShape)
        let ap = UnsafePointer(a.storage.pointer), bp = UnsafePointer(b.storage.pointer)
        let op = out.storage.pointer
        if b.rank == 2 {
            // Leading axes of `a` fold into M: one large product.
            BLAS.sgemm(transB: transposeB, m: a.shape.dropLast().reduce(1, *), n: n, k: k,
                       a: ap, lda: k, b: bp, ldb: bCols, c: op, ldc: n)
            return out
        }
        require(Array(a.shape.dropLast(2)) == Array(b.shape.dropLast(2)),
                "matmul: batch axes differ, \(a.shape) x \(b.shape)")
        let batch = a.shape.dropLast(2).reduce(1, *)
        let aStride = m * k, bStride = bRows * bCols, oStride = m * n
        if batch == 0 { return out }
        // Small products run side by side, each on one thread; large ones one after
        // another, each cut into panels across the cores.
        if m * n * k < 1 << 21 && batch > 1 {
            Parallel.forEach(batch) { i in
                BLAS.sgemm(transB: transposeB, m: m, n: n, k: k,
                           a: ap + i * aStride, lda: k, b: bp + i * bStride, ldb: bCols,
                           c: op + i * oStride, ldc: n, parallel: false)
            }
        } else {
            for i in 0..<batch {
                BLAS.sgemm(transB: transposeB, m: m, n: n, k: k,
                           a: ap + i * aStride, lda: k, b: bp + i * bStride, ldb: bCols,
                           c: op + i * oStride, ldc: n)
            }
        }
        return out
    }

    /// A fully connected layer, `x · weightᵀ + bias`.
    ///
    /// - `x`: `[..., in]`.
    /// - `weight`: `[out, in]`, PyTorch's layout, read transposed in place; float32, or
    ///   bfloat16 (then `x` is multiplied in bfloat16 too, with float32 sums).
    /// - `bias`: `[out]` or nil.
    /// - Returns `[..., out]`. One product over all rows; the bias starts each output's sum
    ///   (the product's kernels add it as they write the output: no pass of its own, and no
    ///   output written with the bias first and read back).
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        require(weight.rank == 2, "linear weight must be [out, in], got \(weight.shape)")
        return linear(x, outFeatures: weight.shape[0], inFeatures: weight.shape[1], bias: bias,
                      weight: MatrixOperand(weight, ld: weight.shape[1]), transposed: true)
    }

    /// `linear` with a layer's prepared weight (packed for AMX once, where it can be).
    public static func linear(_ x: Tensor, weight: LayerWeight, bias: Tensor? = nil) -> Tensor {
        let (operand, transposed) = weight.rightOperand
        return withExtendedLifetime(weight) {
            linear(x, outFeatures: weight.shape[0], inFeatures: weight.shape[1], bias: bias, weight: operand,
                   transposed: transposed)
        }
    }

    /// `linear(x, weight:, bias:).geglu()` (a transformer's feed-forward projection and its
    /// gating), the same bits, with the product's rows gated a few at a time while they are
    /// still in cache where that pays: the `[..., 2F]` product is then never written out to
    /// memory and read back. It pays where the weight is small next to the rows it meets
    /// (SD 1.5's 64x64 level, 320 -> 2560 for batch 2 on Zen 4, both cores, `easel bench
    /// kernels`: float32 68.6-73.3 -> 65.4-68.1 ms, bfloat16 41.5-44.1 -> 37.5-39.1 ms); with
    /// larger weights each chunk would read all of the weight again, so there the two run
    /// one after the other as before.
    public static func linearGEGLU(_ x: Tensor, weight: LayerWeight, bias: Tensor? = nil) -> Tensor {
        guard fusesLinearGEGLU(x, weight: weight) else { return linear(x, weight: weight, bias: bias).geglu() }
        let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
        if let bias { require(bias.count == outFeatures, "linear bias \(bias.shape) for \(outFeatures) outputs") }
        let f = outFeatures / 2
        var outShape = x.shape
        outShape[outShape.count - 1] = f
        let out = Tensor(uninitializedShape: outShape)
        let op = out.storage.pointer
        let (operand, transposed) = weight.rightOperand
        withExtendedLifetime((weight, bias)) {
            BLAS.gemmInRowChunks(m: x.count / inFeatures, n: outFeatures, k: inFeatures,
                                 a: MatrixOperand(x.storage.pointer, ld: inFeatures), b: operand, transB: transposed,
                                 bias: bias.map { UnsafePointer($0.storage.pointer) }) { first, rows, products in
                for r in 0..<rows {
                    let hidden = products + r * outFeatures
                    easel_geglu_erf(hidden, hidden + f, op + (first + r) * f, f)
                }
            }
        }
        return out
    }

    /// Whether `linearGEGLU` gates the product's rows in chunks: the exact GELU in AVX-512
    /// C, one of Easel's product kernels for the weight, a weight of at most 4 MB, and at
    /// least two chunks of rows.
    static func fusesLinearGEGLU(_ x: Tensor, weight: LayerWeight, kernels: Kernels = .current) -> Bool {
        let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
        require(x.shape.last == inFeatures, "linear: input \(x.shape) does not end in \(inFeatures)")
        require(outFeatures % 2 == 0, "geglu needs an even last axis, got \(outFeatures)")
        let bfloat16 = weight.elementType != .float32
        // An unpacked bfloat16 weight means no bfloat16 kernel: widened per product instead.
        guard kernels.contains(.avx512), x.elementType == .float32, !bfloat16 || weight.isPacked,
              BLAS.fusesInRowChunks(bfloat16: bfloat16, kernels: kernels) else { return false }
        let rows = inFeatures == 0 ? 0 : x.count / inFeatures
        return outFeatures * inFeatures * weight.elementType.byteSize <= 4 << 20
            && rows >= 2 * BLAS.chunkRows(bfloat16: bfloat16)
    }

    private static func linear(
        _ x: Tensor, outFeatures: Int, inFeatures: Int, bias: Tensor?, weight: MatrixOperand, transposed: Bool
    ) -> Tensor {
        require(x.shape.last == inFeatures, "linear: input \(x.shape) does not end in \(inFeatures)")
        if let bias { require(bias.count == outFeatures, "linear bias \(bias.shape) for \(outFeatures) outputs") }
        var outShape = x.shape
        outShape[outShape.count - 1] = outFeatures
        let out = Tensor(uninitializedShape: outShape)
        let rows = x.shape.dropLast().reduce(1, *)
        withExtendedLifetime(bias) {
            BLAS.gemm(transB: transposed, m: rows, n: outFeatures, k: inFeatures,
                      a: MatrixOperand(x.storage.pointer, ld: inFeatures), b: weight,
                      c: out.storage.pointer, ldc: outFeatures, bias: bias.map { UnsafePointer($0.storage.pointer) })
        }
        return out
    }
}
