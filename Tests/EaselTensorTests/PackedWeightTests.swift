import CEaselKernels
import Foundation
import Testing
@testable import EaselTensor

/// Weights packed once for bfloat16 products (`LayerWeight`): the same products as packing
/// per call, on AMX tiles and with AVX-512 BF16 dot products. Runs where the CPU multiplies
/// in bfloat16; elsewhere a weight stays a tensor, which the other suites cover (and
/// `.ci/run` runs them under EASEL_CPU=baseline and avx512-bf16 too).
@Suite(.enabled(if: Kernels.current.multipliesBFloat16))
struct PackedWeightTests {
    /// The kernel sets that multiply in bfloat16 here: AMX, and the dot products.
    static let bfloat16KernelBits = Kernels.runnable.filter(\.multipliesBFloat16).map(\.rawValue)

    /// A packed operand covers all of k, so the sums are bit for bit those of the operand
    /// packed per call: across k blocks (512), ragged panels, the column and row splits
    /// across threads, alpha and beta.
    @Test(arguments: bfloat16KernelBits)
    func packedOperandsGiveTheSumsOfPackingPerCall(kernelBits: UInt32) {
        let kernels = Kernels(rawValue: kernelBits)
        for (index, (m, n, k)) in [(13, 31, 7), (33, 65, 513), (70, 17, 1030), (300, 700, 130), (900, 96, 200)].enumerated() {
            for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                let seed = UInt64(index * 10) + (transA ? 2 : 0) + (transB ? 1 : 0)
                let a = Tensor.random(transA ? [k, m] : [m, k], seed: seed).converted(to: .bfloat16)
                let b = Tensor.random(transB ? [n, k] : [k, n], seed: seed + 500)
                let (lda, ldb) = (transA ? m : k, transB ? k : n)
                let packedA = Self.pack(a, rows: m, k: k, transposed: transA, ld: lda, asA: true)
                let packedB = Self.pack(b, rows: n, k: k, transposed: transB, ld: ldb, asA: false)
                let start = Tensor.random([m, n], seed: seed + 900)
                func product(_ opA: MatrixOperand, _ tA: Bool, _ opB: MatrixOperand, _ tB: Bool) -> [Float] {
                    var c = start
                    c.withUnsafeMutableBufferPointer { c in
                        BLAS.gemm(transA: tA, transB: tB, m: m, n: n, k: k, alpha: 0.5, a: opA, b: opB,
                                  beta: 0.25, c: c.baseAddress!, ldc: n, kernels: kernels)
                    }
                    return c.scalars
                }
                let perCall = product(MatrixOperand(a, ld: lda), transA, MatrixOperand(b, ld: ldb), transB)
                let name = "\(kernels): m\(m) n\(n) k\(k) tA \(transA) tB \(transB)"
                #expect(product(packedA.operand, false, MatrixOperand(b, ld: ldb), transB) == perCall, "A packed, \(name)")
                #expect(product(MatrixOperand(a, ld: lda), transA, packedB.operand, false) == perCall, "B packed, \(name)")
                #expect(product(packedA.operand, false, packedB.operand, false) == perCall, "both packed, \(name)")
            }
        }
    }

    /// A product cut into panels packs the operand they all read once, for all of them: the
    /// same bits as the product in one piece, cut by columns (A shared) or rows (B shared),
    /// float32 or bfloat16, transposed or not, the other operand packed or not.
    @Test(arguments: bfloat16KernelBits)
    func panelsShareAnOperandPackedOnce(kernelBits: UInt32) {
        let kernels = Kernels(rawValue: kernelBits)
        for (index, (m, n, k)) in [(300, 3000, 200), (3000, 300, 520), (200, 2100, 40)].enumerated() {
            #expect(BLAS.PanelSplit(m: m, n: n, k: k) != .none)
            for (transA, transB) in [(false, false), (true, true)] {
                for type in [ElementType.float32, .bfloat16] {
                    let seed = UInt64(700 + index * 4) + (transA ? 2 : 0)
                    let a = Tensor.random(transA ? [k, m] : [m, k], seed: seed).converted(to: type)
                    let b = Tensor.random(transB ? [n, k] : [k, n], seed: seed + 1).converted(to: .bfloat16)
                    let (lda, ldb) = (transA ? m : k, transB ? k : n)
                    let packedB = Self.pack(b, rows: n, k: k, transposed: transB, ld: ldb, asA: false)
                    for (opB, tB) in [(MatrixOperand(b, ld: ldb), transB), (packedB.operand, false)] {
                        func product(parallel: Bool) -> [Float] {
                            var c = Tensor(zeros: [m, n])
                            c.withUnsafeMutableBufferPointer { c in
                                BLAS.gemm(transA: transA, transB: tB, m: m, n: n, k: k, a: MatrixOperand(a, ld: lda), b: opB,
                                          c: c.baseAddress!, ldc: n, parallel: parallel, kernels: kernels)
                            }
                            return c.scalars
                        }
                        #expect(product(parallel: true) == product(parallel: false),
                                "\(kernels) m\(m) n\(n) k\(k) \(type) tA \(transA) tB \(tB) B packed \(opB.isPacked)")
                    }
                }
            }
        }
    }

    @Test func packedLinearWeightsGiveTheSumsOfTheTensor() {
        for (rows, inputs, outputs) in [(2 * 5, 48, 40), (4096, 320, 96), (77, 768, 3072)] {
            let x = Tensor.random([rows, inputs], seed: 1)
            let weight = Tensor.random([outputs, inputs], seed: 2).converted(to: .bfloat16)
            let bias = Tensor.random([outputs], seed: 3)
            let packed = LayerWeight(linear: weight)
            #expect(packed.isPacked && packed.shape == [outputs, inputs] && packed.elementType == .bfloat16)
            #expect(Tensor.linear(x, weight: packed, bias: bias).scalars == Tensor.linear(x, weight: weight, bias: bias).scalars,
                    "\(rows)x\(inputs) -> \(outputs)")
        }
        // Float32 weights, and bfloat16 ones where products widen them, stay tensors.
        #expect(!LayerWeight(linear: Tensor.random([4, 32], seed: 4)).isPacked)
        #expect(!LayerWeight(linear: Tensor.random([4, 32], seed: 4).converted(to: .bfloat16), kernels: [.avx512]).isPacked)
        #expect(!LayerWeight(linear: Tensor.random([4, 32], seed: 4).converted(to: .bfloat16),
                             kernels: [.avx512, .avx512BFloat16]).isPacked)
    }

    /// The dot-product kernel against the AMX one on the same operands: the same products,
    /// summed in another order (where the CPU has both).
    @Test(.enabled(if: Kernels.detected.contains(.amxBFloat16)))
    func dotProductsAgreeWithAMX() {
        for (m, n, k) in [(37, 45, 70), (100, 300, 1100), (300, 40, 64), (5, 7, 3)] {
            let a = Tensor.random([m, k], seed: 11)
            let b = Tensor.random([k, n], seed: 12).converted(to: .bfloat16)
            func product(_ kernels: Kernels) -> Tensor {
                var c = Tensor.random([m, n], seed: 13)
                c.withUnsafeMutableBufferPointer { c in
                    BLAS.gemm(m: m, n: n, k: k, alpha: 0.5, a: MatrixOperand(a, ld: k), b: MatrixOperand(b, ld: n),
                              beta: 0.25, c: c.baseAddress!, ldc: n, kernels: kernels)
                }
                return c
            }
            let amx = product(Kernels.detected), dot = product([.avx512, .avx512BFloat16, .bfloat16Dot])
            #expect(relativeError(dot, amx.scalars.map(Double.init)) < 1e-6, "m\(m) n\(n) k\(k)")
        }
    }

    /// Packed convolutions (direct AMX convolution at stride 1, tap-major columns otherwise)
    /// against the float32 convolution of the same bfloat16 values: the same products,
    /// summed in another order. Without AMX, 3x3 stride-1 layers from 32 x 32 run float32
    /// Winograd on the packed weights widened, the image as it is: bit for bit the float32
    /// convolution with the weights widened (F(2x2, 3x3) at 34 x 34, F(4x4, 3x3) at 32 x 32
    /// and 64 x 64; 40 and 64 output channels put panels of 14 across the packing's panels
    /// of 32).
    @Test func packedConvolutionWeightsGiveTheConvolutionOfTheirValues() {
        let cases: [(batch: Int, cin: Int, cout: Int, h: Int, w: Int, k: Int, stride: Int, padding: Padding2D)] = [
            (2, 64, 40, 20, 20, 3, 1, 1),     // ragged output channels and columns
            (1, 64, 40, 34, 34, 3, 1, 1),     // without AMX: F(2x2, 3x3) Winograd
            (1, 64, 40, 32, 32, 3, 1, 1),     // without AMX: F(4x4, 3x3) Winograd
            (1, 32, 4, 5, 7, 3, 1, 1),        // a tiny image, a model's last layer
            (1, 96, 64, 64, 64, 3, 1, 1),     // many column blocks
            (2, 64, 128, 9, 9, 1, 1, 0),      // pointwise
            (1, 64, 48, 17, 16, 3, 2, 1),     // stride 2
            (2, 32, 32, 16, 16, 3, 2, Padding2D(top: 0, left: 0, bottom: 1, right: 1)),  // VAE downsampling
            (1, 32, 36, 12, 10, 5, 1, 2),     // 5x5 taps
        ]
        for c in cases {
            let image = Tensor.random([c.batch, c.cin, c.h, c.w], seed: 5)
            let weight = Tensor.random([c.cout, c.cin, c.k, c.k], seed: 6).converted(to: .bfloat16)
            let bias = Tensor.random([c.cout], seed: 7)
            let packed = LayerWeight(convolution: weight)
            #expect(packed.isPacked)
            let got = Tensor.conv2d(image, weight: packed, bias: bias, stride: c.stride, padding: c.padding)
            let geometry = ConvGeometry(cin: c.cin, h: c.h, w: c.w, kh: c.k, kw: c.k, stride: c.stride, padding: c.padding,
                                        ho: got.shape[2], wo: got.shape[3])
            if !Kernels.current.contains(.amxBFloat16) && WinogradConvolution.isApplicable(for: geometry, weight: packed) {
                let want = Tensor.conv2d(image, weight: weight.converted(to: .float32), bias: bias, stride: c.stride,
                                         padding: c.padding)
                #expect(got.scalars == want.scalars, "\(c)")
                continue
            }
            let want = Tensor.conv2d(image.converted(to: .bfloat16).converted(to: .float32),
                                     weight: weight.converted(to: .float32), bias: bias, stride: c.stride, padding: c.padding)
            #expect(got.shape == want.shape)
            #expect(relativeError(got, want.scalars.map(Double.init)) < 1e-5, "\(c)")
        }
        // Input channels that do not start a tile (a model's first layer) stay a tensor.
        #expect(!LayerWeight(convolution: Tensor.random([8, 4, 3, 3], seed: 8).converted(to: .bfloat16)).isPacked)
    }

    /// A packed operand and the storage that keeps it alive.
    struct Packed {
        let storage: TensorStorage
        let panelStride: Int
        var operand: MatrixOperand { MatrixOperand(packed: storage.rawPointer, panelStride: panelStride) }
    }

    static func pack(_ t: Tensor, rows: Int, k: Int, transposed: Bool, ld: Int, asA: Bool) -> Packed {
        let panelStride = 32 * LayerWeight.padded(k)
        let storage = TensorStorage(uninitializedCount: easel_amx_packed_size(rows, k), elementType: .bfloat16)
        let destination = storage.rawPointer.assumingMemoryBound(to: UInt16.self)
        if asA {
            easel_amx_pack_a(transposed ? 1 : 0, rows, k, t.storage.rawPointer, t.elementType.kernelType, ld, destination, panelStride)
        } else {
            easel_amx_pack_b(transposed ? 1 : 0, k, rows, t.storage.rawPointer, t.elementType.kernelType, ld, destination, panelStride)
        }
        return Packed(storage: storage, panelStride: panelStride)
    }
}
