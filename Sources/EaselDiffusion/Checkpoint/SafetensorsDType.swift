import EaselTensor

/// An element type a safetensors header can name (`"dtype"`), as the reference
/// implementation (safetensors 0.8) spells them.
///
/// Only `F32`, `F16` and `BF16` load as weights. The others are recognised so that a
/// file carrying them (single-file checkpoints hold an `I64` `position_ids`, some hold
/// `F64` schedule buffers) is still valid and those tensors can be named and skipped.
public enum SafetensorsDType: String, Sendable, CaseIterable, CustomStringConvertible {
    case bool = "BOOL"
    case u8 = "U8", i8 = "I8", u16 = "U16", i16 = "I16"
    case u32 = "U32", i32 = "I32", u64 = "U64", i64 = "I64"
    case f16 = "F16", bf16 = "BF16", f32 = "F32", f64 = "F64", c64 = "C64"
    case f8E4M3 = "F8_E4M3", f8E5M2 = "F8_E5M2", f8E8M0 = "F8_E8M0"
    case f8E4M3FNUZ = "F8_E4M3FNUZ", f8E5M2FNUZ = "F8_E5M2FNUZ"
    case f6E2M3 = "F6_E2M3", f6E3M2 = "F6_E3M2", f4 = "F4"

    /// Bits per element (sub-byte types pack several elements per byte).
    public var bitWidth: Int {
        switch self {
        case .f4: 4
        case .f6E2M3, .f6E3M2: 6
        case .bool, .u8, .i8, .f8E4M3, .f8E5M2, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ: 8
        case .u16, .i16, .f16, .bf16: 16
        case .u32, .i32, .f32: 32
        case .u64, .i64, .f64, .c64: 64
        }
    }

    /// How the element widens into a float32 `Tensor`, or nil if it is not a weight type.
    public var floatFormat: StoredFloatFormat? {
        switch self {
        case .f32: .float32
        case .f16: .float16
        case .bf16: .bfloat16
        default: nil
        }
    }

    /// The bytes `elementCount` elements occupy, or nil when that overflows or does not
    /// end on a byte boundary (possible only for the sub-byte types).
    public func byteCount(elementCount: Int) -> Int? {
        let (bits, overflow) = elementCount.multipliedReportingOverflow(by: bitWidth)
        guard !overflow, bits % 8 == 0 else { return nil }
        return bits / 8
    }

    public var description: String { rawValue }
}
