import EaselTensor
import CEaselKernels
import Foundation

/// A random source that reproduces PyTorch's CPU generator bit for bit:
/// `TorchRandom(seed: N).randn([1, 4, 64, 64])` equals
/// `torch.randn([1, 4, 64, 64], generator=torch.Generator("cpu").manual_seed(N))`.
///
/// It is a value: copy it to fork the stream, pass it `inout` to consume it. Easel never
/// keeps one in a global; the pipeline creates one per request from the request's seed and
/// hands it to the scheduler, so ancestral schedulers draw their per-step noise from the same
/// stream, in the same order, as diffusers.
///
/// What is reproduced (PyTorch `aten/src/ATen`, `core/MT19937RNGEngine.h`,
/// `CPUGeneratorImpl.cpp`, `core/DistributionsHelper.h`, `native/cpu/DistributionTemplates.h`):
/// - `manual_seed(N)`: mt19937 seeded with the low 32 bits of `N`, both cached normals cleared.
/// - `randn` of a contiguous float tensor with at least 16 elements (`normal_fill`): one 24-bit
///   uniform float per element, then Box–Muller over blocks of 16 (`u1` from the first eight,
///   `u2` from the last eight, cosines to the first half, sines to the second); when the count
///   is not a multiple of 16, 16 fresh uniforms are drawn and the last 16 elements recomputed.
/// - `randn` of fewer than 16 elements: the scalar path, one double normal per element from two
///   53-bit uniforms, the sine half cached in the generator and used by the next scalar draw.
///
/// The block path's log, cosine and sine come in two flavours, because PyTorch's own result
/// depends on the CPU it runs on: ``NormalKernel/vectorized`` (the default) is what PyTorch
/// computes on any x86-64 CPU with AVX2 or AVX-512 — the machines diffusers users generate
/// on — and ``NormalKernel/portable`` is PyTorch's scalar kernel (CPU capability `DEFAULT`,
/// and CPUs without a vectorised kernel such as ARM), using the C library's `logf`/`cosf`/`sinf`.
/// The two differ by up to about 2e-6. The vectorized kernel is plain float arithmetic, so
/// Easel draws the same noise on every platform; the portable one follows the platform's libm.
public struct TorchRandom: Sendable {
    /// Which of PyTorch's Box–Muller kernels to reproduce for tensors of 16 or more values.
    public enum NormalKernel: Sendable {
        /// `NormalFill16` for AVX2/AVX-512 (`avx_mathfun.h` log and sincos, FMA-contracted).
        case vectorized
        /// The portable `NormalFill16` (`std::log`, `std::cos`, `std::sin` in float).
        case portable
    }

    private static let stateSize = 624
    private static let shift = 397

    private var state: [UInt32]
    private var next: Int
    private var left: Int
    /// The Box–Muller sine half kept by the scalar (double) normal path.
    private var cachedDoubleNormal: Double?

    /// The seed this generator was created with (`torch.Generator.initial_seed()`).
    public let seed: UInt64
    /// The Box–Muller kernel used for tensors of 16 or more values.
    public let kernel: NormalKernel

    /// A generator in the state of `torch.Generator("cpu").manual_seed(seed)`.
    public init(seed: UInt64, kernel: NormalKernel = .vectorized) {
        self.seed = seed
        self.kernel = kernel
        var s = [UInt32](repeating: 0, count: Self.stateSize)
        s[0] = UInt32(truncatingIfNeeded: seed)
        for j in 1..<Self.stateSize {
            s[j] = 1_812_433_253 &* (s[j - 1] ^ (s[j - 1] >> 30)) &+ UInt32(j)
        }
        state = s
        next = 0
        left = 1
        cachedDoubleNormal = nil
    }

    /// A generator seeded as Python's `manual_seed` does with a possibly negative integer
    /// (two's complement, so `-1` is `2^64 - 1`).
    public init(seed: Int, kernel: NormalKernel = .vectorized) {
        self.init(seed: UInt64(bitPattern: Int64(seed)), kernel: kernel)
    }

    // MARK: - Raw stream

    /// The next 32 bits of the mt19937 stream (`CPUGeneratorImpl::random()`).
    public mutating func nextUInt32() -> UInt32 {
        left -= 1
        if left == 0 { regenerate() }
        var y = state[next]
        next += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// Two stream words, the first as the high half (`CPUGeneratorImpl::random64()`).
    public mutating func nextUInt64() -> UInt64 {
        let high = UInt64(nextUInt32())
        let low = UInt64(nextUInt32())
        return (high << 32) | low
    }

    /// Refills the 624-word state, as `mt19937_engine::next_state`.
    private mutating func regenerate() {
        left = Self.stateSize
        next = 0
        let n = Self.stateSize, m = Self.shift
        state.withUnsafeMutableBufferPointer { s in
            @inline(__always) func twist(_ u: UInt32, _ v: UInt32) -> UInt32 {
                let mixed = (u & 0x8000_0000) | (v & 0x7FFF_FFFF)
                return (mixed >> 1) ^ ((v & 1) != 0 ? 0x9908_B0DF : 0)
            }
            for j in 0..<(n - m) { s[j] = s[j + m] ^ twist(s[j], s[j + 1]) }
            for j in (n - m)..<(n - 1) { s[j] = s[j + m - n] ^ twist(s[j], s[j + 1]) }
            s[n - 1] = s[m - 1] ^ twist(s[n - 1], s[0])
        }
    }

    // MARK: - Uniforms

    /// A float in [0, 1) from the low 24 bits of one word (`uniform_real_distribution<float>`).
    public mutating func nextUniformFloat() -> Float {
        Float(nextUInt32() & 0xFF_FFFF) * (1.0 / 16_777_216.0)
    }

    /// A double in [0, 1) from the low 53 bits of two words (`uniform_real_distribution<double>`).
    public mutating func nextUniformDouble() -> Double {
        Double(nextUInt64() & 0x1F_FFFF_FFFF_FFFF) * (1.0 / 9_007_199_254_740_992.0)
    }

    // MARK: - Normals

    /// One standard normal from the scalar path (`normal_distribution<double>`), using and
    /// refilling the cached second value as PyTorch does.
    public mutating func nextNormalDouble() -> Double {
        if let cached = cachedDoubleNormal {
            cachedDoubleNormal = nil
            return cached
        }
        let u1 = nextUniformDouble()
        let u2 = nextUniformDouble()
        let radius = (-2.0 * Foundation.log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        cachedDoubleNormal = radius * Foundation.sin(theta)
        return radius * Foundation.cos(theta)
    }

    /// `count` standard normals in the order `torch.randn` writes them into a contiguous tensor.
    public mutating func normalFloats(count: Int) -> [Float] {
        precondition(count >= 0, "negative count")
        if count < 16 {
            return (0..<count).map { _ in Float(nextNormalDouble()) }
        }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { data in
            for i in 0..<count { data[i] = nextUniformFloat() }
            Self.boxMuller16(data.baseAddress!, blocks: count / 16, kernel: kernel)
            if count % 16 != 0 {
                // PyTorch redraws the last 16 elements (overlapping the last full block).
                let tail = data.baseAddress! + (count - 16)
                for j in 0..<16 { tail[j] = nextUniformFloat() }
                Self.boxMuller16(tail, blocks: 1, kernel: kernel)
            }
        }
        return values
    }

    /// A tensor of standard normals, as `torch.randn(shape, generator=g)` (float32, CPU).
    public mutating func randn(_ shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        return Tensor(shape: shape, scalars: normalFloats(count: count))
    }

    /// Box–Muller over `blocks` consecutive blocks of 16 uniforms in place: `NormalFill16`
    /// with mean 0 and std 1, in float. `u1 = 1 - data[j]` (so the log never sees 0),
    /// `u2 = data[j + 8]`. The vectorized kernel runs as PyTorch's does, 8 lanes at a time in
    /// C, where the CPU has the instructions (`easel_normal_fill16`), and one lane at a time
    /// in Swift, with the same bits, elsewhere.
    static func boxMuller16(_ data: UnsafeMutablePointer<Float>, blocks: Int, kernel: NormalKernel,
                            kernels: Kernels = .current) {
        if kernel == .vectorized && kernels.contains(.avx512) {
            easel_normal_fill16(data, blocks)
            return
        }
        for block in 0..<blocks { boxMuller16(data + 16 * block, kernel: kernel) }
    }

    private static func boxMuller16(_ data: UnsafeMutablePointer<Float>, kernel: NormalKernel) {
        switch kernel {
        case .vectorized:
            for j in 0..<8 {
                let u1: Float = 1 - data[j]
                let radius = (-2 * CephesFloat.log(u1)).squareRoot()
                let (s, c) = CephesFloat.sincos(CephesFloat.twoPi * data[j + 8])
                data[j] = radius * c
                data[j + 8] = radius * s
            }
        case .portable:
            for j in 0..<8 {
                let u1: Float = 1 - data[j]
                let radius = (-2 * Foundation.log(u1)).squareRoot()
                // `2.0f * c10::pi<double> * u2` is evaluated in double, then stored as float.
                let theta = Float(2.0 * Double.pi * Double(data[j + 8]))
                data[j] = radius * Foundation.cos(theta)
                data[j + 8] = radius * Foundation.sin(theta)
            }
        }
    }
}
