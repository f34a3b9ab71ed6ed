import Testing
@testable import EaselTensor

/// Permutation from the definition: out[idx] = in[idx mapped through axes].
private func referencePermute(_ x: Tensor, _ axes: [Int]) -> [Float] {
    let outShape = axes.map { x.shape[$0] }
    var inStrides = Array(repeating: 1, count: x.rank)
    for a in stride(from: x.rank - 2, through: 0, by: -1) { inStrides[a] = inStrides[a + 1] * x.shape[a + 1] }
    let xs = x.scalars
    var out = [Float]()
    let n = outShape.reduce(1, *)
    for flat in 0..<n {
        var rest = flat, offset = 0
        for a in stride(from: outShape.count - 1, through: 0, by: -1) {
            offset += (rest % outShape[a]) * inStrides[axes[a]]
            rest /= outShape[a]
        }
        out.append(xs[offset])
    }
    return out
}

@Suite struct ShapeOpsTests {
    @Test(arguments: [[0, 2, 3, 1], [0, 3, 1, 2], [0, 2, 1, 3], [3, 2, 1, 0], [1, 0, 2, 3], [0, 1, 2, 3], [2, 0, 3, 1]])
    func permuteMatchesDefinition(axes: [Int]) {
        let x = Tensor.random([2, 3, 5, 7], seed: 61)
        let y = x.permuted(axes)
        #expect(y.shape == axes.map { x.shape[$0] })
        #expect(y.scalars == referencePermute(x, axes))
    }

    @Test func largeTransposesAndUnitAxes() {
        let x = Tensor.random([2, 67, 1, 45], seed: 62)   // [B, C, 1, W] -> [B, 1, W, C]: a batched transpose
        #expect(x.permuted([0, 2, 3, 1]).scalars == referencePermute(x, [0, 2, 3, 1]))
        let big = Tensor.random([2, 320, 64, 64], seed: 63)
        let t = big.permuted([0, 2, 3, 1])
        #expect(t.scalars == referencePermute(big, [0, 2, 3, 1]))
        #expect(t.permuted([0, 3, 1, 2]).scalars == big.scalars)
        #expect(x.transposed(1, 3).scalars == referencePermute(x, [0, 3, 2, 1]))
        let one = Tensor(shape: [1, 1], scalars: [4])
        #expect(one.permuted([1, 0]).scalars == [4])
    }

    @Test func sliceAndChunkAlongEachAxis() {
        let x = Tensor.random([4, 6, 5], seed: 64)
        for axis in 0..<3 {
            let s = x.sliced(axis: axis, 1..<3)
            var shape = x.shape
            shape[axis] = 2
            #expect(s.shape == shape)
            for i in 0..<shape[0] { for j in 0..<shape[1] { for k in 0..<shape[2] {
                var idx = [i, j, k]
                idx[axis] += 1
                #expect(s[i, j, k] == x[idx[0], idx[1], idx[2]])
            } } }
        }
        let halves = x.chunked(2, axis: 1)
        #expect(halves.map(\.shape) == [[4, 3, 5], [4, 3, 5]])
        #expect(Tensor.concatenate(halves, axis: 1).scalars == x.scalars)
        let uneven = x.chunked(4, axis: 2)  // torch.chunk: sizes 2, 2, 1
        #expect(uneven.map { $0.shape[2] } == [2, 2, 1])
    }

    @Test func concatenateAlongEachAxis() {
        let a = Tensor.random([2, 3, 4], seed: 65), b = Tensor.random([2, 3, 4], seed: 66)
        for axis in 0..<3 {
            var bShape = a.shape
            bShape[axis] = 1 + axis
            let bb = Tensor.random(bShape, seed: 67)
            let c = Tensor.concatenate([a, bb], axis: axis)
            #expect(c.shape[axis] == a.shape[axis] + bb.shape[axis])
            #expect(c.sliced(axis: axis, 0..<a.shape[axis]).scalars == a.scalars)
            #expect(c.sliced(axis: axis, a.shape[axis]..<c.shape[axis]).scalars == bb.scalars)
        }
        #expect(Tensor.concatenate([a, b], axis: 0).scalars == a.scalars + b.scalars)
    }

    @Test func gatherRowsIsAnEmbeddingLookup() {
        let table = Tensor.random([10, 4], seed: 68)
        let rows = table.gatherRows([3, 0, 3, 9])
        #expect(rows.shape == [4, 4])
        for (r, id) in [3, 0, 3, 9].enumerated() {
            for j in 0..<4 { #expect(rows[r, j] == table[id, j]) }
        }
    }

    @Test(arguments: [1, 2, 3])
    func nearestUpsampling(factor: Int) {
        let x = Tensor.random([2, 3, 5, 4], seed: 69)
        let y = x.upsampledNearest(factor: factor)
        #expect(y.shape == [2, 3, 5 * factor, 4 * factor])
        for n in 0..<2 { for c in 0..<3 { for i in 0..<(5 * factor) { for j in 0..<(4 * factor) {
            #expect(y[n, c, i, j] == x[n, c, i / factor, j / factor])
        } } } }
    }

    @Test func sumAndMeanAccumulateInDouble() {
        let x = Tensor(repeating: 0.1, shape: [1 << 20])
        #expect(abs(x.sum() - 104857.6) < 0.05)  // a float running sum is off by hundreds
        #expect(abs(x.mean() - 0.1) < 1e-7)
    }
}
