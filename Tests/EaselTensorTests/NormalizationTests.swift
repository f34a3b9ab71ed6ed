import Foundation
import Testing
@testable import EaselTensor

private func silu(_ x: Double) -> Double { x / (1 + exp(-x)) }

/// Group norm from the definition, in Double.
private func referenceGroupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Double, silu fuse: Bool) -> [Double] {
    let (b, c) = (x.shape[0], x.shape[1])
    let spatial = x.count / (b * c)
    let xs = x.scalars.doubles
    var out = [Double](repeating: 0, count: xs.count)
    let per = c / groups
    for n in 0..<b {
        for g in 0..<groups {
            let start = (n * c + g * per) * spatial, end = start + per * spatial
            let values = xs[start..<end]
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
            for i in start..<end {
                let ch = (i / spatial) % c
                var y = (xs[i] - mean) / (variance + eps).squareRoot()
                y = y * Double(weight?.scalars[ch] ?? 1) + Double(bias?.scalars[ch] ?? 0)
                out[i] = fuse ? silu(y) : y
            }
        }
    }
    return out
}

@Suite struct NormalizationTests {
    @Test(arguments: [(1, 1), (2, 32), (2, 4), (1, 3)])
    func groupNormMatchesReference(batch: Int, groups: Int) {
        let channels = groups == 32 ? 64 : 2 * groups
        let x = Tensor.random([batch, channels, 5, 7], seed: 31, in: -3...5)
        let w = Tensor.random([channels], seed: 32), b = Tensor.random([channels], seed: 33)
        for fuse in [false, true] {
            let y = x.groupNorm(groups: groups, weight: w, bias: b, epsilon: 1e-6, fusingSiLU: fuse)
            #expect(y.shape == x.shape)
            let ref = referenceGroupNorm(x, groups: groups, weight: w, bias: b, eps: 1e-6, silu: fuse)
            #expect(relativeError(y, ref) < 1e-5)
        }
    }

    /// The AVX-512 C affine pass (with SiLU or not) gives the Swift vectors' bits, with
    /// ragged planes and values far into SiLU's tails.
    @Test(.enabled(if: Kernels.current.contains(.avx512)))
    func groupNormInCGivesTheSwiftBits() {
        let x = Tensor.random([2, 64, 9, 13], seed: 38, in: -60...60)
        let w = Tensor.random([64], seed: 39, in: -4...4), b = Tensor.random([64], seed: 40)
        for fuse in [false, true] {
            let c = x.groupNorm(groups: 32, weight: w, bias: b, epsilon: 1e-5, fusingSiLU: fuse, kernels: .current)
            let swift = x.groupNorm(groups: 32, weight: w, bias: b, epsilon: 1e-5, fusingSiLU: fuse, kernels: [])
            #expect(c.scalars.map(\.bitPattern) == swift.scalars.map(\.bitPattern), "SiLU \(fuse)")
        }
    }

    @Test func groupNormWithoutAffineAndLargeOffset() {
        // A large mean over many elements: one-pass float statistics would lose the variance.
        let x = Tensor.random([1, 8, 64, 64], seed: 34, in: 999...1001)
        let y = x.groupNorm(groups: 2, weight: nil, bias: nil, epsilon: 1e-5)
        let ref = referenceGroupNorm(x, groups: 2, weight: nil, bias: nil, eps: 1e-5, silu: false)
        #expect(relativeError(y, ref) < 1e-4)
    }

    @Test(arguments: [1, 7, 16, 77, 768])
    func layerNormMatchesReference(width: Int) {
        let x = Tensor.random([3, 5, width], seed: 35, in: -2...4)
        let w = Tensor.random([width], seed: 36), b = Tensor.random([width], seed: 37)
        let y = x.layerNorm(weight: w, bias: b, epsilon: 1e-5)
        let xs = x.scalars.doubles
        var ref = [Double](repeating: 0, count: xs.count)
        for row in 0..<15 {
            let values = xs[(row * width)..<((row + 1) * width)]
            let mean = values.reduce(0, +) / Double(width)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(width)
            for i in 0..<width {
                ref[row * width + i] = (xs[row * width + i] - mean) / (variance + 1e-5).squareRoot()
                    * Double(w.scalars[i]) + Double(b.scalars[i])
            }
        }
        #expect(relativeError(y, ref) < 1e-5)
        let plain = x.layerNorm(weight: nil, bias: nil)
        #expect(plain.shape == x.shape)
    }

    @Test(arguments: [1, 5, 16, 77, 4099])
    func softmaxMatchesReference(width: Int) {
        let x = Tensor.random([4, width], seed: 38, in: -30...30)
        let y = x.softmax()
        let xs = x.scalars.doubles
        var ref = [Double]()
        for row in 0..<4 {
            let values = xs[(row * width)..<((row + 1) * width)]
            let m = values.max()!
            let e = values.map { exp($0 - m) }
            let s = e.reduce(0, +)
            ref += e.map { $0 / s }
        }
        #expect(relativeError(y, ref) < 1e-5)
        // Each row sums to one.
        for row in 0..<4 {
            let s = y.scalars[(row * width)..<((row + 1) * width)].reduce(0, +)
            #expect(abs(s - 1) < 1e-5)
        }
    }

    @Test func softmaxIsStableForHugeAndMaskedValues() {
        let x = Tensor(shape: [2, 3], scalars: [1000, 1000, -.infinity, -.infinity, -.infinity, -.infinity])
        let y = x.softmax().scalars
        #expect(y[0] == 0.5 && y[1] == 0.5 && y[2] == 0)
        #expect(y[3...].allSatisfy { $0 == 0 })
    }
}
