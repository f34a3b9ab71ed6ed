import Foundation
import Testing
@testable import EaselTensor

/// Every product kernel this machine can run (OpenBLAS; AVX-512; AMX), on shapes with
/// ragged edges in every dimension, both transposes, alpha and beta, against a
/// double-precision sum of the same values.
@Suite struct KernelTests {
    /// Shapes that leave partial register tiles (14 x 32 float32, 32 x 32 bfloat16),
    /// cross the k blocks (384 float32, 512 bfloat16) and the panel split.
    static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (13, 31, 7), (15, 33, 385), (33, 65, 513), (70, 17, 1030), (200, 300, 96),
    ]

    @Test(arguments: Kernels.runnable.map(\.rawValue))
    func float32ProductsMatchADoubleSum(kernelBits: UInt32) {
        let kernels = Kernels(rawValue: kernelBits)
        for (index, (m, n, k)) in Self.shapes.enumerated() {
            for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                let worst = Self.check(m: m, n: n, k: k, transA: transA, transB: transB,
                                       aType: .float32, bType: .float32, kernels: kernels,
                                       seed: UInt64(index * 8) + (transA ? 2 : 0) + (transB ? 1 : 0))
                #expect(worst < 2e-6, "\(kernels) m\(m) n\(n) k\(k) tA \(transA) tB \(transB): \(worst)")
            }
        }
    }

    /// bfloat16 products multiply the bfloat16 values of both operands exactly and sum in
    /// float32: the reference rounds float32 operands to bfloat16 first.
    @Test(arguments: Kernels.runnable.map(\.rawValue))
    func bfloat16ProductsMatchADoubleSumOfRoundedOperands(kernelBits: UInt32) {
        let kernels = Kernels(rawValue: kernelBits)
        let types: [(ElementType, ElementType)] = [(.float32, .bfloat16), (.bfloat16, .float32), (.bfloat16, .bfloat16)]
        for (index, (m, n, k)) in Self.shapes.enumerated() {
            for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                for (aType, bType) in types {
                    let worst = Self.check(m: m, n: n, k: k, transA: transA, transB: transB,
                                           aType: aType, bType: bType, kernels: kernels, seed: UInt64(100 + index))
                    #expect(worst < 2e-6, "\(kernels) \(aType)x\(bType) m\(m) n\(n) k\(k) tA \(transA) tB \(transB): \(worst)")
                }
            }
        }
    }

    /// A product's bias, per column or per row, gives the bits of C filled with the bias and
    /// multiplied onto with beta 1 (what `Tensor.linear` and `conv2d` did before the kernels
    /// took the bias), for every kernel, operand type, transpose and split (the larger shapes
    /// are cut into panels), and leaves C past n alone.
    @Test(arguments: Kernels.runnable.map(\.rawValue))
    func aBiasGivesTheSumsOfCFilledWithIt(kernelBits: UInt32) {
        let kernels = Kernels(rawValue: kernelBits)
        let types: [(ElementType, ElementType)] = [(.float32, .float32), (.float32, .bfloat16), (.bfloat16, .bfloat16)]
        for (index, (m, n, k)) in (Self.shapes + [(3000, 70, 40), (70, 3000, 600), (4, 5, 0)]).enumerated() {
            for (transA, transB) in [(false, false), (true, true), (false, true)] {
                for (aType, bType) in types {
                    for perRow in [false, true] {
                        let seed = UInt64(300 + index)
                        let a = Tensor.random(transA ? [k, m] : [m, k], seed: seed).converted(to: aType)
                        let b = Tensor.random(transB ? [n, k] : [k, n], seed: seed + 1000).converted(to: bType)
                        let bias = Tensor.random([max(m, n, 1)], seed: seed + 3000)
                        let ldc = n + 3
                        let start = Tensor.random([m, ldc], seed: seed + 2000)
                        func product(biased: Bool) -> [Float] {
                            var c = start
                            c.withUnsafeMutableBufferPointer { buffer in
                                let cp = buffer.baseAddress!
                                let values = bias.storage.pointer
                                if !biased {
                                    for row in 0..<m {
                                        for column in 0..<n { cp[row * ldc + column] = values[perRow ? row : column] }
                                    }
                                }
                                BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k,
                                          a: MatrixOperand(a, ld: transA ? m : k), b: MatrixOperand(b, ld: transB ? k : n),
                                          beta: biased ? 0 : 1, c: cp, ldc: ldc,
                                          bias: biased ? UnsafePointer(values) : nil, biasPerRow: perRow, kernels: kernels)
                            }
                            return c.scalars
                        }
                        #expect(product(biased: true) == product(biased: false),
                                "\(kernels) \(aType)x\(bType) m\(m) n\(n) k\(k) tA \(transA) tB \(transB) per row \(perRow)")
                    }
                }
            }
        }
    }

    @Test func roundingToBFloat16IsNearestEven() {
        let values: [Float] = [1, -2.5, 1 + 0x1p-8, 1 + 0x1p-7 + 0x1p-8, 1 + 0x1p-8 + 0x1p-20, .infinity, -.infinity,
                               .greatestFiniteMagnitude, 0, -0.0]
        let expected: [Float] = [1, -2.5, 1, 1 + 0x1p-6, 1 + 0x1p-7, .infinity, -.infinity, .infinity, 0, -0.0]
        // 32 copies so that the vector path and its scalar tail both run.
        let many = Array(repeating: values, count: 4).flatMap { $0 }
        let rounded = Tensor(shape: [many.count], scalars: many).converted(to: .bfloat16)
        #expect(rounded.elementType == .bfloat16)
        for (i, value) in rounded.scalars.enumerated() {
            let want = expected[i % values.count]
            #expect(value.bitPattern == want.bitPattern, "\(many[i]) -> \(value), want \(want)")
        }
        let nan = Tensor(shape: [1], scalars: [.nan]).converted(to: .bfloat16).scalars[0]
        #expect(nan.isNaN)
        #expect(rounded.converted(to: .float32).scalars == rounded.scalars)
    }

    @Test func bfloat16WeightsInLinearAndConvolutionMatchTheirWidenedValues() {
        let x = Tensor.random([2, 5, 48], seed: 7)
        let weight = Tensor.random([40, 48], seed: 8).converted(to: .bfloat16)
        let bias = Tensor.random([40], seed: 9)
        let wide = weight.converted(to: .float32)
        let roundedX = x.converted(to: .bfloat16).converted(to: .float32)
        let got = Tensor.linear(x, weight: weight, bias: bias)
        let want = Tensor.linear(roundedX, weight: wide, bias: bias)
        #expect(relativeError(got, want.scalars.map(Double.init)) < 1e-5)

        for (h, cin, cout) in [(20, 40, 8), (6, 16, 64)] {  // shifted products, then im2col
            let image = Tensor.random([2, cin, h, h], seed: 10)
            let kernel = Tensor.random([cout, cin, 3, 3], seed: 11).converted(to: .bfloat16)
            let b = Tensor.random([cout], seed: 12)
            let conv = Tensor.conv2d(image, weight: kernel, bias: b, padding: 1)
            let reference = Tensor.conv2d(image.converted(to: .bfloat16).converted(to: .float32),
                                          weight: kernel.converted(to: .float32), bias: b, padding: 1)
            #expect(relativeError(conv, reference.scalars.map(Double.init)) < 1e-5, "conv \(h)x\(h) \(cin)->\(cout)")
        }
    }

    /// Worst |C - reference| over the reference's largest |term| sum, for one product.
    static func check(m: Int, n: Int, k: Int, transA: Bool, transB: Bool,
                      aType: ElementType, bType: ElementType, kernels: Kernels, seed: UInt64) -> Double {
        let a = Tensor.random(transA ? [k, m] : [m, k], seed: seed).converted(to: aType)
        let b = Tensor.random(transB ? [n, k] : [k, n], seed: seed + 1000).converted(to: bType)
        // The values the product multiplies: bfloat16 ones, when either operand is bfloat16.
        let mixed = aType != .float32 || bType != .float32
        let av = mixed ? a.converted(to: .bfloat16).scalars : a.scalars
        let bv = mixed ? b.converted(to: .bfloat16).scalars : b.scalars
        let ldc = n + 3
        let c = Tensor.random([m, ldc], seed: seed + 2000)
        let before = c.scalars
        BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5,
                  a: MatrixOperand(a, ld: transA ? m : k), b: MatrixOperand(b, ld: transB ? k : n),
                  beta: 0.25, c: c.storage.pointer, ldc: ldc, kernels: kernels)
        let cv = c.scalars
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<ldc {
                guard j < n else {
                    if cv[i * ldc + j] != before[i * ldc + j] { return .infinity }  // past n: untouched
                    continue
                }
                var s = 0.0, magnitude = 0.0
                for p in 0..<k {
                    let term = Double(transA ? av[p * m + i] : av[i * k + p]) * Double(transB ? bv[j * k + p] : bv[p * n + j])
                    s += term
                    magnitude += abs(term)
                }
                let expected = 0.5 * s + 0.25 * Double(before[i * ldc + j])
                worst = max(worst, abs(Double(cv[i * ldc + j]) - expected) / max(1, magnitude))
            }
        }
        return worst
    }
}
