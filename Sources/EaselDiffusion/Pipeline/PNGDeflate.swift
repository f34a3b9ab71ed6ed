/// A DEFLATE compressor (RFC 1951) and its zlib wrapper (RFC 1950), enough for PNG's
/// IDAT: greedy LZ77 over a 32 KiB window with hash chains, then per block whichever of
/// fixed or dynamic (length-limited, canonical) Huffman codes is smaller.
///
/// Foundation on Linux has no zlib API, and a system-library target for zlib would be one
/// more thing to install; PNG needs only the compressing half, which is this file.
enum Deflate {
    /// A zlib stream (header, DEFLATE data, Adler-32) of `input`.
    static func zlib(_ input: [UInt8]) -> [UInt8] {
        // CMF 0x78: deflate with a 32 KiB window; FLG 0x9C makes the pair a multiple of 31.
        var out: [UInt8] = [0x78, 0x9C]
        out += compress(input)
        let adler = Adler32.checksum(input)
        out += [UInt8(adler >> 24), UInt8((adler >> 16) & 0xFF), UInt8((adler >> 8) & 0xFF), UInt8(adler & 0xFF)]
        return out
    }

    /// Raw DEFLATE data of `input`.
    static func compress(_ input: [UInt8]) -> [UInt8] {
        var writer = BitWriter()
        let tokens = LZ77.tokens(input)
        let blockSize = 1 << 15
        var start = 0
        repeat {
            let end = min(start + blockSize, tokens.count)
            writeBlock(tokens[start..<end], final: end == tokens.count, to: &writer)
            start = end
        } while start < tokens.count
        return writer.finish()
    }

    private static func writeBlock(_ tokens: ArraySlice<LZ77.Token>, final: Bool, to writer: inout BitWriter) {
        var literalFrequencies = [Int](repeating: 0, count: 286)
        var distanceFrequencies = [Int](repeating: 0, count: 30)
        for token in tokens {
            if token.distance == 0 {
                literalFrequencies[Int(token.value)] += 1
            } else {
                literalFrequencies[257 + Tables.lengthSlot[Int(token.value)]] += 1
                distanceFrequencies[Tables.distanceSlot(Int(token.distance))] += 1
            }
        }
        literalFrequencies[256] = 1

        let dynamic = DynamicHeader(literalFrequencies: literalFrequencies, distanceFrequencies: distanceFrequencies)
        let fixed = HuffmanCode.fixedLiteral, fixedDistance = HuffmanCode.fixedDistance
        let fixedCost = fixed.cost(literalFrequencies) + fixedDistance.cost(distanceFrequencies)
        let dynamicCost = dynamic.headerBits + dynamic.literal.cost(literalFrequencies)
            + dynamic.distance.cost(distanceFrequencies)

        writer.write(final ? 1 : 0, bits: 1)
        if dynamicCost < fixedCost {
            writer.write(2, bits: 2)
            dynamic.write(to: &writer)
            writeTokens(tokens, literal: dynamic.literal, distance: dynamic.distance, to: &writer)
        } else {
            writer.write(1, bits: 2)
            writeTokens(tokens, literal: fixed, distance: fixedDistance, to: &writer)
        }
    }

    private static func writeTokens(_ tokens: ArraySlice<LZ77.Token>, literal: HuffmanCode, distance: HuffmanCode,
                                    to writer: inout BitWriter) {
        for token in tokens {
            if token.distance == 0 {
                literal.write(Int(token.value), to: &writer)
                continue
            }
            let length = Int(token.value)
            let slot = Tables.lengthSlot[length]
            literal.write(257 + slot, to: &writer)
            writer.write(UInt32(length - Tables.lengthBase[slot]), bits: Tables.lengthExtra[slot])
            let d = Int(token.distance)
            let dSlot = Tables.distanceSlot(d)
            distance.write(dSlot, to: &writer)
            writer.write(UInt32(d - Tables.distanceBase[dSlot]), bits: Tables.distanceExtra[dSlot])
        }
        literal.write(256, to: &writer)
    }

    /// The length and distance code tables of RFC 1951 §3.2.5.
    enum Tables {
        static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59,
                                 67, 83, 99, 115, 131, 163, 195, 227, 258]
        static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3,
                                  4, 4, 4, 4, 5, 5, 5, 5, 0]
        static let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
                                   1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
        static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8,
                                    9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
        /// Length (3...258) to its slot in `lengthBase`.
        static let lengthSlot: [Int] = (0...258).map { length in
            guard length >= 3 else { return 0 }
            return lengthBase.lastIndex { $0 <= length }!
        }

        static func distanceSlot(_ distance: Int) -> Int {
            var slot = distanceBase.count - 1
            while distanceBase[slot] > distance { slot -= 1 }
            return slot
        }
    }
}

/// LSB-first bit packing, as DEFLATE writes everything but Huffman codes (which are
/// stored pre-reversed in `HuffmanCode`).
struct BitWriter {
    private(set) var bytes: [UInt8] = []
    private var buffer: UInt64 = 0
    private var pending = 0

    mutating func write(_ value: UInt32, bits: Int) {
        guard bits > 0 else { return }
        buffer |= UInt64(value & UInt32(truncatingIfNeeded: (UInt64(1) << bits) - 1)) << pending
        pending += bits
        while pending >= 8 {
            bytes.append(UInt8(truncatingIfNeeded: buffer))
            buffer >>= 8
            pending -= 8
        }
    }

    /// The bytes written, the last one padded with zero bits.
    mutating func finish() -> [UInt8] {
        if pending > 0 { write(0, bits: 8 - pending) }
        return bytes
    }
}

/// A canonical Huffman code (RFC 1951 §3.2.2) given by its code lengths.
struct HuffmanCode {
    let lengths: [Int]
    /// Codes with their bits reversed, ready for the LSB-first writer.
    private let reversedCodes: [UInt32]

    init(lengths: [Int]) {
        self.lengths = lengths
        let maxLength = lengths.max() ?? 0
        var countPerLength = [Int](repeating: 0, count: maxLength + 1)
        for l in lengths where l > 0 { countPerLength[l] += 1 }
        var next = [UInt32](repeating: 0, count: maxLength + 2)
        var code: UInt32 = 0
        if maxLength >= 1 {
            for bits in 1...maxLength {
                code = (code + UInt32(countPerLength[bits - 1])) << 1
                next[bits] = code
            }
        }
        var codes = [UInt32](repeating: 0, count: lengths.count)
        for (symbol, l) in lengths.enumerated() where l > 0 {
            var c = next[l], reversed: UInt32 = 0
            next[l] += 1
            for _ in 0..<l {
                reversed = (reversed << 1) | (c & 1)
                c >>= 1
            }
            codes[symbol] = reversed
        }
        reversedCodes = codes
    }

    func write(_ symbol: Int, to writer: inout BitWriter) {
        writer.write(reversedCodes[symbol], bits: lengths[symbol])
    }

    /// Bits the codes of `frequencies` take (extra bits excluded: they are the same for every code).
    func cost(_ frequencies: [Int]) -> Int {
        zip(frequencies, lengths).reduce(0) { $0 + $1.0 * $1.1 }
    }

    static let fixedLiteral = HuffmanCode(lengths: Array(repeating: 8, count: 144) + Array(repeating: 9, count: 112)
        + Array(repeating: 7, count: 24) + Array(repeating: 8, count: 8))
    static let fixedDistance = HuffmanCode(lengths: Array(repeating: 5, count: 30))

    /// Optimal code lengths for `frequencies` with none longer than `maxLength`: a Huffman
    /// tree, then overlong codes folded in (as miniz does) so the Kraft sum stays exactly 1.
    static func lengths(for frequencies: [Int], maxLength: Int) -> [Int] {
        var lengths = [Int](repeating: 0, count: frequencies.count)
        let used = frequencies.indices.filter { frequencies[$0] > 0 }
            .sorted { (frequencies[$0], $0) < (frequencies[$1], $1) }
        if used.isEmpty { return lengths }
        if used.count == 1 {
            // Two one-bit codes, one unused: a complete code, which every inflater accepts.
            lengths[used[0]] = 1
            lengths[used[0] == 0 ? 1 : 0] = 1
            return lengths
        }
        // Two-queue Huffman construction over leaves sorted by weight.
        let leafCount = used.count
        var weight = used.map { frequencies[$0] }
        var parent = [Int](repeating: -1, count: 2 * leafCount - 1)
        var leafNext = 0, internalNext = leafCount
        func takeSmallest() -> Int {
            if leafNext < leafCount && (internalNext >= weight.count || weight[leafNext] <= weight[internalNext]) {
                leafNext += 1
                return leafNext - 1
            }
            internalNext += 1
            return internalNext - 1
        }
        for node in leafCount..<(2 * leafCount - 1) {
            let a = takeSmallest(), b = takeSmallest()
            weight.append(weight[a] + weight[b])
            parent[a] = node
            parent[b] = node
        }
        var depth = [Int](repeating: 0, count: 2 * leafCount - 1)
        for node in stride(from: 2 * leafCount - 3, through: 0, by: -1) { depth[node] = depth[parent[node]] + 1 }

        var countPerLength = [Int](repeating: 0, count: maxLength + 1)
        for leaf in 0..<leafCount { countPerLength[min(depth[leaf], maxLength)] += 1 }
        var kraft = (1...maxLength).reduce(0) { $0 + countPerLength[$1] << (maxLength - $1) }
        while kraft > 1 << maxLength {
            countPerLength[maxLength] -= 1
            for l in stride(from: maxLength - 1, through: 1, by: -1) where countPerLength[l] > 0 {
                countPerLength[l] -= 1
                countPerLength[l + 1] += 2
                break
            }
            kraft -= 1
        }
        // The most frequent symbols get the shortest codes.
        var symbol = used.count - 1
        for l in 1...maxLength {
            for _ in 0..<countPerLength[l] {
                lengths[used[symbol]] = l
                symbol -= 1
            }
        }
        return lengths
    }
}

/// A dynamic block's codes and their run-length-encoded description (RFC 1951 §3.2.7).
struct DynamicHeader {
    let literal: HuffmanCode
    let distance: HuffmanCode
    private let literalCount: Int
    private let distanceCount: Int
    private let codeLengthCode: HuffmanCode
    private let codeLengthCount: Int
    /// Run-length symbols (0...18) with their extra-bit values.
    private let runs: [(symbol: Int, extra: Int)]
    let headerBits: Int

    private static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
    private static let runExtraBits = [16: 2, 17: 3, 18: 7]

    init(literalFrequencies: [Int], distanceFrequencies: [Int]) {
        let literal = HuffmanCode(lengths: HuffmanCode.lengths(for: literalFrequencies, maxLength: 15))
        var distanceLengths = HuffmanCode.lengths(for: distanceFrequencies, maxLength: 15)
        // No distances used: still a complete (unused) distance code.
        if distanceLengths.allSatisfy({ $0 == 0 }) {
            distanceLengths[0] = 1
            distanceLengths[1] = 1
        }
        let distance = HuffmanCode(lengths: distanceLengths)
        let literalCount = max(257, (literal.lengths.lastIndex { $0 > 0 } ?? 0) + 1)
        let distanceCount = max(1, (distance.lengths.lastIndex { $0 > 0 } ?? 0) + 1)

        let sequence = Array(literal.lengths.prefix(literalCount)) + Array(distance.lengths.prefix(distanceCount))
        var runs: [(symbol: Int, extra: Int)] = []
        var i = 0
        while i < sequence.count {
            let value = sequence[i]
            var run = 1
            while i + run < sequence.count && sequence[i + run] == value { run += 1 }
            if value == 0 && run >= 11 {
                let n = min(run, 138)
                runs.append((18, n - 11))
                i += n
            } else if value == 0 && run >= 3 {
                runs.append((17, run - 3))
                i += run
            } else if value != 0 && run >= 4 {
                runs.append((value, 0))
                let n = min(run - 1, 6)
                runs.append((16, n - 3))
                i += 1 + n
            } else {
                runs.append((value, 0))
                i += 1
            }
        }
        var frequencies = [Int](repeating: 0, count: 19)
        for run in runs { frequencies[run.symbol] += 1 }
        let codeLengthCode = HuffmanCode(lengths: HuffmanCode.lengths(for: frequencies, maxLength: 7))
        let codeLengthCount = max(4, (Self.codeLengthOrder.lastIndex { codeLengthCode.lengths[$0] > 0 } ?? 0) + 1)
        headerBits = 5 + 5 + 4 + 3 * codeLengthCount
            + runs.reduce(0) { $0 + codeLengthCode.lengths[$1.symbol] + (Self.runExtraBits[$1.symbol] ?? 0) }
        self.literal = literal
        self.distance = distance
        self.literalCount = literalCount
        self.distanceCount = distanceCount
        self.codeLengthCode = codeLengthCode
        self.codeLengthCount = codeLengthCount
        self.runs = runs
    }

    func write(to writer: inout BitWriter) {
        writer.write(UInt32(literalCount - 257), bits: 5)
        writer.write(UInt32(distanceCount - 1), bits: 5)
        writer.write(UInt32(codeLengthCount - 4), bits: 4)
        for symbol in Self.codeLengthOrder.prefix(codeLengthCount) {
            writer.write(UInt32(codeLengthCode.lengths[symbol]), bits: 3)
        }
        for run in runs {
            codeLengthCode.write(run.symbol, to: &writer)
            if let bits = Self.runExtraBits[run.symbol] { writer.write(UInt32(run.extra), bits: bits) }
        }
    }
}

/// Greedy LZ77 over DEFLATE's 32 KiB window, with hash chains on three-byte prefixes.
enum LZ77 {
    /// A literal byte (`distance == 0`, `value` the byte) or a match (`value` its length).
    struct Token {
        var value: UInt16
        var distance: UInt16
    }

    static let window = 1 << 15
    static let minMatch = 3
    static let maxMatch = 258
    /// How many earlier positions with the same hash are tried; more is smaller and slower.
    static let maxChain = 48

    static func tokens(_ input: [UInt8]) -> [Token] {
        let n = input.count
        var tokens: [Token] = []
        tokens.reserveCapacity(n / 2)
        let hashBits = 15, hashMask = (1 << hashBits) - 1, windowMask = window - 1
        var head = [Int32](repeating: -1, count: 1 << hashBits)
        var previous = [Int32](repeating: -1, count: window)
        input.withUnsafeBufferPointer { bytes in
            @inline(__always) func hash(_ p: Int) -> Int {
                ((Int(bytes[p]) << 10) ^ (Int(bytes[p + 1]) << 5) ^ Int(bytes[p + 2])) & hashMask
            }
            @inline(__always) func insert(_ p: Int) {
                guard p + minMatch <= n else { return }
                let h = hash(p)
                previous[p & windowMask] = head[h]
                head[h] = Int32(p)
            }
            var position = 0
            while position < n {
                var bestLength = 0, bestDistance = 0
                if position + minMatch <= n {
                    let limit = min(maxMatch, n - position)
                    var candidate = Int(head[hash(position)])
                    var chain = maxChain
                    while candidate >= 0 && position - candidate <= window && chain > 0 {
                        if bytes[candidate + bestLength] == bytes[position + bestLength] {
                            var length = 0
                            while length < limit && bytes[candidate + length] == bytes[position + length] { length += 1 }
                            if length > bestLength {
                                bestLength = length
                                bestDistance = position - candidate
                                if length == limit { break }
                            }
                        }
                        let next = Int(previous[candidate & windowMask])
                        // A slot reused by a newer position ends the chain.
                        if next >= candidate { break }
                        candidate = next
                        chain -= 1
                    }
                }
                if bestLength >= minMatch {
                    tokens.append(Token(value: UInt16(bestLength), distance: UInt16(bestDistance)))
                    for p in position..<(position + bestLength) { insert(p) }
                    position += bestLength
                } else {
                    tokens.append(Token(value: UInt16(bytes[position]), distance: 0))
                    insert(position)
                    position += 1
                }
            }
        }
        return tokens
    }
}
