import Foundation

/// Byte-level BPE over vocabulary ids, with CLIP's end-of-word marker and a word cache.
///
/// A word starts as one symbol per byte, the last spelled with "</w>" appended; the pair with
/// the lowest merge rank is merged everywhere, left to right, until no pair has a rank. That is
/// CLIP's `SimpleTokenizer.bpe` and gives the same result as `tokenizers`' priority-queue BPE for
/// learned merges (a merge always ranks after the merges that made its two halves).
final class BytePairEncoder: @unchecked Sendable {
    private struct Merge {
        let rank: Int32
        let merged: Int32
    }

    /// Words repeat across prompts; past this many entries the cache starts over, so a
    /// long-running server's memory stays bounded.
    private static let cacheCapacity = 20_000
    /// Longer words are rare and cheap enough relative to their length; they are not cached.
    private static let cachedWordLimit = 64

    private let merges: [UInt64: Merge]
    private let byteIDs: [Int32]
    private let finalByteIDs: [Int32]
    private let lock = NSLock()
    private var cache: [[UInt8]: [Int32]] = [:]

    /// - Parameters:
    ///   - byteIDs: id of each byte's character; `finalByteIDs`: the same with "</w>".
    ///   - merges: (left id, right id, merged id) in rank order.
    init(byteIDs: [Int32], finalByteIDs: [Int32], merges: [(Int32, Int32, Int32)]) {
        precondition(byteIDs.count == 256 && finalByteIDs.count == 256)
        self.byteIDs = byteIDs
        self.finalByteIDs = finalByteIDs
        var table: [UInt64: Merge] = [:]
        table.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() {
            // Like `tokenizers`, a repeated pair keeps its last rank.
            table[Self.key(merge.0, merge.1)] = Merge(rank: Int32(rank), merged: merge.2)
        }
        self.merges = table
    }

    /// Appends the ids of one word (its UTF-8 bytes, not empty) to `out`.
    func encode(_ word: [UInt8], into out: inout [Int32]) {
        let cacheable = word.count <= Self.cachedWordLimit
        if cacheable {
            lock.lock()
            let hit = cache[word]
            lock.unlock()
            if let hit {
                out.append(contentsOf: hit)
                return
            }
        }
        let ids = merge(word)
        out.append(contentsOf: ids)
        if cacheable {
            lock.lock()
            if cache.count >= Self.cacheCapacity { cache.removeAll(keepingCapacity: true) }
            cache[word] = ids
            lock.unlock()
        }
    }

    private func merge(_ word: [UInt8]) -> [Int32] {
        var symbols = word.map { byteIDs[Int($0)] }
        symbols[symbols.count - 1] = finalByteIDs[Int(word[word.count - 1])]
        while symbols.count > 1 {
            var best: Merge?
            var bestLeft: Int32 = 0
            var bestRight: Int32 = 0
            for index in 0..<(symbols.count - 1) {
                guard let merge = merges[Self.key(symbols[index], symbols[index + 1])] else { continue }
                if merge.rank < best?.rank ?? .max {
                    best = merge
                    bestLeft = symbols[index]
                    bestRight = symbols[index + 1]
                }
            }
            guard let best else { break }
            var merged: [Int32] = []
            merged.reserveCapacity(symbols.count - 1)
            var index = 0
            while index < symbols.count {
                if index + 1 < symbols.count && symbols[index] == bestLeft && symbols[index + 1] == bestRight {
                    merged.append(best.merged)
                    index += 2
                } else {
                    merged.append(symbols[index])
                    index += 1
                }
            }
            symbols = merged
        }
        return symbols
    }

    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }
}
