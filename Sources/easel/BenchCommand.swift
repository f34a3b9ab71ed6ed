import ArgumentParser
import EaselTensor
import Foundation

/// `easel bench ...`: performance measurements that are not tests.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Easel's speed.",
        subcommands: [BenchKernels.self]
    )
}

/// `easel bench kernels`: GFLOP/s of the tensor kernels on the shapes of an SD 1.5 UNet at
/// 512 x 512, beside the plain matrix product of the same shape ("sgemm": `Tensor.matmul`,
/// so Easel's own kernel where the CPU has one, OpenBLAS otherwise; `EASEL_CPU=baseline`
/// for OpenBLAS's figure).
///
/// For a convolution the sgemm is the im2col product (`[Cout, Cin*k*k] x [Cin*k*k, Ho*Wo]`
/// per image); for attention, the two per-head products `q kᵀ` and `p v` with the whole
/// score matrix materialised (softmax not timed). `scripts/bench_kernels_torch.py` prints
/// PyTorch's times for the same shapes.
struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "GFLOP/s of conv2d, linear and attention on SD 1.5 shapes, beside plain sgemm."
    )

    @Option(help: "Timed runs per measurement (the best is reported).")
    var repeats = 5

    @Option(help: "Only run cases whose name contains this text.")
    var filter: String?

    @Option(help: "Precision of the layers' weights and attention's products: fp32 or bf16 (the sgemm beside them stays float32).")
    var precision = "fp32"

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        print("OpenBLAS core: \(BLAS.coreName), threads: \(BLAS.threadCount), cores: \(ProcessInfo.processInfo.activeProcessorCount)")
        print("OpenBLAS config: \(BLAS.configuration)")
        print("Easel kernels: \(Kernels.current) (detected: \(Kernels.detected); EASEL_CPU narrows them)")
        print("OPENBLAS_CORETYPE=\(env["OPENBLAS_CORETYPE"] ?? "(unset)") OPENBLAS_L2_SIZE=\(env["OPENBLAS_L2_SIZE"] ?? "(unset)")")
        guard let weightType = ["fp32": ElementType.float32, "bf16": .bfloat16][precision] else {
            throw ValidationError("--precision must be fp32 or bf16")
        }
        print("precision: \(precision) (weights prepared as a loaded model's layers hold them)")
        print("best of \(repeats) runs (kernel and sgemm alternate); ratio = Easel GFLOP/s / sgemm GFLOP/s")
        print(pad("case", 44) + pad("ms", 10, right: true) + pad("GFLOP/s", 10, right: true)
              + pad("sgemm ms", 10, right: true) + pad("sgemm GF/s", 12, right: true) + pad("ratio", 8, right: true))
        for c in KernelCase.all(weightType) where filter.map({ c.name.contains($0) }) ?? true {
            let measurement = c.measure(repeats: repeats)
            report(c.name, flops: c.flops, measurement)
        }
    }

    private func report(_ name: String, flops: Double, _ m: (kernel: Double, sgemm: Double?)) {
        var line = pad(name, 44) + pad(String(format: "%.2f", m.kernel * 1e3), 10, right: true)
        line += flops > 0 ? pad(String(format: "%.1f", flops / m.kernel / 1e9), 10, right: true) : pad("-", 10, right: true)
        if let s = m.sgemm {
            line += pad(String(format: "%.2f", s * 1e3), 10, right: true)
            line += pad(String(format: "%.1f", flops / s / 1e9), 12, right: true)
            line += pad(String(format: "%.3f", s / m.kernel), 8, right: true)
        }
        print(line)
    }

    private func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
        let space = String(repeating: " ", count: max(0, width - s.count))
        return right ? space + s : s + space
    }
}

/// One benchmark case: the kernel under test and, where there is one, the plain sgemm of
/// the same shape.
private struct KernelCase {
    let name: String
    let flops: Double
    let kernel: () -> Void
    let sgemm: (() -> Void)?

    /// Best times of the kernel and of its sgemm, run alternately so that both see the
    /// same conditions on a shared (or virtualised) machine whose speed drifts.
    func measure(repeats: Int) -> (kernel: Double, sgemm: Double?) {
        kernel()  // warm-up: first-touch page faults, OpenBLAS buffers
        sgemm?()
        var bestKernel = Double.infinity, bestSgemm = Double.infinity
        for _ in 0..<max(1, repeats) {
            bestKernel = min(bestKernel, Self.time(kernel))
            if let sgemm { bestSgemm = min(bestSgemm, Self.time(sgemm)) }
        }
        return (bestKernel, sgemm == nil ? nil : bestSgemm)
    }

    private static func time(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    static func all(_ weightType: ElementType) -> [KernelCase] {
        var cases: [KernelCase] = []
        for (cin, cout, size, k, stride) in [
            (320, 320, 64, 3, 1), (640, 640, 32, 3, 1), (1280, 1280, 16, 3, 1),
            // The up blocks' first convolutions, on a skip connection concatenated.
            (640, 320, 64, 3, 1), (1920, 640, 32, 3, 1), (2560, 1280, 16, 3, 1),
            // The up blocks' upsamplers: their channels at twice the size.
            (1280, 1280, 32, 3, 1), (640, 640, 64, 3, 1),
            (4, 320, 64, 3, 1), (320, 320, 64, 3, 2),
            (320, 320, 64, 1, 1), (320, 640, 32, 1, 1), (640, 1280, 16, 1, 1),
            // The deepest layers at 256x256 (at 512x512 a level up): the weights outweigh the images.
            (1280, 1280, 8, 3, 1), (1280, 1280, 4, 3, 1), (2560, 1280, 8, 1, 1),
        ] {
            for batch in [1, 2] {
                cases.append(conv(batch: batch, cin: cin, cout: cout, size: size, k: k, stride: stride, weightType))
            }
        }
        // The VAE decoder at 512x512.
        cases.append(conv(batch: 1, cin: 512, cout: 512, size: 64, k: 3, stride: 1, weightType))
        cases.append(conv(batch: 1, cin: 512, cout: 512, size: 128, k: 3, stride: 1, weightType))
        cases.append(conv(batch: 1, cin: 128, cout: 128, size: 256, k: 3, stride: 1, weightType))
        cases.append(conv(batch: 1, cin: 128, cout: 128, size: 512, k: 3, stride: 1, weightType))
        // The attention blocks' projections and feed-forward layers at 64x64, and (batch 2)
        // the projections at 32x32 and 16x16.
        for (rows, inF, outF) in [(4096, 320, 320), (8192, 320, 320), (4096, 320, 2560), (4096, 1280, 320),
                                  (1024, 640, 640), (2048, 640, 640), (512, 1280, 1280)] {
            cases.append(linear(rows: rows, inF: inF, outF: outF, weightType))
        }
        // The feed-forward projection at 64x64 (batch 2) with its gating: fused against the
        // product and then geglu (in the sgemm columns).
        cases.append(linearGEGLU(rows: 8192, inF: 320, outF: 2560, weightType))
        for (batch, nq, nk, heads, d, causal) in [
            (1, 4096, 4096, 8, 40, false), (2, 4096, 4096, 8, 40, false), (2, 4096, 77, 8, 40, false),
            (2, 1024, 1024, 8, 80, false), (2, 1024, 77, 8, 80, false), (1, 4096, 4096, 1, 512, false),
            (1, 77, 77, 12, 64, true),
        ] {
            cases.append(attention(batch: batch, nq: nq, nk: nk, heads: heads, d: d, causal: causal, weightType))
        }
        cases += memoryBound()
        return cases
    }

    private static func conv(batch: Int, cin: Int, cout: Int, size: Int, k: Int, stride: Int, _ type: ElementType) -> KernelCase {
        let x = Tensor.random([batch, cin, size, size], seed: 1)
        let plain = Tensor.random([cout, cin, k, k], seed: 2, scale: 0.05)
        let w = LayerWeight(convolution: plain.converted(to: type))
        let bias = Tensor.random([cout], seed: 3)
        let pad = k / 2
        let out = (size + 2 * pad - k) / stride + 1
        let kk = cin * k * k
        let columns = Tensor.random([kk, out * out], seed: 4)
        let weights = plain.reshaped([cout, kk])
        let flops = 2.0 * Double(batch * cout * kk * out * out)
        return KernelCase(
            name: "conv \(k)x\(k)\(stride > 1 ? "/\(stride)" : "") \(cin)->\(cout) \(size)x\(size) b\(batch)",
            flops: flops,
            kernel: { _ = Tensor.conv2d(x, weight: w, bias: bias, stride: stride, padding: Padding2D(pad)) },
            sgemm: { for _ in 0..<batch { _ = Tensor.matmul(weights, columns) } })
    }

    private static func linear(rows: Int, inF: Int, outF: Int, _ type: ElementType) -> KernelCase {
        let x = Tensor.random([rows, inF], seed: 5)
        let plain = Tensor.random([outF, inF], seed: 6, scale: 0.05)
        let w = LayerWeight(linear: plain.converted(to: type))
        let bias = Tensor.random([outF], seed: 7)
        return KernelCase(
            name: "linear \(rows)x\(inF) -> \(outF) +bias",
            flops: 2.0 * Double(rows * inF * outF),
            kernel: { _ = Tensor.linear(x, weight: w, bias: bias) },
            sgemm: { _ = Tensor.matmul(x, plain, transposeB: true) })
    }

    private static func linearGEGLU(rows: Int, inF: Int, outF: Int, _ type: ElementType) -> KernelCase {
        let x = Tensor.random([rows, inF], seed: 5)
        let w = LayerWeight(linear: Tensor.random([outF, inF], seed: 6, scale: 0.05).converted(to: type))
        let bias = Tensor.random([outF], seed: 7)
        return KernelCase(
            name: "linear+geglu \(rows)x\(inF) -> \(outF) (vs apart)",
            flops: 2.0 * Double(rows * inF * outF),
            kernel: { _ = Tensor.linearGEGLU(x, weight: w, bias: bias) },
            sgemm: { _ = Tensor.linear(x, weight: w, bias: bias).geglu() })
    }

    private static func attention(batch: Int, nq: Int, nk: Int, heads: Int, d: Int, causal: Bool, _ type: ElementType) -> KernelCase {
        let q = Tensor.random([batch, nq, heads * d], seed: 8)
        let k = Tensor.random([batch, nk, heads * d], seed: 9)
        let v = Tensor.random([batch, nk, heads * d], seed: 10)
        // Materialised reference: per (batch, head), two full products on contiguous copies.
        let qh = Tensor.random([nq, d], seed: 11), kh = Tensor.random([nk, d], seed: 12), vh = Tensor.random([nk, d], seed: 13)
        return KernelCase(
            name: "attention b\(batch) \(nq)x\(nk) \(heads)x\(d)\(causal ? " causal" : "")",
            flops: 4.0 * Double(batch * heads * nq * nk * d),
            kernel: { _ = Tensor.attention(query: q, key: k, value: v, heads: heads, causal: causal, multiplyIn: type) },
            sgemm: {
                for _ in 0..<(batch * heads) {
                    let scores = Tensor.matmul(qh, kh, transposeB: true)
                    _ = Tensor.matmul(scores, vh)
                }
            })
    }

    /// Bandwidth-bound kernels, timed alone (no FLOP figure).
    private static func memoryBound() -> [KernelCase] {
        let image = Tensor.random([2, 320, 64, 64], seed: 14)
        let gamma = Tensor.random([320], seed: 15), beta = Tensor.random([320], seed: 16)
        let tokens = Tensor.random([2, 4096, 320], seed: 17)
        let wide = Tensor.random([2, 4096, 2560], seed: 18)
        let channelBias = Tensor.random([320, 1, 1], seed: 19)
        let small = Tensor.random([2, 320, 32, 32], seed: 20)
        return [
            KernelCase(name: "groupNorm+SiLU [2,320,64,64] g32", flops: 0,
                       kernel: { _ = image.groupNorm(groups: 32, weight: gamma, bias: beta, epsilon: 1e-5, fusingSiLU: true) }, sgemm: nil),
            KernelCase(name: "layerNorm [2,4096,320]", flops: 0,
                       kernel: { _ = tokens.layerNorm(weight: gamma, bias: beta) }, sgemm: nil),
            KernelCase(name: "geglu [2,4096,2560] -> 1280", flops: 0, kernel: { _ = wide.geglu() }, sgemm: nil),
            KernelCase(name: "softmax [2,4096,320]", flops: 0, kernel: { _ = tokens.softmax() }, sgemm: nil),
            KernelCase(name: "permute [2,320,64,64] -> [2,64,64,320]", flops: 0,
                       kernel: { _ = image.permuted([0, 2, 3, 1]) }, sgemm: nil),
            KernelCase(name: "add [2,320,64,64] + [2,320,64,64]", flops: 0, kernel: { _ = image + image }, sgemm: nil),
            KernelCase(name: "add [2,320,64,64] + [320,1,1]", flops: 0, kernel: { _ = image + channelBias }, sgemm: nil),
            KernelCase(name: "upsample 2x [2,320,32,32]", flops: 0,
                       kernel: { _ = small.upsampledNearest(factor: 2) }, sgemm: nil),
        ]
    }
}

extension Tensor {
    /// Deterministic pseudo-random values in `[-scale, scale]` (benchmark inputs only).
    fileprivate static func random(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        let n = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: n)
        for i in 0..<n {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            values[i] = (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
        return Tensor(shape: shape, scalars: values)
    }
}
