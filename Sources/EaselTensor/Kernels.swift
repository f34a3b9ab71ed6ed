import CEaselKernels
import Foundation

/// Which of Easel's own CPU kernels a product may use.
///
/// Detected once from the CPU and the OS (`easel_cpu_features`). The environment variable
/// `EASEL_CPU` narrows it, so that every path can be run on one machine:
/// - `baseline`: none of them, as on a CPU without AVX-512 (float32 products through
///   OpenBLAS, bfloat16 weights widened inside the product);
/// - `avx512`: the float32 kernel but not AMX (bfloat16 products with AVX-512 BF16 dot
///   products where they pay, `bfloat16Dot`, widened to float32 otherwise);
/// - `avx512-bf16`: the same with the dot products wherever the CPU has the instruction,
///   whether or not they pay (to test them on any such CPU);
/// - unset or `native`: everything the CPU has.
///
/// The kernels are compiled for their instruction sets with function attributes and the
/// rest of the package for plain x86-64, so one build runs on any x86-64 CPU.
public struct Kernels: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// AVX-512 float32 products.
    public static let avx512 = Kernels(rawValue: EASEL_CPU_AVX512)
    /// AVX-512 BF16 conversions.
    public static let avx512BFloat16 = Kernels(rawValue: EASEL_CPU_AVX512_BF16)
    /// AMX bfloat16 products.
    public static let amxBFloat16 = Kernels(rawValue: EASEL_CPU_AMX_BF16)
    /// AVX-512 BF16 dot-product bfloat16 products (`easel_gemm_bf16_dot_operands`), for a
    /// CPU without AMX; detected only where they multiply faster than float32 FMA.
    public static let bfloat16Dot = Kernels(rawValue: EASEL_CPU_BF16_DOT)

    /// Whether bfloat16 products multiply in bfloat16 (AMX or dot products) rather than
    /// widened to float32; then weights are packed once at load (`LayerWeight`).
    public var multipliesBFloat16: Bool { contains(.amxBFloat16) || contains(.bfloat16Dot) }

    /// AVX-512 without AMX: the float32 kernel, and dot products where they pay.
    private static var avx512Only: Kernels { detected.intersection([.avx512, .avx512BFloat16, .bfloat16Dot]) }

    /// AVX-512 without AMX, with dot products wherever the CPU has AVX-512 BF16.
    private static var avx512WithDots: Kernels {
        detected.contains(.avx512BFloat16) ? avx512Only.union(.bfloat16Dot) : avx512Only
    }

    /// What this CPU and OS offer.
    public static let detected = Kernels(rawValue: easel_cpu_features())

    /// What products use: `detected`, narrowed by `EASEL_CPU`.
    public static let current: Kernels = {
        let setting = ProcessInfo.processInfo.environment["EASEL_CPU"] ?? "native"
        switch setting {
        case "baseline": return []
        case "avx512": return avx512Only
        case "avx512-bf16": return avx512WithDots
        case "native", "": return detected
        default:
            FileHandle.standardError.write(
                Data("EASEL_CPU=\(setting) is not one of baseline, avx512, avx512-bf16, native; using native\n".utf8))
            return detected
        }
    }()

    /// Every kernel set this machine can run, narrowest first (for tests and benchmarks).
    public static var runnable: [Kernels] {
        var sets: [Kernels] = [[]]
        for set in [avx512Only, avx512WithDots, detected] where set.contains(.avx512) && !sets.contains(set) {
            sets.append(set)
        }
        return sets
    }

    public var description: String {
        if isEmpty { return "baseline (OpenBLAS)" }
        var names: [String] = []
        if contains(.avx512) { names.append("avx512") }
        if contains(.avx512BFloat16) { names.append("avx512-bf16") }
        if contains(.amxBFloat16) { names.append("amx-bf16") }
        if contains(.bfloat16Dot) { names.append("bf16-dot") }
        return names.joined(separator: "+")
    }
}

/// One operand of a product: its first element, what the elements are, and its row stride;
/// or a bfloat16 operand already packed for AMX (`LayerWeight`, attention's keys and values).
struct MatrixOperand {
    let base: UnsafeRawPointer
    let elementType: ElementType
    /// Row stride in elements; for a packed operand, elements from one 32-wide panel to the next.
    let ld: Int
    /// In the AMX tile layout of `easel_amx_pack_a` / `easel_amx_pack_b` (then bfloat16,
    /// never transposed: the packing applied any transposition).
    let isPacked: Bool

    init(_ pointer: UnsafePointer<Float>, ld: Int) {
        self.init(base: UnsafeRawPointer(pointer), elementType: .float32, ld: ld)
    }

    init(base: UnsafeRawPointer, elementType: ElementType, ld: Int) {
        self.base = base
        self.elementType = elementType
        self.ld = ld
        isPacked = false
    }

    /// A packed operand whose 32-wide panels are `panelStride` elements apart.
    init(packed base: UnsafeRawPointer, panelStride: Int) {
        self.base = base
        elementType = .bfloat16
        ld = panelStride
        isPacked = true
    }

    /// A tensor's elements from the start, rows `ld` apart.
    init(_ tensor: Tensor, ld: Int) {
        self.init(base: UnsafeRawPointer(tensor.storage.rawPointer), elementType: tensor.elementType, ld: ld)
    }

    /// The operand starting `elements` further on (a row-major operand only).
    func advanced(by elements: Int) -> MatrixOperand {
        require(!isPacked, "a packed operand is not addressed by element")
        return MatrixOperand(base: base + elements * elementType.byteSize, elementType: elementType, ld: ld)
    }

    /// op(self) from row (`ofA`) or column (B) `index` on: for a row-major operand the
    /// element offset (transposed or not), for a packed one its panel (`index` a multiple
    /// of 32).
    func from(_ index: Int, transposed: Bool, isA: Bool) -> MatrixOperand {
        if isPacked {
            require(index % 32 == 0, "a packed operand is split at panels of 32, not at \(index)")
            return MatrixOperand(packed: base + index / 32 * ld * 2, panelStride: ld)
        }
        // A's rows (B's columns) are strided unless transposed (unless not transposed).
        return advanced(by: transposed == isA ? index : index * ld)
    }

    /// The kernels' description of it.
    func kernelOperand(transposed: Bool) -> easel_operand {
        easel_operand(base: base, type: elementType.kernelType, ld: ld, trans: transposed ? 1 : 0, packed: isPacked ? 1 : 0)
    }

    /// The first element as float32 (only for float32 operands).
    var floats: UnsafePointer<Float> { base.assumingMemoryBound(to: Float.self) }

    /// A float32 copy of a `rows x columns` matrix holding the bfloat16 values a bfloat16
    /// product would multiply: bfloat16 elements widened, float32 ones rounded to bfloat16.
    func widenedForBFloat16(rows: Int, columns: Int) -> WidenedOperand {
        let storage = TensorStorage(uninitializedCount: rows * columns)
        let dst = storage.pointer
        Parallel.forRanges(rows, cost: columns) { range in
            var bits = [UInt16](repeating: 0, count: columns)
            for r in range {
                let row = base + r * ld * elementType.byteSize
                switch elementType {
                case .bfloat16:
                    let src = row.assumingMemoryBound(to: UInt16.self)
                    for c in 0..<columns { dst[r * columns + c] = ElementConversion.float(fromBFloat16: src[c]) }
                case .float32:
                    bits.withUnsafeMutableBufferPointer { b in
                        easel_round_to_bfloat16(row.assumingMemoryBound(to: Float.self), b.baseAddress!, columns)
                        for c in 0..<columns { dst[r * columns + c] = ElementConversion.float(fromBFloat16: b[c]) }
                    }
                }
            }
        }
        return WidenedOperand(storage: storage, columns: columns)
    }
}

/// A float32 matrix made by `MatrixOperand.widenedForBFloat16`, kept alive while it is used.
struct WidenedOperand {
    let storage: TensorStorage
    let columns: Int
    var operand: MatrixOperand { MatrixOperand(storage.pointer, ld: max(columns, 1)) }
}

extension ElementType {
    /// The kernels' name for it.
    var kernelType: easel_element_type {
        switch self {
        case .float32: EASEL_FLOAT32
        case .bfloat16: EASEL_BFLOAT16
        }
    }
}

extension Tensor {
    /// The same values as `elementType`: float32 to bfloat16 rounds to nearest (ties to
    /// even), bfloat16 to float32 is exact.
    public func converted(to elementType: ElementType) -> Tensor {
        if elementType == self.elementType { return self }
        let out = TensorStorage(uninitializedCount: count, elementType: elementType)
        let n = count
        switch elementType {
        case .bfloat16:
            let src = UnsafePointer(storage.pointer)
            let dst = out.rawPointer.assumingMemoryBound(to: UInt16.self)
            Parallel.forRanges(n) { r in
                easel_round_to_bfloat16(src + r.lowerBound, dst + r.lowerBound, r.count)
            }
        case .float32:
            ElementConversion.convert(UnsafeRawPointer(storage.rawPointer), from: .bfloat16, into: out.pointer, count: n)
        }
        return Tensor(shape: shape, storage: out)
    }
}
