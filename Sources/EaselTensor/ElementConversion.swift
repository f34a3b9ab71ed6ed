import CEaselKernels

/// The encodings in which checkpoints store floating-point weights; all widen exactly to `Float`.
public enum StoredFloatFormat: String, Sendable, CaseIterable {
    /// IEEE 754 binary32, little-endian.
    case float32
    /// IEEE 754 binary16, little-endian.
    case float16
    /// bfloat16 (the top half of a binary32), little-endian.
    case bfloat16

    /// Bytes per stored element.
    public var byteSize: Int {
        switch self {
        case .float32: 4
        case .float16, .bfloat16: 2
        }
    }
}

extension Tensor {
    /// A float32 tensor of `shape` decoded from little-endian `bytes` stored as `format`.
    ///
    /// `bytes` must hold exactly `shape`'s element count times `format.byteSize` bytes, at
    /// any alignment (checkpoint offsets are not necessarily aligned). Callers validate the
    /// length first: release builds of this module do not check it.
    public init(shape: [Int], converting bytes: UnsafeRawBufferPointer, from format: StoredFloatFormat) {
        self.init(uninitializedShape: shape)
        let n = count
        precondition(bytes.count == n * format.byteSize,
                     "\(bytes.count) bytes do not hold \(n) \(format) elements")
        guard n > 0, let source = bytes.baseAddress else { return }
        ElementConversion.convert(source, from: format, into: storage.pointer, count: n)
    }
}

/// Widening of stored half-precision and single-precision elements into `Float` buffers.
///
/// Every conversion is exact (binary16 and bfloat16 values are all representable in
/// binary32), including subnormals, signed zeros, infinities and NaN payloads. Large
/// buffers are split across cores: loading a UNet is a few gigabytes of this.
public enum ElementConversion {
    /// Converts `count` elements at `source` (stored as `format`) into `destination`.
    public static func convert(
        _ source: UnsafeRawPointer, from format: StoredFloatFormat,
        into destination: UnsafeMutablePointer<Float>, count: Int
    ) {
        // Streaming work: Parallel splits it across cores once it is large enough to pay.
        Parallel.forRanges(count) { range in
            let src = source + range.lowerBound * format.byteSize
            let dst = destination + range.lowerBound
            switch format {
            case .float32: copyFloat32(src, dst, range.count)
            case .float16: widenFloat16(src, dst, range.count)
            case .bfloat16: widenBFloat16(src, dst, range.count)
            }
        }
    }

    /// The binary32 bit pattern of the binary16 value `bits`.
    ///
    /// Branch-free so that loops over it vectorise: the three cases (normal, inf/NaN,
    /// zero/subnormal) are all computed and selected.
    @inlinable @inline(__always)
    public static func float32Bits(fromFloat16 bits: UInt16) -> UInt32 {
        let h = UInt32(bits)
        let sign = (h & 0x8000) << 16
        let magnitude = h & 0x7fff
        let exponent = magnitude & 0x7c00
        // Normal: move the 10-bit mantissa up and rebias the exponent from 15 to 127.
        let normal = (magnitude << 13) &+ (112 << 23)
        // Infinity and NaN: all-ones exponent; the mantissa (NaN payload) is kept.
        let special = (magnitude << 13) | 0x7f80_0000
        // Zero and subnormal: mantissa x 2^-24, exact in binary32 and never itself subnormal,
        // so the result does not depend on flush-to-zero modes.
        let subnormal = (Float(magnitude) * 0x1p-24).bitPattern
        let widened = exponent == 0x7c00 ? special : (exponent == 0 ? subnormal : normal)
        return sign | widened
    }

    /// The `Float` value of the binary16 value `bits`.
    @inlinable
    public static func float(fromFloat16 bits: UInt16) -> Float {
        Float(bitPattern: float32Bits(fromFloat16: bits))
    }

    /// The `Float` value of the bfloat16 value `bits` (its upper half).
    @inlinable
    public static func float(fromBFloat16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    // MARK: - Serial kernels

    static func copyFloat32(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, _ count: Int) {
        #if _endian(little)
        UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
        #else
        for i in 0..<count {
            destination[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        }
        #endif
    }

    static func widenFloat16(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, _ count: Int) {
        #if _endian(little)
        // The same definition in C, 16 elements at a time with AVX-512 (this loop compiles
        // to 4-wide SSE2 for plain x86-64).
        easel_widen_float16(source, destination, count)
        #else
        for i in 0..<count {
            let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            destination[i] = Float(bitPattern: float32Bits(fromFloat16: bits))
        }
        #endif
    }

    static func widenBFloat16(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count {
            let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            destination[i] = Float(bitPattern: UInt32(bits) << 16)
        }
    }
}
