import Foundation
@testable import EaselTensor

/// SplitMix64: a small seeded generator, so every test sees the same "random" inputs.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Tensor {
    /// Uniform values in `range`, from a seeded generator.
    static func random(_ shape: [Int], seed: UInt64, in range: ClosedRange<Float> = -1...1) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, scalars: (0..<n).map { _ in Float.random(in: range, using: &rng) })
    }
}

/// Max |actual - expected| over max |expected| (the parity measure used across Easel).
func relativeError(_ actual: [Float], _ expected: [Double]) -> Double {
    precondition(actual.count == expected.count, "compared \(actual.count) values with \(expected.count)")
    var maxDiff = 0.0, maxRef = 0.0
    for (a, e) in zip(actual, expected) {
        maxDiff = max(maxDiff, abs(Double(a) - e))
        maxRef = max(maxRef, abs(e))
    }
    if !maxDiff.isFinite { return .infinity }
    return maxRef == 0 ? maxDiff : maxDiff / maxRef
}

func relativeError(_ actual: Tensor, _ expected: [Double]) -> Double {
    relativeError(actual.scalars, expected)
}

func relativeError(_ actual: Tensor, _ expected: Tensor) -> Double {
    relativeError(actual.scalars, expected.scalars.map(Double.init))
}

extension Array where Element == Float {
    var doubles: [Double] { map(Double.init) }
}
