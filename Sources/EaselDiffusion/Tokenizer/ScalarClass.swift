/// The classes CLIP's pre-tokenisation patterns distinguish: `\p{L}`, `\p{N}`, `\s`, and the rest.
///
/// The reference (transformers 5's `CLIPTokenizer`, i.e. the Rust `tokenizers` library) evaluates
/// those patterns with Oniguruma, whose Unicode tables are version 16.0. Swift's tables are newer,
/// so a letter or number assigned after 16.0 is classed `.other`, as Oniguruma sees it (an
/// unassigned code point). `TokenizerUnicodeTests` compares every code point with the reference.
enum ScalarClass: UInt8, Sendable {
    case letter
    case number
    case whitespace
    case other

    /// The Unicode version of the reference regex engine's tables.
    static let referenceUnicodeVersion = (major: 16, minor: 0)

    init(_ scalar: Unicode.Scalar) {
        let value = scalar.value
        if value < 0x80 {
            self = Self.ascii(UInt8(value))
            return
        }
        let properties = scalar.properties
        if properties.isWhitespace {
            self = .whitespace
            return
        }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            self = Self.knownToReference(properties) ? .letter : .other
        case .decimalNumber, .letterNumber, .otherNumber:
            self = Self.knownToReference(properties) ? .number : .other
        default:
            self = .other
        }
    }

    private static func ascii(_ byte: UInt8) -> ScalarClass {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): .letter
        case UInt8(ascii: "0")...UInt8(ascii: "9"): .number
        case 0x09...0x0D, 0x20: .whitespace
        default: .other
        }
    }

    private static func knownToReference(_ properties: Unicode.Scalar.Properties) -> Bool {
        guard let age = properties.age else { return false }
        let reference = referenceUnicodeVersion
        return age.major < reference.major || (age.major == reference.major && age.minor <= reference.minor)
    }
}
