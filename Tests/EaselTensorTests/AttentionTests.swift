import Foundation
import Testing
@testable import EaselTensor

/// Attention per head from the definition, in Double, materialising every score.
private func referenceAttention(
    q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Double?, causal: Bool
) -> [Double] {
    let (b, nq, width) = (q.shape[0], q.shape[1], q.shape[2])
    let (nk, vWidth) = (k.shape[1], v.shape[2])
    let d = width / heads, dv = vWidth / heads
    let s = scale ?? 1 / Double(d).squareRoot()
    let qs = q.scalars.doubles, ks = k.scalars.doubles, vs = v.scalars.doubles
    var out = [Double](repeating: 0, count: b * nq * vWidth)
    for n in 0..<b {
        for h in 0..<heads {
            for i in 0..<nq {
                var scores = [Double](repeating: -.infinity, count: nk)
                for j in 0..<nk where !causal || j <= i {
                    var dot = 0.0
                    for p in 0..<d { dot += qs[(n * nq + i) * width + h * d + p] * ks[(n * nk + j) * width + h * d + p] }
                    scores[j] = dot * s
                }
                let m = scores.max()!
                let e = scores.map { exp($0 - m) }
                let total = e.reduce(0, +)
                for p in 0..<dv {
                    var acc = 0.0
                    for j in 0..<nk { acc += e[j] / total * vs[(n * nk + j) * vWidth + h * dv + p] }
                    out[(n * nq + i) * vWidth + h * dv + p] = acc
                }
            }
        }
    }
    return out
}

@Suite struct AttentionTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var batch = 1, nq = 5, nk = 5, heads = 1, d = 8, dv = 8
        var causal = false
        var scale: Float? = nil
        var testDescription: String { "b\(batch) nq\(nq) nk\(nk) h\(heads) d\(d)/\(dv) causal \(causal) scale \(String(describing: scale))" }
    }

    static let cases: [Case] = [
        Case(),
        Case(nq: 1, nk: 1),
        Case(batch: 2, nq: 77, nk: 77, heads: 8, d: 8, dv: 8, causal: true),
        Case(batch: 2, nq: 77, nk: 77, heads: 8, d: 8, dv: 8),
        Case(nq: 13, nk: 13, heads: 1, causal: true),
        Case(nq: 300, nk: 77, heads: 8, d: 5, dv: 5),             // cross-attention shape
        Case(nq: 333, nk: 333, heads: 2, d: 4, dv: 4),            // queries not a multiple of the block
        Case(batch: 2, nq: 41, nk: 600, heads: 3, d: 6, dv: 4, scale: 0.3),
        Case(nq: 600, nk: 600, heads: 1, d: 3, dv: 3, causal: true), // causal across several blocks
        Case(nq: 7, nk: 3, heads: 2, d: 4, dv: 4, causal: true),    // more queries than keys
        Case(batch: 2, nq: 70, nk: 300, heads: 2, d: 40, dv: 20),   // fused: ragged query blocks, key chunks, value columns
        Case(nq: 40, nk: 300, heads: 1, d: 192, dv: 192),           // wider than the fused kernel takes
    ]

    @Test(arguments: cases)
    func matchesMaterialisedReference(_ c: Case) {
        let q = Tensor.random([c.batch, c.nq, c.heads * c.d], seed: 51, in: -2...2)
        let k = Tensor.random([c.batch, c.nk, c.heads * c.d], seed: 52, in: -2...2)
        let v = Tensor.random([c.batch, c.nk, c.heads * c.dv], seed: 53)
        let y = Tensor.attention(query: q, key: k, value: v, heads: c.heads, scale: c.scale, causal: c.causal)
        #expect(y.shape == [c.batch, c.nq, c.heads * c.dv])
        let ref = referenceAttention(q: q, k: k, v: v, heads: c.heads, scale: c.scale.map(Double.init), causal: c.causal)
        #expect(relativeError(y, ref) < 1e-5)
    }

    @Test func blocksOfQueriesBoundTheScoreBuffer() {
        let plan = AttentionPlan(batch: 2, heads: 8, nq: 4096, nk: 4096, d: 40)
        #expect(plan.blockQ * 4096 <= AttentionPlan.defaultScoreBudget)
        #expect(plan.blockQ < 4096)
        // Wide heads get taller blocks, so repacking keys and values per block stays cheap.
        #expect(AttentionPlan(batch: 1, heads: 1, nq: 4096, nk: 4096, d: 512).blockQ >= 512)
        #expect(plan.pieceCount == 2 * 8 * ((4096 + plan.blockQ - 1) / plan.blockQ))
        // Pieces are distinct (batch, head, block) triples covering every query row.
        let pieces = (0..<plan.pieceCount).map { plan.piece($0) }
        #expect(Set(pieces.map { "\($0.0),\($0.1),\($0.2)" }).count == plan.pieceCount)
        #expect(pieces.allSatisfy { $0.2 < 4096 && $0.2 % plan.blockQ == 0 })
    }

    /// bfloat16 products (as models loaded in bf16 run them): within bfloat16's rounding of
    /// the float32 definition, on shapes with ragged heads and blocks.
    @Test func bfloat16ProductsStayWithinRoundingOfTheDefinition() {
        // With AMX or AVX-512 BF16 these run fused: several blocks of 32 queries (and a last
        // one of 16 or fewer), several chunks of 128 keys, odd numbers of 16-wide value tiles,
        // an odd head width; the last, wider than the fused kernel takes, as two products.
        for (nq, nk, heads, d, causal) in [(70, 77, 2, 40, false), (300, 300, 1, 64, false), (33, 5, 3, 8, false),
                                           (77, 77, 12, 64, true), (40, 40, 2, 24, true), (150, 600, 2, 80, false),
                                           (600, 600, 1, 40, true), (20, 300, 1, 160, false), (1, 129, 1, 48, false),
                                           (50, 90, 2, 33, true), (40, 300, 1, 192, false)] {
            let q = Tensor.random([2, nq, heads * d], seed: 31)
            let k = Tensor.random([2, nk, heads * d], seed: 32)
            let v = Tensor.random([2, nk, heads * d], seed: 33)
            let reference = referenceAttention(q: q, k: k, v: v, heads: heads, scale: nil, causal: causal)
            let bf16 = Tensor.attention(query: q, key: k, value: v, heads: heads, causal: causal, multiplyIn: .bfloat16)
            let float = Tensor.attention(query: q, key: k, value: v, heads: heads, causal: causal)
            let error = relativeError(bf16, reference)
            #expect(error < 2e-2, "\(nq)x\(nk) heads \(heads) d \(d) causal \(causal): \(error)")
            #expect(relativeError(float, reference) < 1e-5)
        }
    }

    /// Sharp softmaxes (large scores, maxima that grow from one chunk of keys to the next,
    /// exponentials that underflow) and a negative scale: as exact as the definition on the
    /// same bfloat16 operands up to the rounding of the probabilities (against float32
    /// operands such scores differ by several percent from the rounding of q and k alone),
    /// and in float32 as exact as the definition.
    @Test func attentionWithLargeScores() {
        func rounded(_ x: Tensor) -> Tensor { x.converted(to: .bfloat16).converted(to: .float32) }
        for (scale, causal) in [(Float?.none, false), (Float?.none, true), (Float(-0.2), false)] {
            let (nq, nk, heads, d) = (96, 520, 2, 40)
            // Keys grow along the sequence, so later chunks hold larger maxima.
            let ramp = Tensor(shape: [1, nk, 1], scalars: (0..<nk).map { 1 + Float($0) / 64 })
            let q = rounded(Tensor.random([1, nq, heads * d], seed: 41, in: -3...3))
            let k = rounded(Tensor.random([1, nk, heads * d], seed: 42, in: -3...3) * ramp)
            let v = rounded(Tensor.random([1, nk, heads * d], seed: 43))
            let reference = referenceAttention(q: q, k: k, v: v, heads: heads, scale: scale.map(Double.init), causal: causal)
            let bf16 = Tensor.attention(query: q, key: k, value: v, heads: heads, scale: scale, causal: causal,
                                        multiplyIn: .bfloat16)
            #expect(relativeError(bf16, reference) < 1e-2, "scale \(String(describing: scale)) causal \(causal)")
            let float = Tensor.attention(query: q, key: k, value: v, heads: heads, scale: scale, causal: causal)
            #expect(relativeError(float, reference) < 1e-5, "float32, scale \(String(describing: scale)) causal \(causal)")
        }
    }
}
