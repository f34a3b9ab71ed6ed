import Foundation
import Testing
@testable import EaselTensor

private func gelu(_ x: Double) -> Double { 0.5 * x * (1 + erf(x / 2.0.squareRoot())) }
private func geluTanh(_ x: Double) -> Double { 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))) }
private func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

@Suite struct ActivationTests {
    /// Inputs over the range activations see, plus extremes, in a ragged length.
    static let input: Tensor = {
        let body = Tensor.random([1001], seed: 41, in: -12...12).scalars
        return Tensor(shape: [1011], scalars: body + [0, -0, 1e-8, -1e-8, 80, -80, 100, -100, 1e30, -1e30])
    }()

    private func check(_ actual: Tensor, _ f: (Double) -> Double, tolerance: Double) {
        let ref = Self.input.scalars.map { f(Double($0)) }
        #expect(actual.shape == Self.input.shape)
        // Absolute error for small outputs, relative for large ones.
        for (a, e) in zip(actual.scalars, ref) {
            #expect(abs(Double(a) - e) <= tolerance * max(1, abs(e)), "got \(a), want \(e)")
        }
    }

    @Test func silu() { check(Self.input.silu(), { $0 * sigmoid($0) }, tolerance: 1e-6) }
    @Test func sigmoidFunction() { check(Self.input.sigmoid(), sigmoid, tolerance: 1e-6) }
    @Test func geluExact() { check(Self.input.gelu(), gelu, tolerance: 1e-6) }
    @Test func geluTanhApproximation() { check(Self.input.gelu(approximation: .tanh), geluTanh, tolerance: 1e-6) }
    @Test func quickGELU() { check(Self.input.quickGELU(), { $0 * sigmoid(1.702 * $0) }, tolerance: 1e-6) }

    /// GEGLU's AVX-512 C gating gives the Swift vectors' bits, over the activation range,
    /// extremes, infinities and NaN, with ragged rows.
    @Test(.enabled(if: Kernels.current.contains(.avx512)))
    func gegluInCGivesTheSwiftBits() {
        let gates = Self.input.scalars + [.infinity, -.infinity, .nan, 88.3, -88, 3e-39, -3e-39]
        let hidden = Tensor.random([gates.count], seed: 43, in: -3...3).scalars
        let x = Tensor(shape: [1, gates.count * 2], scalars: hidden + gates)
        let c = x.geglu(approximation: .none, kernels: .current).scalars
        let swift = x.geglu(approximation: .none, kernels: []).scalars
        #expect(c.count == gates.count)
        for (i, (a, b)) in zip(c, swift).enumerated() {
            #expect(a.bitPattern == b.bitPattern, "gate \(gates[i]): \(a) against \(b)")
        }
        // Many rows, split across threads.
        let wide = Tensor.random([3, 70, 2 * 333], seed: 44, in: -6...6)
        #expect(wide.geglu(approximation: .none, kernels: .current).scalars == wide.geglu(approximation: .none, kernels: []).scalars)
    }

    @Test(arguments: [GELUApproximation.none, .tanh])
    func gegluGatesTheFirstHalfByTheSecond(approximation: GELUApproximation) {
        let f = 37
        let x = Tensor.random([2, 3, 2 * f], seed: 42, in: -4...4)
        let y = x.geglu(approximation: approximation)
        #expect(y.shape == [2, 3, f])
        let xs = x.scalars.doubles
        var ref = [Double]()
        for row in 0..<6 {
            for i in 0..<f {
                let hidden = xs[row * 2 * f + i], gate = xs[row * 2 * f + f + i]
                ref.append(hidden * (approximation == .none ? gelu(gate) : geluTanh(gate)))
            }
        }
        #expect(relativeError(y, ref) < 1e-6)
    }

    @Test func largeTensorsSplitAcrossCoresAgree() {
        let x = Tensor.random([300_001], seed: 43, in: -8...8)
        let y = x.silu()
        let ref = x.scalars.map { Double($0) * sigmoid(Double($0)) }
        #expect(relativeError(y, ref) < 1e-6)
    }
}
