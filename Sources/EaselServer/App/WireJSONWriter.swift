import Foundation

/// JSON written straight into bytes, for the entities every request answers with (a job,
/// a list of jobs): the same bytes `WireJSON.encode` (JSONEncoder with sorted keys and
/// unescaped slashes) writes, at a fraction of its cost. `JSONEncoder` in
/// swift-corelibs-foundation builds a tree of boxed values and sorts every object's keys
/// on each call; a GET spent more time there than in the database. The writer takes the
/// keys in the order the caller gives them, so callers write each object's keys already
/// sorted; `WireJSONWriterTests` holds its output to JSONEncoder's, byte for byte.
struct WireJSONWriter {
    private(set) var bytes: [UInt8] = []
    /// A value was written at this level, so the next key or element needs a comma.
    private var needsComma = false

    init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    /// A value JSONEncoder refuses (a NaN or infinite number).
    struct InvalidValue: Error, CustomStringConvertible {
        let key: StaticString
        let value: Double
        var description: String { "\(key) is \(value), which JSON cannot express" }
    }

    // MARK: Structure

    mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// `"key":` (after a comma when the object has a field already). Keys are plain ASCII
    /// names, written as they are.
    mutating func key(_ key: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    // MARK: Values (each after a key, or as an array element)

    mutating func string(_ text: String) {
        separate()
        var text = text
        text.withUTF8 { appendEscaped($0) }
        needsComma = true
    }

    mutating func integer<T: BinaryInteger>(_ value: T) {
        separate()
        appendDecimal(value)
        needsComma = true
    }

    mutating func bool(_ value: Bool) {
        separate()
        if value {
            bytes.append(contentsOf: [UInt8(ascii: "t"), UInt8(ascii: "r"), UInt8(ascii: "u"), UInt8(ascii: "e")])
        } else {
            bytes.append(contentsOf: [
                UInt8(ascii: "f"), UInt8(ascii: "a"), UInt8(ascii: "l"), UInt8(ascii: "s"), UInt8(ascii: "e"),
            ])
        }
        needsComma = true
    }

    /// As JSONEncoder writes a `Double`: its shortest round-trip `description`, less a
    /// trailing `.0` (`7`, `0.5`, `1e-05`, `1e+16`); NaN and infinities are refused, as
    /// JSONEncoder refuses them.
    mutating func double(_ value: Double, key: StaticString) throws {
        guard value.isFinite else { throw InvalidValue(key: key, value: value) }
        separate()
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        text.withUTF8 { bytes.append(contentsOf: $0) }
        needsComma = true
    }

    // Optional fields are left out when nil, as the synthesized `Encodable` leaves them out.

    mutating func field(_ name: StaticString, _ value: String) {
        key(name)
        string(value)
    }

    mutating func field(_ name: StaticString, _ value: String?) {
        if let value { field(name, value) }
    }

    mutating func field<T: BinaryInteger>(_ name: StaticString, _ value: T) {
        key(name)
        integer(value)
    }

    mutating func field<T: BinaryInteger>(_ name: StaticString, _ value: T?) {
        if let value { field(name, value) }
    }

    mutating func field(_ name: StaticString, _ value: Bool?) {
        if let value {
            key(name)
            bool(value)
        }
    }

    mutating func field(_ name: StaticString, _ value: Double) throws {
        key(name)
        try double(value, key: name)
    }

    mutating func field(_ name: StaticString, _ value: Double?) throws {
        if let value { try field(name, value) }
    }

    // MARK: Bytes

    private mutating func appendDecimal<T: BinaryInteger>(_ value: T) {
        // At most 20 digits and a sign for 64-bit values.
        if value == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let magnitude = value.magnitude
        var rest = UInt64(truncatingIfNeeded: magnitude)
        if T.isSigned && value < 0 { bytes.append(UInt8(ascii: "-")) }
        withUnsafeMutableBytes(of: &digits) { buffer in
            var index = buffer.count
            while rest > 0 {
                index -= 1
                buffer[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
            bytes.append(contentsOf: buffer[index...])
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// A JSON string as JSONEncoder writes it: `"` and `\` escaped, `\b \f \n \r \t` short,
    /// other control characters as `\u00XX` (lowercase), everything else (slashes,
    /// non-ASCII) as it is.
    private mutating func appendEscaped(_ text: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var start = 0
        for index in 0..<text.count {
            let byte = text[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            if start < index { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: text[start..<index])) }
            start = index + 1
            bytes.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
            case 0x08: bytes.append(UInt8(ascii: "b"))
            case 0x0C: bytes.append(UInt8(ascii: "f"))
            case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "r"))
            case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "t"))
            default:
                bytes.append(contentsOf: [
                    UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                    Self.hexDigits[Int(byte >> 4)], Self.hexDigits[Int(byte & 0xF)],
                ])
            }
        }
        if start < text.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: text[start...])) }
        bytes.append(UInt8(ascii: "\""))
    }
}
