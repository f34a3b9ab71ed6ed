import CEaselKernels
import COpenBLAS
import Foundation

/// The one door to matrix products: row-major `gemm`, split across cores by shape alone,
/// each piece run by Easel's own kernels where the CPU has them (AVX-512 float32, AMX or
/// AVX-512 BF16 dot-product bfloat16; `Kernels`) and by OpenBLAS otherwise.
///
/// Every kernel runs on one thread, always; OpenBLAS too: its thread count is set to 1 once, before the first
/// product, and never changed. Large products are cut here into column (or row) panels that
/// run side by side on `Parallel`'s threads, each an ordinary one-thread `sgemm`.
///
/// Why not OpenBLAS's own threads: how it computes a product depends on how many threads it
/// uses for that call (its threaded driver blocks the inner dimension differently from the
/// one-thread driver, so the sums round differently), and that count is one process-wide
/// setting. Attention's many small products need it at 1 while they run; a large product
/// issued meanwhile by another generation then ran on one thread instead of all, and gave
/// other bits (issue 17: the same seed gave up to five different images under `--workers 3`).
/// Here a product's panels are fixed by its shape, never by the threads free at the moment,
/// and no panel splits the inner dimension, so every output element is one and the same sum
/// whatever else the process is doing.
public enum BLAS {
    /// The CPU kernel family OpenBLAS picked at load time (e.g. "Haswell", "SkylakeX", "Cooperlake").
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS's build description (version, threading model, dynamic architectures).
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// Threads OpenBLAS uses for one call (1 once the first product has run).
    public static var threadCount: Int {
        _ = pinnedToOneThread
        return Int(openblas_get_num_threads())
    }

    /// Products below this many multiply-adds run as one call on the calling thread.
    static let panelMultiplyAdds = 1 << 22

    /// At most this many panels per product: enough to keep 16 cores busy and to even out
    /// cores that are interrupted on a shared machine. A constant, so that the split is the
    /// same on every machine.
    static let maximumPanels = 16

    /// Panels are a multiple of this many columns (rows), so that OpenBLAS's register tiles
    /// (and the bfloat16 kernels' 32-wide panels) stay full at every panel edge; row panels
    /// of Easel's float32 kernel follow its 14-row tile instead.
    static let panelAlignment = 64

    /// `C = alpha * op(A) * op(B) + beta * C`, all row-major, in float32.
    ///
    /// `A` is `[m, k]` (or `[k, m]` when `transA`), `B` is `[k, n]` (or `[n, k]` when
    /// `transB`), `C` is `[m, n]`; the leading dimensions are the row strides in elements,
    /// so heads or blocks inside a larger tensor are addressed without copying.
    ///
    /// `parallel: false` keeps the whole product on the calling thread, for kernels that
    /// already run many products side by side (attention's heads, a batch of small products).
    static func sgemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        parallel: Bool = true
    ) {
        gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
             a: MatrixOperand(a, ld: lda), b: MatrixOperand(b, ld: ldb),
             beta: beta, c: c, ldc: ldc, parallel: parallel)
    }

    /// The same product with operands of any `ElementType`. When either is bfloat16, or
    /// `multiplyIn` is, the product multiplies in bfloat16 (a float32 operand is rounded to
    /// it) and sums in float32, as PyTorch's bfloat16 matmul does.
    ///
    /// `bias` (only with alpha 1 and beta 0) is added to C: `n` floats, one per column, or
    /// with `biasPerRow` `m` floats, one per row (a convolution's output channels). The sums
    /// of C filled with it and multiplied onto with beta 1, which Easel's kernels start from
    /// in registers rather than from a C written first and read back (OpenBLAS still gets C
    /// filled).
    static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: MatrixOperand, b: MatrixOperand,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        bias: UnsafePointer<Float>? = nil, biasPerRow: Bool = false,
        parallel: Bool = true,
        multiplyIn: ElementType = .float32,
        kernels: Kernels = .current
    ) {
        require(bias == nil || (alpha == 1 && beta == 0), "a product's bias needs alpha 1 and beta 0")
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS leaves C scaled by beta; make the degenerate product explicit.
            easel_scale_block(m, n, beta, c, ldc)
            if let bias { easel_add_bias(m, n, bias, biasPerRow ? 1 : 0, c, ldc) }
            return
        }
        let bfloat16 = multiplyIn == .bfloat16 || a.elementType != .float32 || b.elementType != .float32
        require(!(a.isPacked || b.isPacked) || kernels.multipliesBFloat16, "a packed operand needs bfloat16 products")
        require(!(a.isPacked && transA) && !(b.isPacked && transB), "a packed operand is never read transposed")
        if bfloat16 && !kernels.multipliesBFloat16 {
            // No bfloat16 multiplier: widen both operands (rounding a float32 one to
            // bfloat16 first, so the products are the same) and multiply in float32.
            let wideA = a.widenedForBFloat16(rows: transA ? k : m, columns: transA ? m : k)
            let wideB = b.widenedForBFloat16(rows: transB ? n : k, columns: transB ? k : n)
            defer { withExtendedLifetime((wideA, wideB)) {} }
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                 a: wideA.operand, b: wideB.operand, beta: beta, c: c, ldc: ldc, bias: bias, biasPerRow: biasPerRow,
                 parallel: parallel, multiplyIn: .float32, kernels: kernels)
            return
        }
        let float32Kernel = !bfloat16 && kernels.contains(.avx512)
        // Row panels of Easel's float32 kernel end on its register tile's rows: panels of 128
        // rows would each end in a tile of 2 rows that costs as much as a full one of 14.
        let split = parallel
            ? PanelSplit(m: m, n: n, k: k, rowAlignment: float32Kernel ? Int(EASEL_SGEMM_ROWS) : panelAlignment)
            : .none
        // The operand every panel reads in full is packed once for all of them rather than
        // by each again (in bfloat16, with float32 values rounded once): a packed operand
        // holds every step of k, so the sums are those of packing per call. Zen 4, 512x1280
        // by 1280x1280 in ten column panels, bfloat16: 5.1 -> 4.2 ms.
        var (a, b, transA, transB) = (a, b, transA, transB)
        var shared: TensorStorage?
        var packedFloats: (a: UnsafePointer<Float>?, b: UnsafePointer<Float>?) = (nil, nil)
        defer { withExtendedLifetime(shared) {} }
        if bfloat16 {
            if case .columns = split, !a.isPacked {
                (a, shared) = Self.packedOnce(a, outer: m, k: k, transposed: transA, asA: true)
                transA = false
            } else if case .rows = split, !b.isPacked {
                (b, shared) = Self.packedOnce(b, outer: n, k: k, transposed: transB, asA: false)
                transB = false
            }
        } else if float32Kernel {
            if case .columns = split {
                shared = Self.packedOnceForFloat32(a, outer: m, k: k, transposed: transA, asA: true)
                packedFloats.a = UnsafePointer(shared!.pointer)
            } else if case .rows = split {
                shared = Self.packedOnceForFloat32(b, outer: n, k: k, transposed: transB, asA: false)
                packedFloats.b = UnsafePointer(shared!.pointer)
            }
        }
        switch split {
        case .none:
            call(kernels, bfloat16, transA, transB, m, n, k, alpha, a, b, beta, c, ldc, bias, biasPerRow)
        case let .columns(width, count):
            // Every panel reads all of A and its own columns of B and C.
            Parallel.forEach(count) { panel in
                let j0 = panel * width, cols = min(width, n - j0)
                call(kernels, bfloat16, transA, transB, m, cols, k, alpha, a,
                     b.from(j0, transposed: transB, isA: false), beta, c + j0, ldc,
                     biasPerRow ? bias : bias.map { $0 + j0 }, biasPerRow, packedA: packedFloats.a)
            }
        case let .rows(height, count):
            // Every panel reads all of B and its own rows of A and C.
            Parallel.forEach(count) { panel in
                let i0 = panel * height, rows = min(height, m - i0)
                call(kernels, bfloat16, transA, transB, rows, n, k, alpha, a.from(i0, transposed: transA, isA: true),
                     b, beta, c + i0 * ldc, ldc, biasPerRow ? bias.map { $0 + i0 } : bias, biasPerRow,
                     packedB: packedFloats.b)
            }
        }
    }

    /// Rows per chunk of `gemmInRowChunks`: four of the float32 kernel's 14-row tiles, two
    /// 32-row panels of the bfloat16 kernels.
    static func chunkRows(bfloat16: Bool) -> Int { bfloat16 ? 64 : 4 * Int(EASEL_SGEMM_ROWS) }

    /// `gemm` of a float32 `a` (`[m, k]`) and `b` (`[n, k]` read transposed when `transB`,
    /// or packed), with `bias` per column, computed a few rows at a time (`chunkRows`) into
    /// a buffer of each piece's own; each chunk goes to `consume(firstRow, rows, products)`
    /// (`[rows, n]`, rows `n` apart) while it is still in cache. For a product whose C would
    /// go out to memory only to be read straight back by the next operation (a linear layer
    /// and its activation). The operand every chunk reads, B, is packed once for all of them.
    ///
    /// The same bits as `gemm`: a split of the rows leaves every element's sum as it is.
    /// Only for the kernels Easel has (`fusesInRowChunks`).
    static func gemmInRowChunks(
        m: Int, n: Int, k: Int, a: MatrixOperand, b: MatrixOperand, transB: Bool,
        bias: UnsafePointer<Float>?, kernels: Kernels = .current,
        consume: (Int, Int, UnsafePointer<Float>) -> Void
    ) {
        let bfloat16 = b.elementType != .float32
        require(a.elementType == .float32 && !a.isPacked, "row chunks take a float32 A")
        require(fusesInRowChunks(bfloat16: bfloat16, kernels: kernels), "no kernel for products in row chunks")
        if m == 0 || n == 0 { return }
        let rows = chunkRows(bfloat16: bfloat16), chunks = (m + rows - 1) / rows
        var (b, transB) = (b, transB)
        var shared: TensorStorage?
        var packedB: UnsafePointer<Float>?
        if bfloat16 {
            if !b.isPacked {
                (b, shared) = packedOnce(b, outer: n, k: k, transposed: transB, asA: false)
                transB = false
            }
        } else {
            shared = packedOnceForFloat32(b, outer: n, k: k, transposed: transB, asA: false)
            packedB = UnsafePointer(shared!.pointer)
        }
        // A few pieces per core, each a run of consecutive chunks through one buffer.
        let pieces = min(chunks, Parallel.coreCount * 4)
        let buffers = TensorStorage(uninitializedCount: pieces * rows * n)
        withExtendedLifetime((shared, buffers)) {
            let base = buffers.pointer
            Parallel.forEach(pieces) { piece in
                let buffer = base + piece * rows * n
                for chunk in (piece * chunks / pieces)..<((piece + 1) * chunks / pieces) {
                    let i0 = chunk * rows, count = min(rows, m - i0)
                    call(kernels, bfloat16, false, transB, count, n, k, 1, a.from(i0, transposed: false, isA: true), b,
                         0, buffer, n, bias, false, packedB: packedB)
                    consume(i0, count, UnsafePointer(buffer))
                }
            }
        }
    }

    /// Whether `gemmInRowChunks` runs: Easel's float32 kernel, or its bfloat16 ones.
    static func fusesInRowChunks(bfloat16: Bool, kernels: Kernels = .current) -> Bool {
        bfloat16 ? kernels.multipliesBFloat16 : kernels.contains(.avx512)
    }

    /// A float32 `operand` (op(A) `[outer, k]`, or op(B) `[k, outer]`) packed over all of k
    /// as Easel's float32 kernel packs it per block, in panels of its tile's rows (columns)
    /// packed side by side on all cores.
    private static func packedOnceForFloat32(
        _ operand: MatrixOperand, outer: Int, k: Int, transposed: Bool, asA: Bool
    ) -> TensorStorage {
        let storage = TensorStorage(uninitializedCount: easel_sgemm_packed_floats(asA ? 1 : 0, outer, k))
        let width = Int(asA ? EASEL_SGEMM_ROWS : EASEL_SGEMM_COLUMNS)
        let destination = storage.pointer, source = operand.floats, ld = operand.ld
        Parallel.forRanges((outer + width - 1) / width, cost: width * k) { panels in
            let first = panels.lowerBound * width, count = min(outer, panels.upperBound * width) - first
            easel_sgemm_pack(asA ? 1 : 0, transposed ? 1 : 0, first, count, k, source, ld, destination)
        }
        return storage
    }

    /// `operand` (op(A) `[outer, k]`, or op(B) `[k, outer]`) packed for the bfloat16
    /// products, in panels of 32 rows (columns) packed side by side on all cores.
    private static func packedOnce(
        _ operand: MatrixOperand, outer: Int, k: Int, transposed: Bool, asA: Bool
    ) -> (MatrixOperand, TensorStorage) {
        let panelStride = 32 * ((k + 31) / 32 * 32)
        let storage = TensorStorage(uninitializedCount: easel_amx_packed_size(outer, k), elementType: .bfloat16)
        let destination = storage.rawPointer.assumingMemoryBound(to: UInt16.self)
        Parallel.forRanges((outer + 31) / 32, cost: 32 * k) { panels in
            let first = panels.lowerBound * 32, count = min(outer, panels.upperBound * 32) - first
            let source = operand.from(first, transposed: transposed, isA: asA)
            let type = source.elementType.kernelType, into = destination + panels.lowerBound * panelStride
            if asA {
                easel_amx_pack_a(transposed ? 1 : 0, count, k, source.base, type, source.ld, into, panelStride)
            } else {
                easel_amx_pack_b(transposed ? 1 : 0, k, count, source.base, type, source.ld, into, panelStride)
            }
        }
        return (MatrixOperand(packed: storage.rawPointer, panelStride: panelStride), storage)
    }

    /// How a product is cut: along the wider of its two outer dimensions, so that the
    /// operand every panel re-reads (and OpenBLAS re-packs) is the smaller one.
    enum PanelSplit: Equatable {
        case none
        case columns(width: Int, count: Int)
        case rows(height: Int, count: Int)

        /// `rowAlignment`: what row panels are a multiple of (columns: `panelAlignment`).
        init(m: Int, n: Int, k: Int, rowAlignment: Int = BLAS.panelAlignment) {
            let multiplyAdds = Double(m) * Double(n) * Double(k)
            let wanted = Int(min(Double(BLAS.maximumPanels), multiplyAdds / Double(BLAS.panelMultiplyAdds)))
            let outer = max(m, n)
            let alignment = n >= m ? BLAS.panelAlignment : rowAlignment
            let panels = min(wanted, outer / alignment)
            guard panels >= 2 else {
                self = .none
                return
            }
            let size = ((outer + panels - 1) / panels + alignment - 1) / alignment * alignment
            let count = (outer + size - 1) / size
            if count < 2 {
                self = .none
            } else if n >= m {
                self = .columns(width: size, count: count)
            } else {
                self = .rows(height: size, count: count)
            }
        }
    }

    /// One single-threaded product, by the best kernel `kernels` allows.
    @inline(__always)
    private static func call(
        _ kernels: Kernels, _ bfloat16: Bool, _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ a: MatrixOperand, _ b: MatrixOperand,
        _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ bias: UnsafePointer<Float>?, _ biasPerRow: Bool,
        packedA: UnsafePointer<Float>? = nil, packedB: UnsafePointer<Float>? = nil
    ) {
        let perRow: Int32 = biasPerRow ? 1 : 0
        if bfloat16 && kernels.contains(.amxBFloat16) {
            easel_gemm_bf16_amx_operands(m, n, k, alpha, a.kernelOperand(transposed: transA),
                                         b.kernelOperand(transposed: transB), beta, c, ldc, bias, perRow)
        } else if bfloat16 {
            easel_gemm_bf16_dot_operands(m, n, k, alpha, a.kernelOperand(transposed: transA),
                                         b.kernelOperand(transposed: transB), beta, c, ldc, bias, perRow)
        } else if kernels.contains(.avx512) {
            easel_sgemm_avx512(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha,
                               a.floats, a.ld, packedA, b.floats, b.ld, packedB, beta, c, ldc, bias, perRow)
        } else {
            _ = pinnedToOneThread
            if let bias { easel_fill_bias(m, n, bias, perRow, c, ldc) }
            cblas_sgemm(
                CblasRowMajor,
                transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k),
                alpha, a.floats, Int32(a.ld), b.floats, Int32(b.ld),
                bias == nil ? beta : 1, c, Int32(ldc)
            )
        }
    }

    /// Sets OpenBLAS to one thread, once per process, before its first product.
    private static let pinnedToOneThread: Void = openblas_set_num_threads(1)
}
