/// CRC-32 as PNG chunks carry it (ISO 3309 / ITU-T V.42, the polynomial of zlib's `crc32`):
/// reflected, initial value and final XOR 0xFFFFFFFF.
struct CRC32: Sendable {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    private var state: UInt32 = 0xFFFF_FFFF

    init() {}

    mutating func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        var c = state
        let table = Self.table
        for byte in bytes { c = table[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        state = c
    }

    var value: UInt32 { state ^ 0xFFFF_FFFF }

    static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }
}

/// Adler-32, the checksum that ends a zlib stream (RFC 1950).
struct Adler32: Sendable {
    private static let modulus: UInt32 = 65521
    /// The most bytes that can be summed before `b` could overflow 32 bits.
    private static let run = 5552

    private var a: UInt32 = 1
    private var b: UInt32 = 0

    init() {}

    mutating func update(_ bytes: [UInt8]) {
        var start = 0
        while start < bytes.count {
            let end = min(start + Self.run, bytes.count)
            for i in start..<end {
                a &+= UInt32(bytes[i])
                b &+= a
            }
            a %= Self.modulus
            b %= Self.modulus
            start = end
        }
    }

    var value: UInt32 { (b << 16) | a }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var adler = Adler32()
        adler.update(bytes)
        return adler.value
    }
}
