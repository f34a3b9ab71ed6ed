// Scaled dot-product attention over heads packed in the feature axis.
//
// Work is split into (batch, head, block of queries) pieces. For each piece, the scores
// [blockQ, Nk] = q_block · k_headᵀ come from one sgemm that reads the head's columns in
// place (leading dimension H*D, offset h*D), so no head is ever transposed or copied;
// softmax runs on those rows while they are in cache (exponentials only), and a second
// sgemm multiplies them by the head's values straight into the output's columns, which
// are then divided by the row sums (D values per row instead of Nk). Only a block of
// rows of the score matrix exists at a time, never the whole Nq x Nk of a 4,096-token
// image.
// The pieces run on all cores, each product on its piece's thread. Tall blocks
// (256 queries against 4,096 keys) pay best when every piece packs the head's keys and
// values again, which costs as much as a thin block's products.
// Fused instead, for heads up to 160 wide, in one kernel per piece (scores, online softmax
// and the product with the values for 32 queries against 128 keys at a time, the scores
// never leaving L1), every head's keys and values packed once per call:
// - in bfloat16 on a CPU with AMX (`easel_attention_bf16_amx`) or, without it, with
//   AVX-512 BF16 dot products (`easel_attention_bf16_dot`), both on `PackedKeysAndValues`
//   (on Zen 4 the dot products beat the float32 kernel: batch 2, 4096x4096 with 40-wide
//   heads 322 against 191 GFLOP/s, 1024x1024 with 80-wide heads 299 against 188);
// - in float32 on a CPU with AVX-512 (`easel_attention_f32`); there also for bfloat16
//   products where the CPU makes none in bfloat16 (no AMX, no dot products that pay),
//   which would be float32 products of widened operands anyway.

import CEaselKernels
import Foundation

extension Tensor {
    /// Multi-head scaled dot-product attention,
    /// `softmax(q kᵀ * scale [+ causal mask]) v` per head.
    ///
    /// - `query`: `[B, Nq, H*D]`.
    /// - `key`: `[B, Nk, H*D]`.
    /// - `value`: `[B, Nk, H*Dv]` (usually `Dv == D`).
    /// - `heads`: `H`; head `h` is columns `h*D ..< (h+1)*D` (as diffusers' and
    ///   transformers' `view(B, N, H, D)` lays them out).
    /// - `scale`: defaults to `1 / sqrt(D)`.
    /// - `causal`: query `i` sees keys `0...i` only (PyTorch's `is_causal=True`, top-left
    ///   aligned), as CLIP's text encoder needs.
    /// - `multiplyIn`: `.bfloat16` computes both products (`q kᵀ` and `p v`) with bfloat16
    ///   operands and float32 sums (the softmax stays float32), as models loaded in bfloat16
    ///   precision do.
    /// - Returns `[B, Nq, H*Dv]`, heads packed the same way.
    public static func attention(
        query: Tensor, key: Tensor, value: Tensor, heads: Int, scale: Float? = nil, causal: Bool = false,
        multiplyIn: ElementType = .float32
    ) -> Tensor {
        attention(query: query, key: key, value: value, heads: heads, scale: scale, causal: causal,
                  scoreBudget: AttentionPlan.defaultScoreBudget, multiplyIn: multiplyIn)
    }

    /// `attention` with at most about `scoreBudget` floats of scores per piece of work.
    static func attention(
        query: Tensor, key: Tensor, value: Tensor, heads: Int, scale: Float?, causal: Bool, scoreBudget: Int,
        multiplyIn: ElementType = .float32
    ) -> Tensor {
        require(query.rank == 3 && key.rank == 3 && value.rank == 3,
                "attention takes [B, N, H*D] tensors, got \(query.shape), \(key.shape), \(value.shape)")
        let (batch, nq, width) = (query.shape[0], query.shape[1], query.shape[2])
        let (nk, valueWidth) = (key.shape[1], value.shape[2])
        require(key.shape[0] == batch && value.shape[0] == batch, "attention: batch sizes differ")
        require(key.shape[2] == width, "attention: key width \(key.shape[2]) != query width \(width)")
        require(value.shape[1] == nk, "attention: \(value.shape[1]) values for \(nk) keys")
        require(heads > 0 && width % heads == 0 && valueWidth % heads == 0,
                "attention: widths \(width), \(valueWidth) do not split into \(heads) heads")
        require(nk > 0, "attention over zero keys")
        let d = width / heads, dv = valueWidth / heads
        let alpha = scale ?? 1 / Float(d).squareRoot()
        let out = Tensor(uninitializedShape: [batch, nq, valueWidth])

        let qp = UnsafePointer(query.storage.pointer), kp = UnsafePointer(key.storage.pointer)
        let vp = UnsafePointer(value.storage.pointer), op = out.storage.pointer
        // Fused: every head's keys and values packed once, then one kernel call per piece
        // (rows queries from q0 of head h of image b).
        var fused: ((_ b: Int, _ h: Int, _ q0: Int, _ rows: Int) -> Void)?
        var packed: AnyObject?
        if alpha > 0 && max(d, dv) <= AttentionPlan.fusedHeadWidth {
            if multiplyIn == .bfloat16 && Kernels.current.multipliesBFloat16 {
                let keysAndValues = PackedKeysAndValues(kp, vp, batch: batch, heads: heads, nk: nk, d: d, dv: dv)
                packed = keysAndValues
                let kernel = Kernels.current.contains(.amxBFloat16) ? easel_attention_bf16_amx : easel_attention_bf16_dot
                fused = { b, h, q0, rows in
                    kernel(
                        rows, nk, d, dv, alpha, qp + (b * nq + q0) * width + h * d, width,
                        keysAndValues.keys(b, h), keysAndValues.keyStride, keysAndValues.values(b, h),
                        keysAndValues.valueStride, causal ? q0 : -1, op + (b * nq + q0) * valueWidth + h * dv, valueWidth)
                }
            } else if Kernels.current.contains(.avx512) {
                // float32, or bfloat16 on a CPU that makes no bfloat16 products in bfloat16.
                let perHead = easel_attention_f32_packed_size(nk, d, dv)
                let storage = TensorStorage(uninitializedCount: batch * heads * perHead)
                let base = storage.pointer
                Parallel.forEach(batch * heads) { index in
                    let (b, h) = (index / heads, index % heads)
                    easel_attention_f32_pack(nk, d, dv, kp + b * nk * width + h * d, width,
                                             vp + b * nk * valueWidth + h * dv, valueWidth, base + index * perHead)
                }
                packed = storage
                fused = { b, h, q0, rows in
                    easel_attention_f32(
                        rows, nk, d, dv, alpha, qp + (b * nq + q0) * width + h * d, width,
                        base + (b * heads + h) * perHead, causal ? q0 : -1,
                        op + (b * nq + q0) * valueWidth + h * dv, valueWidth)
                }
            }
        }
        if let fused {
            let plan = AttentionPlan(batch: batch, heads: heads, nq: nq, rowsPerPiece: AttentionPlan.fusedRows)
            withExtendedLifetime(packed) {
                Parallel.forEach(plan.pieceCount) { piece in
                    let (b, h, q0) = plan.piece(piece)
                    fused(b, h, q0, min(plan.blockQ, nq - q0))
                }
            }
            return out
        }
        let plan = AttentionPlan(batch: batch, heads: heads, nq: nq, nk: nk, d: max(d, dv), scoreBudget: scoreBudget)
        // One index per piece: libdispatch hands them out in order as threads free up, so
        // neighbouring pieces (same head: its keys and values in cache) run together.
        Parallel.forEach(plan.pieceCount) { piece in
            let (b, h, q0) = plan.piece(piece)
            let rows = min(plan.blockQ, nq - q0)
            // Causal: keys past the block's last query are masked for every row.
            let keys = causal ? min(nk, q0 + rows) : nk
            // Scores [rows, keys], then one float per row for the softmax sums.
            let buffer = TensorStorage(uninitializedCount: rows * keys + rows)
            defer { withExtendedLifetime(buffer) {} }
            let scores = buffer.pointer, inverseSums = buffer.pointer + rows * keys
            BLAS.gemm(transB: true, m: rows, n: keys, k: d, alpha: alpha,
                      a: MatrixOperand(qp + (b * nq + q0) * width + h * d, ld: width),
                      b: MatrixOperand(kp + b * nk * width + h * d, ld: width),
                      c: scores, ldc: keys, parallel: false, multiplyIn: multiplyIn)
            for i in 0..<rows {
                let row = scores + i * keys
                if causal {
                    let visible = min(keys, q0 + i + 1)
                    if visible < keys { (row + visible).update(repeating: -.infinity, count: keys - visible) }
                }
                let total = exponentiateRow(row, keys)
                inverseSums[i] = total > 0 ? 1 / total : 0
            }
            let o = op + (b * nq + q0) * valueWidth + h * dv
            BLAS.gemm(m: rows, n: dv, k: keys,
                      a: MatrixOperand(scores, ld: keys),
                      b: MatrixOperand(vp + b * nk * valueWidth + h * dv, ld: valueWidth),
                      c: o, ldc: valueWidth, parallel: false, multiplyIn: multiplyIn)
            // Softmax's division, applied to the dv outputs instead of the nk scores.
            for i in 0..<rows { scaleRow(o + i * valueWidth, dv, by: inverseSums[i]) }
        }
        return out
    }
}

/// Every head's keys (`[Nk, D]`) and transposed values (`vᵀ`, `[Dv, Nk]`) packed for AMX as
/// the left operands of the fused attention's two transposed products (`k qᵀ` and `vᵀ pᵀ`),
/// once per call for every piece of that head. A value past a piece's causal limit
/// multiplies a zero probability.
final class PackedKeysAndValues {
    let storage: TensorStorage
    let keyStride: Int, valueStride: Int
    /// Elements of one head's packed keys, and of its keys and values.
    let keysPerHead: Int, perHead: Int
    let heads: Int

    init(_ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>, batch: Int, heads: Int, nk: Int, d: Int, dv: Int) {
        self.heads = heads
        keyStride = 32 * LayerWeight.padded(d)
        valueStride = 32 * LayerWeight.padded(nk)
        keysPerHead = easel_amx_packed_size(nk, d)
        perHead = keysPerHead + easel_amx_packed_size(dv, nk)
        storage = TensorStorage(uninitializedCount: batch * heads * perHead, elementType: .bfloat16)
        let base = storage.rawPointer.assumingMemoryBound(to: UInt16.self)
        let (width, valueWidth) = (heads * d, heads * dv)
        let (keyStride, valueStride, keysPerHead, perHead) = (keyStride, valueStride, keysPerHead, perHead)
        Parallel.forEach(batch * heads) { index in
            let (b, h) = (index / heads, index % heads)
            let head = base + index * perHead
            easel_amx_pack_a(0, nk, d, k + b * nk * width + h * d, EASEL_FLOAT32, width, head, keyStride)
            easel_amx_pack_a(1, dv, nk, v + b * nk * valueWidth + h * dv, EASEL_FLOAT32, valueWidth,
                             head + keysPerHead, valueStride)
        }
    }

    /// Head h of image b: its keys, then its values.
    private func head(_ b: Int, _ h: Int) -> UnsafeMutablePointer<UInt16> {
        storage.rawPointer.assumingMemoryBound(to: UInt16.self) + (b * heads + h) * perHead
    }

    func keys(_ b: Int, _ h: Int) -> UnsafePointer<UInt16> { UnsafePointer(head(b, h)) }

    func values(_ b: Int, _ h: Int) -> UnsafePointer<UInt16> { UnsafePointer(head(b, h) + keysPerHead) }
}

/// How attention's work is cut into pieces.
struct AttentionPlan {
    let batch: Int, heads: Int, nq: Int
    /// Query rows per piece. The block's scores (`blockQ * nk` floats) should stay in a
    /// core's cache, but each piece also makes OpenBLAS pack the head's keys and values
    /// again (`nk * d` floats each), so blocks must be tall enough, relative to the head
    /// width, for that packing to be cheap next to the products.
    let blockQ: Int
    let blocksPerHead: Int
    let pieceCount: Int

    /// Floats of scores a piece aims for (4 MB).
    static let defaultScoreBudget = 1 << 20

    /// Query rows per piece of the fused attentions, which keep only 32 x 128
    /// scores at a time whatever the piece's height.
    static let fusedRows = 256

    /// The widest heads the fused attention takes. It reads all of a head's keys and values
    /// for every 32 queries, which pays while they stay in L2 (a UNet's heads, 40 to 160
    /// wide); a VAE's single 512-wide head over 4,096 tokens (8 MB of keys and values) runs
    /// faster as two tall products.
    static let fusedHeadWidth = 160

    init(batch: Int, heads: Int, nq: Int, nk: Int, d: Int, scoreBudget: Int = defaultScoreBudget) {
        self.init(batch: batch, heads: heads, nq: nq, rowsPerPiece: max(16, scoreBudget / max(nk, 1), d))
    }

    init(batch: Int, heads: Int, nq: Int, rowsPerPiece: Int) {
        self.batch = batch
        self.heads = heads
        self.nq = nq
        var rows = rowsPerPiece
        // Leave at least two pieces per core when the work allows it.
        let perCore = (batch * heads * nq + 2 * Parallel.coreCount - 1) / (2 * Parallel.coreCount)
        rows = min(rows, max(16, perCore))
        rows = max(1, min(nq, rows))
        // Even blocks: 4,096 queries in blocks of at most 3,404 are two of 2,048.
        blocksPerHead = (nq + rows - 1) / rows
        blockQ = max(1, (nq + blocksPerHead - 1) / blocksPerHead)
        pieceCount = batch * heads * blocksPerHead
    }

    /// (batch index, head, first query row) of a piece.
    func piece(_ index: Int) -> (Int, Int, Int) {
        let block = index % blocksPerHead
        let head = (index / blocksPerHead) % heads
        let b = index / (blocksPerHead * heads)
        return (b, head, block * blockQ)
    }
}
