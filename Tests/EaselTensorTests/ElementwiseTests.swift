import Testing
@testable import EaselTensor

@Suite struct ElementwiseTests {
    @Test func sameShapeArithmetic() {
        let a = Tensor.random([3, 37], seed: 71), b = Tensor.random([3, 37], seed: 72, in: 0.5...2)
        let (av, bv) = (a.scalars, b.scalars)
        #expect((a + b).scalars == zip(av, bv).map { $0 + $1 })
        #expect((a - b).scalars == zip(av, bv).map { $0 - $1 })
        #expect((a * b).scalars == zip(av, bv).map { $0 * $1 })
        #expect((a / b).scalars == zip(av, bv).map { $0 / $1 })
        #expect((a + 2).scalars == av.map { $0 + 2 })
        #expect((a - 2).scalars == av.map { $0 - 2 })
        #expect((a * 3).scalars == av.map { $0 * 3 })
        #expect((3 * a).scalars == av.map { 3 * $0 })
        #expect((a / 4).scalars == av.map { $0 / 4 })
        #expect((-a).scalars == av.map { -$0 })
        #expect(a.blended(0.3, b, 0.7).scalars == zip(av, bv).map { 0.3 * $0 + 0.7 * $1 })
        #expect(a.clamped(to: -0.5...0.5).scalars == av.map { min(max($0, -0.5), 0.5) })
        #expect(a.map { $0 * $0 }.scalars == av.map { $0 * $0 })
    }

    @Test(arguments: [[5, 1, 1], [2, 5, 1, 1], [7], [1], [1, 1, 1, 7], [6, 7], [2, 1, 6, 7]])
    func rightOperandBroadcasts(bShape: [Int]) {
        let a = Tensor.random([2, 5, 6, 7], seed: 73)
        let b = Tensor.random(bShape, seed: 74)
        let padded = Array(repeating: 1, count: 4 - bShape.count) + bShape
        let sum = a + b, product = a * b
        for n in 0..<2 { for c in 0..<5 { for h in 0..<6 { for w in 0..<7 {
            let idx = [n, c, h, w].enumerated().map { padded[$0.offset] == 1 ? 0 : $0.element }
            var flat = 0
            for (i, e) in zip(idx, padded) { flat = flat * e + i }
            #expect(sum[n, c, h, w] == a[n, c, h, w] + b.scalars[flat])
            #expect(product[n, c, h, w] == a[n, c, h, w] * b.scalars[flat])
        } } } }
    }

    @Test func largeTensorsAndInPlaceAdd() {
        let a = Tensor.random([2, 64, 33, 33], seed: 75), b = Tensor.random([2, 64, 33, 33], seed: 76)
        let expected = zip(a.scalars, b.scalars).map { $0 + $1 }
        #expect((a + b).scalars == expected)
        var c = a
        c += b
        #expect(c.scalars == expected)
        #expect(a.scalars != expected)  // `a` shared storage with `c` and was not modified
        var d = Tensor.random([2, 64, 33, 33], seed: 75)
        d += Tensor.random([64, 1, 1], seed: 77)
        #expect(d[1, 3, 4, 5] == a[1, 3, 4, 5] + Tensor.random([64, 1, 1], seed: 77)[3, 0, 0])
    }
}

@Suite struct BroadcastPlanTests {
    @Test func axesThatBroadcastAlikeMerge() {
        let bias = BroadcastPlan(target: [2, 320, 64, 64], operand: [320, 1, 1])
        #expect(bias.inner == 4096 && bias.rows == 640 && bias.innerBroadcast)
        let temb = BroadcastPlan(target: [2, 320, 64, 64], operand: [2, 320, 1, 1])
        #expect(temb.inner == 4096 && temb.rows == 640 && temb.innerBroadcast)
        let row = BroadcastPlan(target: [2, 4096, 320], operand: [320])
        #expect(row.inner == 320 && row.rows == 8192 && !row.innerBroadcast)
        #expect(row.operandOffset(row: 5000) == 0)
        let mixed = BroadcastPlan(target: [2, 5, 6, 7], operand: [2, 1, 6, 7])
        #expect(mixed.inner == 42 && mixed.rows == 10 && !mixed.innerBroadcast)
        #expect(mixed.operandOffset(row: 7) == 42)  // row 7 is batch 1, channel 2
    }
}
