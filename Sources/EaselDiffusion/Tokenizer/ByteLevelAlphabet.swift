/// GPT-2's (and CLIP's) reversible map from the 256 byte values to printable characters.
///
/// Byte-level BPE vocabularies are spelled in these characters: the printable Latin-1 bytes stand
/// for themselves, the other 68 take the code points from U+0100 upwards, in byte order.
enum ByteLevelAlphabet {
    /// `characters[b]` spells byte `b`.
    static let characters: [Character] = {
        var table = [Character](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            let value = printable ? UInt32(byte) : next
            if !printable { next += 1 }
            table[byte] = Character(Unicode.Scalar(value)!)
        }
        return table
    }()

    /// The byte a vocabulary character stands for, or nil for a character outside the alphabet.
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let value = scalar.value
        if (0x21...0x7E).contains(value) || (0xA1...0xAC).contains(value) || (0xAE...0xFF).contains(value) {
            return UInt8(value)
        }
        guard (256..<256 + 68).contains(value) else { return nil }
        return unprintableBytes[Int(value) - 256]
    }

    private static let unprintableBytes: [UInt8] = (0..<256).compactMap { byte in
        let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
        return printable ? nil : UInt8(byte)
    }
}
