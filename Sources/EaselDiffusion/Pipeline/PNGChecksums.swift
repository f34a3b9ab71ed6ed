import CZlib

/// CRC-32 as PNG chunks carry it (ISO 3309 / ITU-T V.42: zlib's `crc32`).
struct CRC32: Sendable {
    private(set) var value: UInt32 = 0

    init() {}

    mutating func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        let array = Array(bytes)
        value = array.withUnsafeBufferPointer { buffer in
            UInt32(crc32(uLong(value), buffer.baseAddress, uInt(buffer.count)))
        }
    }

    static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }
}

/// Adler-32, the checksum that ends a zlib stream (RFC 1950: zlib's `adler32`).
enum Adler32 {
    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { buffer in
            UInt32(adler32(adler32(0, nil, 0), buffer.baseAddress, uInt(buffer.count)))
        }
    }
}

/// DEFLATE (RFC 1951) in a zlib stream (RFC 1950), as PNG's IDAT holds it: zlib itself, at
/// its default level.
enum Deflate {
    /// A zlib stream (header, DEFLATE data, Adler-32) of `input`.
    static func zlib(_ input: [UInt8]) -> [UInt8] {
        var length = compressBound(uLong(input.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = out.withUnsafeMutableBufferPointer { destination in
            input.withUnsafeBufferPointer { source in
                compress2(destination.baseAddress, &length, source.baseAddress, uLong(source.count),
                          Z_DEFAULT_COMPRESSION)
            }
        }
        // compressBound sizes the buffer for any input, so only a failed allocation is left.
        guard status == Z_OK else { fatalError("zlib compress2 failed with status \(status)") }
        out.removeLast(out.count - Int(length))
        return out
    }
}
