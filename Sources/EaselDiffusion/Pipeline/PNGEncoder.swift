import Foundation

/// Why an image could not be encoded as PNG.
public enum PNGError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidSize(width: Int, height: Int)
    case pixelCount(expected: Int, actual: Int)
    case invalidKeyword(String, reason: String)
    case invalidText(keyword: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidSize(width, height):
            "PNG: cannot encode a \(width)x\(height) image (each side must be 1...2147483647)"
        case let .pixelCount(expected, actual):
            "PNG: expected \(expected) RGB bytes, got \(actual)"
        case let .invalidKeyword(keyword, reason):
            "PNG: text keyword \"\(keyword)\" is invalid: \(reason)"
        case let .invalidText(keyword, reason):
            "PNG: text for \"\(keyword)\" is invalid: \(reason)"
        }
    }
}

/// Writes 8-bit RGB images as PNG files (ISO/IEC 15948): IHDR, one text chunk per metadata
/// entry, IDAT with a real zlib stream (see `Deflate`), IEND, each with its CRC.
///
/// Every row gets whichever of PNG's five filters leaves the smallest sum of absolute
/// (signed) bytes, the usual heuristic from the PNG specification. Metadata goes in `tEXt`
/// chunks (Latin-1, as the specification requires); a value with characters beyond Latin-1
/// (a prompt in Japanese, say) goes in an uncompressed `iTXt` chunk (UTF-8) under the same
/// keyword instead of being mangled. No interlacing.
public enum PNGEncoder {
    private static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// A PNG of `width` × `height` pixels; `rgb` holds the rows top to bottom, each pixel
    /// as R, G, B bytes. `metadata` entries become text chunks in their order (keywords of
    /// 1–79 Latin-1 characters, e.g. `prompt`, `seed`, `steps`, `guidance`, `scheduler`).
    public static func encode(width: Int, height: Int, rgb: [UInt8],
                              metadata: [(keyword: String, text: String)] = []) throws -> [UInt8] {
        guard (1...0x7FFF_FFFF).contains(width), (1...0x7FFF_FFFF).contains(height) else {
            throw PNGError.invalidSize(width: width, height: height)
        }
        let (expected, overflow) = width.multipliedReportingOverflow(by: height * 3)
        guard !overflow, rgb.count == expected else {
            throw PNGError.pixelCount(expected: overflow ? Int.max : expected, actual: rgb.count)
        }

        var png = signature
        var header = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        header += [8, 2, 0, 0, 0]  // bit depth 8, colour type 2 (RGB), deflate, adaptive filters, no interlace
        appendChunk("IHDR", header, to: &png)
        for entry in metadata {
            let (type, data) = try textChunk(keyword: entry.keyword, text: entry.text)
            appendChunk(type, data, to: &png)
        }
        appendChunk("IDAT", Deflate.zlib(filteredRows(width: width, height: height, rgb: rgb)), to: &png)
        appendChunk("IEND", [], to: &png)
        return png
    }

    /// `encode` as `Data`, for writing to a file or an HTTP body.
    public static func encodeData(width: Int, height: Int, rgb: [UInt8],
                                  metadata: [(keyword: String, text: String)] = []) throws -> Data {
        Data(try encode(width: width, height: height, rgb: rgb, metadata: metadata))
    }

    // MARK: - Chunks

    static func appendChunk(_ type: String, _ data: [UInt8], to png: inout [UInt8]) {
        let typeBytes = Array(type.utf8)
        png += bigEndian(UInt32(data.count))
        png += typeBytes
        png += data
        var crc = CRC32()
        crc.update(typeBytes)
        crc.update(data)
        png += bigEndian(crc.value)
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    /// A `tEXt` chunk when `text` is Latin-1, else an `iTXt` chunk with UTF-8 text.
    static func textChunk(keyword: String, text: String) throws -> (type: String, data: [UInt8]) {
        let keywordBytes = try validatedKeyword(keyword)
        if text.unicodeScalars.contains(where: { $0.value == 0 }) {
            throw PNGError.invalidText(keyword: keyword, reason: "contains a NUL character")
        }
        if text.unicodeScalars.allSatisfy({ $0.value <= 0xFF }) {
            return ("tEXt", keywordBytes + [0] + text.unicodeScalars.map { UInt8($0.value) })
        }
        // keyword, NUL, compression flag 0, method 0, empty language tag, NUL, empty translation, NUL.
        return ("iTXt", keywordBytes + [0, 0, 0, 0, 0] + Array(text.utf8))
    }

    /// Keyword rules of PNG §11.3.4.3: 1–79 printable Latin-1 characters, no leading,
    /// trailing or doubled spaces.
    private static func validatedKeyword(_ keyword: String) throws -> [UInt8] {
        let scalars = Array(keyword.unicodeScalars)
        guard (1...79).contains(scalars.count) else {
            throw PNGError.invalidKeyword(keyword, reason: "must be 1 to 79 characters")
        }
        for scalar in scalars {
            let v = scalar.value
            guard (32...126).contains(v) || (161...255).contains(v) else {
                throw PNGError.invalidKeyword(keyword, reason: "only printable Latin-1 characters are allowed")
            }
        }
        if keyword.hasPrefix(" ") || keyword.hasSuffix(" ") || keyword.contains("  ") {
            throw PNGError.invalidKeyword(keyword, reason: "no leading, trailing or consecutive spaces")
        }
        return scalars.map { UInt8($0.value) }
    }

    // MARK: - Filtering

    /// The image data as PNG scanlines: each row a filter-type byte and the filtered bytes.
    static func filteredRows(width: Int, height: Int, rgb: [UInt8]) -> [UInt8] {
        let stride = width * 3
        var out = [UInt8]()
        out.reserveCapacity((stride + 1) * height)
        let zeroRow = [UInt8](repeating: 0, count: stride)
        var candidates = [[UInt8]](repeating: [UInt8](repeating: 0, count: stride), count: 5)
        rgb.withUnsafeBufferPointer { pixels in
            for y in 0..<height {
                let row = pixels.baseAddress! + y * stride
                zeroRow.withUnsafeBufferPointer { zero in
                    let above = y == 0 ? zero.baseAddress! : row - stride
                    var bestFilter = 0, bestScore = Int.max
                    for filter in 0..<5 {
                        candidates[filter].withUnsafeMutableBufferPointer { out in
                            applyFilter(filter, row: row, above: above, count: stride, into: out.baseAddress!)
                        }
                        let score = candidates[filter].reduce(0) { $0 + abs(Int(Int8(bitPattern: $1))) }
                        if score < bestScore {
                            bestScore = score
                            bestFilter = filter
                        }
                    }
                    out.append(UInt8(bestFilter))
                    out += candidates[bestFilter]
                }
            }
        }
        return out
    }

    /// PNG filter types 0–4 (None, Sub, Up, Average, Paeth) over one row of 3-byte pixels.
    private static func applyFilter(_ filter: Int, row: UnsafePointer<UInt8>, above: UnsafePointer<UInt8>,
                                    count: Int, into out: UnsafeMutablePointer<UInt8>) {
        let bpp = 3
        for i in 0..<count {
            let x = row[i]
            let a = i >= bpp ? row[i - bpp] : 0
            let b = above[i]
            let c = i >= bpp ? above[i - bpp] : 0
            let predictor: UInt8
            switch filter {
            case 0: predictor = 0
            case 1: predictor = a
            case 2: predictor = b
            case 3: predictor = UInt8((Int(a) + Int(b)) / 2)
            default: predictor = paeth(a, b, c)
            }
            out[i] = x &- predictor
        }
    }

    /// The Paeth predictor: whichever of left, above, upper-left is nearest to left + above − upper-left.
    static func paeth(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt8 {
        let p = Int(a) + Int(b) - Int(c)
        let pa = abs(p - Int(a)), pb = abs(p - Int(b)), pc = abs(p - Int(c))
        if pa <= pb && pa <= pc { return a }
        return pb <= pc ? b : c
    }
}
