import Foundation

/// A minimal PNG encoder for the test generator: 8-bit RGB, zlib "stored" (uncompressed)
/// blocks, real CRC-32 and Adler-32, so any PNG reader accepts the files.
enum TestPNG {
    /// A deterministic gradient that depends on the seed.
    static func image(width: Int, height: Int, seed: UInt64) -> Data {
        var rows = Data(capacity: (width * 3 + 1) * height)
        let tint = UInt8(truncatingIfNeeded: seed &* 2_654_435_761 >> 3)
        for y in 0..<height {
            rows.append(0)  // filter: none
            for x in 0..<width {
                rows.append(UInt8(truncatingIfNeeded: x * 255 / max(width - 1, 1)))
                rows.append(UInt8(truncatingIfNeeded: y * 255 / max(height - 1, 1)))
                rows.append(tint)
            }
        }
        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = Data()
        header.append(bigEndian: UInt32(width))
        header.append(bigEndian: UInt32(height))
        header.append(contentsOf: [8, 2, 0, 0, 0])  // 8-bit, RGB, deflate, adaptive, no interlace
        png.append(chunk: "IHDR", header)
        png.append(chunk: "IDAT", zlibStored(rows))
        png.append(chunk: "IEND", Data())
        return png
    }

    static func zlibStored(_ data: Data) -> Data {
        var out = Data([0x78, 0x01])
        let bytes = [UInt8](data)
        var offset = 0
        repeat {
            let length = min(65_535, bytes.count - offset)
            let last: UInt8 = offset + length >= bytes.count ? 1 : 0
            out.append(last)
            out.append(UInt8(length & 0xff))
            out.append(UInt8(length >> 8))
            out.append(UInt8(~length & 0xff))
            out.append(UInt8((~length >> 8) & 0xff))
            out.append(contentsOf: bytes[offset..<offset + length])
            offset += length
        } while offset < bytes.count
        out.append(bigEndian: adler32(bytes))
        return out
    }

    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in bytes {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        return b << 16 | a
    }

    static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ bytes: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// Width and height, checking the signature and the IHDR chunk's CRC.
    static func dimensions(_ png: Data) -> (width: Int, height: Int)? {
        let b = [UInt8](png)
        guard b.count >= 33, b[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
            b[12..<16].elementsEqual("IHDR".utf8)
        else { return nil }
        func be32(_ i: Int) -> UInt32 { b[i..<i + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        guard crc32(Data(b[12..<29])) == be32(29) else { return nil }
        return (Int(be32(16)), Int(be32(20)))
    }
}

extension Data {
    mutating func append(bigEndian value: UInt32) {
        append(contentsOf: [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)])
    }

    mutating func append(chunk type: String, _ body: Data) {
        append(bigEndian: UInt32(body.count))
        var typed = Data(type.utf8)
        typed.append(body)
        append(typed)
        append(bigEndian: TestPNG.crc32(typed))
    }
}
