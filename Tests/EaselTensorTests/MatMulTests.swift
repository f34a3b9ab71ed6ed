import Testing
@testable import EaselTensor

/// Naive `[M, K] x [K, N]` (or `[N, K]` transposed) in Double.
private func referenceMatmul(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int, transposeB: Bool) -> [Double] {
    var out = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                s += Double(a[i * k + p]) * Double(transposeB ? b[j * k + p] : b[p * n + j])
            }
            out[i * n + j] = s
        }
    }
    return out
}

@Suite struct MatMulTests {
    @Test(arguments: [(1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 40, 77)])
    func matmul2D(m: Int, k: Int, n: Int) {
        for transposeB in [false, true] {
            let a = Tensor.random([m, k], seed: 1)
            let b = Tensor.random(transposeB ? [n, k] : [k, n], seed: 2)
            let c = Tensor.matmul(a, b, transposeB: transposeB)
            #expect(c.shape == [m, n])
            let ref = referenceMatmul(a.scalars, b.scalars, m: m, k: k, n: n, transposeB: transposeB)
            #expect(relativeError(c, ref) < 1e-5)
        }
    }

    @Test func leadingAxesFoldIntoRowsWithSharedRightOperand() {
        let a = Tensor.random([2, 3, 5, 6], seed: 3)
        let b = Tensor.random([6, 4], seed: 4)
        let c = Tensor.matmul(a, b)
        #expect(c.shape == [2, 3, 5, 4])
        let ref = referenceMatmul(a.scalars, b.scalars, m: 30, k: 6, n: 4, transposeB: false)
        #expect(relativeError(c, ref) < 1e-5)
    }

    @Test(arguments: [false, true])
    func batchedMatmul(transposeB: Bool) {
        let (batch, m, k, n) = (6, 7, 11, 5)
        let a = Tensor.random([2, 3, m, k], seed: 5)
        let b = Tensor.random(transposeB ? [2, 3, n, k] : [2, 3, k, n], seed: 6)
        let c = Tensor.matmul(a, b, transposeB: transposeB)
        #expect(c.shape == [2, 3, m, n])
        var ref: [Double] = []
        let (av, bv) = (a.scalars, b.scalars)
        for i in 0..<batch {
            ref += referenceMatmul(Array(av[(i * m * k)..<((i + 1) * m * k)]), Array(bv[(i * k * n)..<((i + 1) * k * n)]),
                                   m: m, k: k, n: n, transposeB: transposeB)
        }
        #expect(relativeError(c, ref) < 1e-5)
    }

    @Test(arguments: [true, false])
    func linearMatchesReference(withBias: Bool) {
        let (rows, inF, outF) = (2 * 13, 19, 23)
        let x = Tensor.random([2, 13, inF], seed: 7)
        let w = Tensor.random([outF, inF], seed: 8)
        let bias = withBias ? Tensor.random([outF], seed: 9) : nil
        let y = Tensor.linear(x, weight: w, bias: bias)
        #expect(y.shape == [2, 13, outF])
        var ref = referenceMatmul(x.scalars, w.scalars, m: rows, k: inF, n: outF, transposeB: true)
        if let bias {
            for r in 0..<rows { for o in 0..<outF { ref[r * outF + o] += Double(bias.scalars[o]) } }
        }
        #expect(relativeError(y, ref) < 1e-5)
    }

    @Test func linearOfLargeInputUsesOneProduct() {
        // Big enough that the product is cut into panels and the bias fill is split across cores.
        let x = Tensor.random([300, 64], seed: 10)
        let w = Tensor.random([96, 64], seed: 11)
        let bias = Tensor.random([96], seed: 12)
        let y = Tensor.linear(x, weight: w, bias: bias)
        var ref = referenceMatmul(x.scalars, w.scalars, m: 300, k: 64, n: 96, transposeB: true)
        for r in 0..<300 { for o in 0..<96 { ref[r * 96 + o] += Double(bias.scalars[o]) } }
        #expect(relativeError(y, ref) < 1e-5)
    }

    /// A feed-forward projection gated in chunks of rows (`linearGEGLU`) gives the bits of the
    /// product followed by `geglu`: float32 and bfloat16-packed weights, rows that end in a
    /// partial chunk, more chunks than pieces, with and without a bias; and where it does
    /// not fuse (too few rows, a weight over 4 MB) it is the two operations anyway.
    @Test(arguments: [ElementType.float32, .bfloat16])
    func linearGEGLUGivesTheBitsOfLinearThenGEGLU(weightType: ElementType) {
        for (batch, tokens, inner, outer, withBias) in [(2, 75, 40, 96, true), (1, 1000, 64, 320, false), (2, 37, 48, 64, true),
                                                         (1, 200, 1024, 2048, true)] {
            let x = Tensor.random([batch, tokens, inner], seed: UInt64(tokens))
            let weight = LayerWeight(linear: Tensor.random([outer, inner], seed: UInt64(outer), in: -0.2...0.2).converted(to: weightType))
            let bias = withBias ? Tensor.random([outer], seed: 3) : nil
            let fused = Tensor.linearGEGLU(x, weight: weight, bias: bias)
            let separate = Tensor.linear(x, weight: weight, bias: bias).geglu()
            #expect(fused.shape == [batch, tokens, outer / 2])
            #expect(fused.scalars == separate.scalars, "\(weightType) \(batch)x\(tokens)x\(inner) -> \(outer)")
            let bfloat16 = weightType == .bfloat16
            let expectFused = Kernels.current.contains(.avx512) && BLAS.fusesInRowChunks(bfloat16: bfloat16)
                && batch * tokens >= 2 * BLAS.chunkRows(bfloat16: bfloat16) && outer * inner * weightType.byteSize <= 4 << 20
            #expect(Tensor.fusesLinearGEGLU(x, weight: weight, kernels: .current) == expectFused)
        }
    }
}
