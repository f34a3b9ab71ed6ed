import Foundation
import Testing
@testable import EaselDiffusion

/// A minimal inflater (RFC 1951, after Mark Adler's puff.c design) used only to check that
/// what `Deflate` writes decodes to what went in. Independent of the encoder: it shares no
/// tables or code with it.
private struct Inflater {
    struct Failure: Error, CustomStringConvertible { let description: String }

    private let input: [UInt8]
    private var position = 0
    private var bitBuffer = 0
    private var bitCount = 0
    private(set) var output: [UInt8] = []
    private(set) var blockTypes: [Int] = []

    init(_ input: [UInt8]) { self.input = input }

    private mutating func bits(_ n: Int) throws -> Int {
        while bitCount < n {
            guard position < input.count else { throw Failure(description: "out of input") }
            bitBuffer |= Int(input[position]) << bitCount
            position += 1
            bitCount += 8
        }
        let value = bitBuffer & ((1 << n) - 1)
        bitBuffer >>= n
        bitCount -= n
        return value
    }

    /// Symbols by code length, as puff's `struct huffman`.
    private struct Decoder {
        var counts = [Int](repeating: 0, count: 16)
        var symbols: [Int] = []

        init(lengths: [Int]) throws {
            for l in lengths { counts[l] += 1 }
            var left = 1
            for l in 1...15 {
                left = left * 2 - counts[l]
                if left < 0 { throw Failure(description: "over-subscribed code") }
            }
            var offsets = [Int](repeating: 0, count: 16)
            for l in 1..<15 { offsets[l + 1] = offsets[l] + counts[l] }
            symbols = [Int](repeating: 0, count: lengths.count)
            for (symbol, l) in lengths.enumerated() where l != 0 {
                symbols[offsets[l]] = symbol
                offsets[l] += 1
            }
        }
    }

    private mutating func decode(_ h: Decoder) throws -> Int {
        var code = 0, first = 0, index = 0
        for l in 1...15 {
            code |= try bits(1)
            let count = h.counts[l]
            if code - count < first { return h.symbols[index + (code - first)] }
            index += count
            first = (first + count) << 1
            code <<= 1
        }
        throw Failure(description: "invalid code")
    }

    private static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    private static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    private static let distExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    private mutating func codes(_ lit: Decoder, _ dist: Decoder) throws {
        while true {
            var symbol = try decode(lit)
            if symbol < 256 { output.append(UInt8(symbol)); continue }
            if symbol == 256 { return }
            symbol -= 257
            guard symbol < 29 else { throw Failure(description: "bad length symbol") }
            let length = Self.lengthBase[symbol] + (try bits(Self.lengthExtra[symbol]))
            let d = try decode(dist)
            guard d < 30 else { throw Failure(description: "bad distance symbol") }
            let distance = Self.distBase[d] + (try bits(Self.distExtra[d]))
            guard distance <= output.count else { throw Failure(description: "distance too far back") }
            for _ in 0..<length { output.append(output[output.count - distance]) }
        }
    }

    mutating func inflate() throws {
        var last = 0
        repeat {
            last = try bits(1)
            let type = try bits(2)
            blockTypes.append(type)
            switch type {
            case 0:
                bitBuffer = 0
                bitCount = 0
                guard position + 4 <= input.count else { throw Failure(description: "short stored header") }
                let len = Int(input[position]) | Int(input[position + 1]) << 8
                let nlen = Int(input[position + 2]) | Int(input[position + 3]) << 8
                guard len == (~nlen & 0xFFFF) else { throw Failure(description: "stored length mismatch") }
                position += 4
                output += input[position..<(position + len)]
                position += len
            case 1:
                let lit = try Decoder(lengths: Array(repeating: 8, count: 144) + Array(repeating: 9, count: 112)
                    + Array(repeating: 7, count: 24) + Array(repeating: 8, count: 8))
                try codes(lit, try Decoder(lengths: Array(repeating: 5, count: 30)))
            case 2:
                let nlen = try bits(5) + 257, ndist = try bits(5) + 1, ncode = try bits(4) + 4
                let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
                var codeLengths = [Int](repeating: 0, count: 19)
                for i in 0..<ncode { codeLengths[order[i]] = try bits(3) }
                let lencode = try Decoder(lengths: codeLengths)
                var lengths: [Int] = []
                while lengths.count < nlen + ndist {
                    let symbol = try decode(lencode)
                    switch symbol {
                    case 0..<16: lengths.append(symbol)
                    case 16:
                        guard let previous = lengths.last else { throw Failure(description: "repeat with no previous") }
                        lengths += Array(repeating: previous, count: 3 + (try bits(2)))
                    case 17: lengths += Array(repeating: 0, count: 3 + (try bits(3)))
                    default: lengths += Array(repeating: 0, count: 11 + (try bits(7)))
                    }
                }
                guard lengths.count == nlen + ndist, lengths[256] > 0 else { throw Failure(description: "bad code lengths") }
                try codes(try Decoder(lengths: Array(lengths[0..<nlen])), try Decoder(lengths: Array(lengths[nlen...])))
            default:
                throw Failure(description: "invalid block type 3")
            }
        } while last == 0
    }

    /// Inflates a zlib stream, checking its header and Adler-32.
    static func zlib(_ stream: [UInt8]) throws -> (data: [UInt8], blockTypes: [Int]) {
        guard stream.count >= 6, stream[0] & 0x0F == 8, (Int(stream[0]) << 8 | Int(stream[1])) % 31 == 0 else {
            throw Failure(description: "bad zlib header")
        }
        var inflater = Inflater(Array(stream[2..<(stream.count - 4)]))
        try inflater.inflate()
        let tail = stream.suffix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard tail == Adler32.checksum(inflater.output) else { throw Failure(description: "Adler-32 mismatch") }
        return (inflater.output, inflater.blockTypes)
    }
}

/// A PNG split into chunks, checking the signature and every CRC.
private func chunks(_ png: [UInt8]) throws -> [(type: String, data: [UInt8])] {
    #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    var result: [(String, [UInt8])] = []
    var p = 8
    func u32(_ at: Int) -> UInt32 { png[at..<(at + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
    while p < png.count {
        let length = Int(u32(p))
        let type = String(decoding: png[(p + 4)..<(p + 8)], as: UTF8.self)
        let data = Array(png[(p + 8)..<(p + 8 + length)])
        #expect(u32(p + 8 + length) == CRC32.checksum(png[(p + 4)..<(p + 8 + length)]), "CRC of \(type)")
        result.append((type, data))
        p += 12 + length
    }
    #expect(p == png.count)
    return result
}

/// Undoes PNG filtering of 8-bit RGB scanlines.
private func unfilter(_ data: [UInt8], width: Int, height: Int) -> [UInt8] {
    let stride = width * 3
    var out = [UInt8](repeating: 0, count: stride * height)
    for y in 0..<height {
        let filter = data[y * (stride + 1)]
        for i in 0..<stride {
            let x = data[y * (stride + 1) + 1 + i]
            let a = i >= 3 ? Int(out[y * stride + i - 3]) : 0
            let b = y > 0 ? Int(out[(y - 1) * stride + i]) : 0
            let c = i >= 3 && y > 0 ? Int(out[(y - 1) * stride + i - 3]) : 0
            let predictor: Int
            switch filter {
            case 0: predictor = 0
            case 1: predictor = a
            case 2: predictor = b
            case 3: predictor = (a + b) / 2
            default:
                let p = a + b - c
                let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
            }
            out[y * stride + i] = UInt8((Int(x) + predictor) & 0xFF)
        }
    }
    return out
}

/// Deterministic test images: a smooth gradient with a pattern, and pseudo-random noise.
private func testImage(width: Int, height: Int, noise: Bool) -> [UInt8] {
    var state: UInt32 = 12345
    return (0..<(width * height * 3)).map { i in
        if noise {
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(state >> 24)
        }
        let pixel = i / 3, x = pixel % width, y = pixel / width
        switch i % 3 {
        case 0: return UInt8((x * 255) / max(width - 1, 1))
        case 1: return UInt8((y * 255) / max(height - 1, 1))
        default: return UInt8(((x / 8 + y / 8) % 2) * 200)
        }
    }
}

@Suite struct PNGTests {
    /// Published check values: CRC-32 of "123456789" is 0xCBF43926; every PNG's IEND chunk
    /// ends with AE 42 60 82; Adler-32 of "Wikipedia" is 0x11E60398.
    @Test func checksumKnownAnswers() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum(Array("IEND".utf8)) == 0xAE42_6082)
        #expect(CRC32.checksum([UInt8]()) == 0)
        #expect(Adler32.checksum(Array("Wikipedia".utf8)) == 0x11E6_0398)
        #expect(Adler32.checksum([]) == 1)
        // Long runs exercise the deferred modulo: 100,000 bytes of 0xFF.
        #expect(Adler32.checksum([UInt8](repeating: 0xFF, count: 100_000)) == 0x149A_302C)  // zlib.adler32(b"\xff" * 100000)
    }

    @Test(arguments: [0, 1, 2, 3, 100, 5000, 70000, 300_000])
    func deflateRoundTrips(size: Int) throws {
        var state: UInt32 = UInt32(size)
        // Text-like data with repeats, so matches of every length and distance occur.
        let words = ["easel ", "paint ", "diffusion ", "noise ", "a", "b", "\n"]
        var input: [UInt8] = []
        while input.count < size {
            state = state &* 1_103_515_245 &+ 12345
            if state >> 28 == 0 {
                input.append(UInt8(truncatingIfNeeded: state >> 16))
            } else {
                input += Array(words[Int(state >> 16) % words.count].utf8)
            }
        }
        input = Array(input.prefix(size))
        let stream = Deflate.zlib(input)
        let (output, blocks) = try Inflater.zlib(stream)
        #expect(output == input)
        #expect(blocks.allSatisfy { $0 == 1 || $0 == 2 })
        if size >= 5000 {
            #expect(stream.count < input.count / 2, "\(size) bytes compressed to \(stream.count)")
            #expect(blocks.contains(2), "large inputs should use dynamic Huffman blocks")
        }
    }

    @Test func runsAndIncompressibleData() throws {
        for input in [[UInt8](repeating: 7, count: 100_000), testImage(width: 64, height: 64, noise: true),
                      Array((0..<70_000).map { UInt8($0 % 251) })] {
            let stream = Deflate.zlib(input)
            #expect(try Inflater.zlib(stream).data == input)
            #expect(stream.count <= input.count + input.count / 50 + 64)
        }
    }

    @Test(arguments: [(1, 1), (3, 2), (64, 48), (200, 120)])
    func imageRoundTrips(size: (width: Int, height: Int)) throws {
        for noise in [false, true] {
            let rgb = testImage(width: size.width, height: size.height, noise: noise)
            let png = try PNGEncoder.encode(width: size.width, height: size.height, rgb: rgb,
                                            metadata: [("prompt", "a red fox, café au lait"), ("seed", "4523184")])
            let parts = try chunks(png)
            #expect(parts.map(\.type) == ["IHDR", "tEXt", "tEXt", "IDAT", "IEND"])
            let ihdr = parts[0].data
            #expect(ihdr.count == 13)
            #expect(Array(ihdr[0..<8]) == [0, 0, UInt8(size.width >> 8), UInt8(size.width & 0xFF),
                                           0, 0, UInt8(size.height >> 8), UInt8(size.height & 0xFF)])
            #expect(Array(ihdr[8..<13]) == [8, 2, 0, 0, 0])
            #expect(parts[4].data.isEmpty)
            let scanlines = try Inflater.zlib(parts[3].data).data
            #expect(scanlines.count == (size.width * 3 + 1) * size.height)
            #expect(unfilter(scanlines, width: size.width, height: size.height) == rgb)
            if !noise && size.width >= 64 {
                #expect(png.count < rgb.count / 4, "smooth \(size) image: \(png.count) bytes")
                #expect(Set((0..<size.height).map { scanlines[$0 * (size.width * 3 + 1)] }).count > 1,
                        "rows should use more than one filter")
            }
        }
    }

    /// With EASEL_PNG_CHECK_DIR set, writes sample PNGs there for an outside decoder
    /// (checked once with Python's PIL and zlib: every file decoded to the same pixels).
    @Test func writesSamplesForExternalCheck() throws {
        guard let directory = ProcessInfo.processInfo.environment["EASEL_PNG_CHECK_DIR"] else { return }
        for (name, width, height, noise) in [("smooth", 200, 120, false), ("noise", 64, 48, true), ("tiny", 1, 1, false)] {
            let rgb = testImage(width: width, height: height, noise: noise)
            let png = try PNGEncoder.encodeData(width: width, height: height, rgb: rgb,
                                                metadata: [("prompt", "a red fox, café au lait"), ("caption", "富士山")])
            try png.write(to: URL(fileURLWithPath: directory).appendingPathComponent("\(name).png"))
            try Data(rgb).write(to: URL(fileURLWithPath: directory).appendingPathComponent("\(name).rgb"))
        }
    }

    @Test func textChunks() throws {
        let latin1 = try PNGEncoder.textChunk(keyword: "prompt", text: "café, 50% off")
        #expect(latin1.type == "tEXt")
        #expect(latin1.data == Array("prompt".utf8) + [0] + [0x63, 0x61, 0x66, 0xE9, 0x2C, 0x20, 0x35, 0x30, 0x25, 0x20, 0x6F, 0x66, 0x66])
        let wide = try PNGEncoder.textChunk(keyword: "prompt", text: "富士山")
        #expect(wide.type == "iTXt")
        #expect(wide.data == Array("prompt".utf8) + [0, 0, 0, 0, 0] + Array("富士山".utf8))
        #expect(throws: PNGError.self) { try PNGEncoder.textChunk(keyword: "", text: "x") }
        #expect(throws: PNGError.self) { try PNGEncoder.textChunk(keyword: " seed", text: "x") }
        #expect(throws: PNGError.self) { try PNGEncoder.textChunk(keyword: String(repeating: "k", count: 80), text: "x") }
        #expect(throws: PNGError.self) { try PNGEncoder.textChunk(keyword: "seed", text: "a\u{0}b") }
    }

    @Test func rejectsBadSizes() {
        #expect(throws: PNGError.self) { try PNGEncoder.encode(width: 0, height: 4, rgb: []) }
        #expect(throws: PNGError.pixelCount(expected: 12, actual: 11)) {
            try PNGEncoder.encode(width: 2, height: 2, rgb: [UInt8](repeating: 0, count: 11))
        }
    }

    @Test func paethPredictor() {
        #expect(PNGEncoder.paeth(10, 20, 10) == 20)
        #expect(PNGEncoder.paeth(20, 10, 10) == 20)
        #expect(PNGEncoder.paeth(10, 10, 10) == 10)
        #expect(PNGEncoder.paeth(0, 255, 255) == 0)
    }
}
