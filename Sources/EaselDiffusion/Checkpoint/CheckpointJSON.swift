import Foundation

/// A parsed JSON value from a checkpoint's own metadata (a safetensors header,
/// `model_index.json`, a sharded checkpoint's `*.index.json`) or from an HTTP request
/// body (the server parses every JSON body with this parser, too).
///
/// Our own parser rather than `JSONSerialization` because this input comes from anywhere
/// and the checks need what a generic parser hides: numbers kept as written (a shape of
/// `1e30` or `2.5` is an error, not a rounded number; a request's `1e19` is range-checked
/// before any conversion), duplicate keys rejected (two entries for one tensor, or two
/// `width`s that a proxy and the server would read differently, are ambiguous), nesting
/// bounded, and an error's byte offset.
public enum JSONValue: Equatable, Sendable {
    /// Members in file order; keys are unique.
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    /// The number's text exactly as written (valid JSON number syntax).
    case number(String)
    case bool(Bool)
    case null

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case let (.object(a), .object(b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(a), .array(b)): a == b
        case let (.string(a), .string(b)): a == b
        case let (.number(a), .number(b)): a == b
        case let (.bool(a), .bool(b)): a == b
        case (.null, .null): true
        default: false
        }
    }

    /// The value of member `key` of an object.
    public subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The value as an exact `Int`: an integer literal (no fraction or exponent) that fits.
    public var exactInt: Int? {
        guard case let .number(text) = self, !text.contains(where: { ".eE".contains($0) }) else { return nil }
        return Int(text)
    }

    /// The value as a string, if it is one.
    public var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    /// A short name of the value's kind for error messages, with small values shown.
    public var kindDescription: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case let .string(s): "the string \"\(s.prefix(40))\""
        case let .number(n): "the number \(n.prefix(40))"
        case let .bool(b): "\(b)"
        case .null: "null"
        }
    }
}

/// Why a byte sequence is not JSON, and where.
public struct JSONParseError: Error, Sendable, Equatable {
    /// Byte offset into the parsed bytes.
    public var offset: Int
    public var message: String
}

/// A strict RFC 8259 parser over UTF-8 bytes (already validated as UTF-8 by the caller or
/// rejected here). Every byte access is bounds-checked by hand: this module is compiled
/// with `-Ounchecked`, so a missing check would be undefined behaviour, not a trap.
public struct JSONParser {
    /// Deepest nesting accepted; checkpoint metadata is two or three levels deep.
    static let maxDepth = 64

    private let bytes: [UInt8]
    private var index = 0

    private init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Parses one JSON value filling `bytes` (surrounding whitespace allowed).
    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        if let bad = firstInvalidUTF8Offset(bytes) {
            throw JSONParseError(offset: bad, message: "invalid UTF-8")
        }
        var parser = JSONParser(bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.index < bytes.count {
            throw parser.error("unexpected data after the JSON value")
        }
        return value
    }

    /// Byte offset of the first ill-formed UTF-8 sequence (overlong forms, surrogates and
    /// truncated sequences included), or nil when all of `bytes` is valid.
    static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 { i += 1; continue }
            let length: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF  // allowed range of the 2nd byte
            switch b0 {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: return i
            }
            guard i + length <= n else { return i }
            guard bytes[i + 1] >= low, bytes[i + 1] <= high else { return i }
            for k in 2..<length where bytes[i + k] & 0xC0 != 0x80 { return i }
            i += length
        }
        return nil
    }

    // MARK: - Grammar

    private func error(_ message: String) -> JSONParseError {
        JSONParseError(offset: index, message: message)
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let b = current, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { index += 1 }
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(JSONParseError) {
        guard current == byte else {
            throw error(current == nil ? "unexpected end, expected \(what)" : "expected \(what)")
        }
        index += 1
    }

    private mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard let b = current else { throw error("unexpected end, expected a value") }
        switch b {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try parseLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try parseLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try parseLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character, expected a value")
        }
    }

    private mutating func parseLiteral(_ word: StaticString) throws(JSONParseError) {
        let count = word.utf8CodeUnitCount
        let start = word.utf8Start
        for k in 0..<count {
            guard index < bytes.count, bytes[index] == start[k] else { throw error("invalid literal") }
            index += 1
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
        index += 1  // {
        var members: [(key: String, value: JSONValue)] = []
        var seen = Set<String>()
        skipWhitespace()
        if current == UInt8(ascii: "}") { index += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let keyOffset = index
            let key = try parseString()
            guard seen.insert(key).inserted else {
                throw JSONParseError(offset: keyOffset, message: "duplicate key \"\(key)\"")
            }
            skipWhitespace()
            try expect(UInt8(ascii: ":"), "':'")
            skipWhitespace()
            members.append((key, try parseValue(depth: depth)))
            skipWhitespace()
            if current == UInt8(ascii: ",") { index += 1; continue }
            try expect(UInt8(ascii: "}"), "',' or '}'")
            return .object(members)
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
        index += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { index += 1; return .array(elements) }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            if current == UInt8(ascii: ",") { index += 1; continue }
            try expect(UInt8(ascii: "]"), "',' or ']'")
            return .array(elements)
        }
    }

    private mutating func parseNumber() throws(JSONParseError) -> String {
        let start = index
        if current == UInt8(ascii: "-") { index += 1 }
        guard let first = current, isDigit(first) else { throw error("invalid number") }
        if first == UInt8(ascii: "0") {
            index += 1
        } else {
            skipDigits()
        }
        if current == UInt8(ascii: ".") {
            index += 1
            guard let d = current, isDigit(d) else { throw error("invalid number: digit expected after '.'") }
            skipDigits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard let d = current, isDigit(d) else { throw error("invalid number: digit expected in exponent") }
            skipDigits()
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    private mutating func skipDigits() {
        while let b = current, isDigit(b) { index += 1 }
    }

    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1  // opening quote
        var decoded: [UInt8] = []
        var runStart = index
        while true {
            guard let b = current else { throw error("unterminated string") }
            if b == UInt8(ascii: "\"") {
                decoded.append(contentsOf: bytes[runStart..<index])
                index += 1
                return String(decoding: decoded, as: UTF8.self)
            }
            if b < 0x20 { throw error("control character in string") }
            if b != UInt8(ascii: "\\") { index += 1; continue }
            decoded.append(contentsOf: bytes[runStart..<index])
            index += 1
            guard let escape = current else { throw error("unterminated escape") }
            index += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escape)
            case UInt8(ascii: "b"): decoded.append(0x08)
            case UInt8(ascii: "f"): decoded.append(0x0C)
            case UInt8(ascii: "n"): decoded.append(0x0A)
            case UInt8(ascii: "r"): decoded.append(0x0D)
            case UInt8(ascii: "t"): decoded.append(0x09)
            case UInt8(ascii: "u"): decoded.append(contentsOf: try parseUnicodeEscape())
            default: throw error("invalid escape")
            }
            runStart = index
        }
    }

    /// The UTF-8 bytes of a `\uXXXX` escape (after the `u`), pairing surrogates.
    private mutating func parseUnicodeEscape() throws(JSONParseError) -> [UInt8] {
        var unit = try parseHex4()
        if (0xD800..<0xDC00).contains(unit) {
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                throw error("unpaired surrogate in \\u escape")
            }
            index += 2
            let low = try parseHex4()
            guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
            unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(unit) {
            throw error("unpaired surrogate in \\u escape")
        }
        guard let scalar = Unicode.Scalar(unit) else { throw error("invalid \\u escape") }
        return Array(String(Character(scalar)).utf8)
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let b = current else { throw error("unterminated \\u escape") }
            let digit: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }
}

/// The bytes of `url`: a missing file is `missingFile`; one that exists but cannot be read
/// is `unreadable("cannot read: ...")`, the caller's error for its kind of file.
func readCheckpointFile(_ url: URL, unreadable: (String) -> CheckpointError) throws -> Data {
    do {
        return try Data(contentsOf: url)
    } catch {
        if !FileManager.default.fileExists(atPath: url.path) {
            throw CheckpointError.missingFile(path: url.path, what: url.lastPathComponent)
        }
        throw unreadable("cannot read: \(error.localizedDescription)")
    }
}

/// Reads a JSON file of the checkpoint layout with the strict parser.
func readJSONFile(_ url: URL) throws -> JSONValue {
    let data = try readCheckpointFile(url) { CheckpointError.invalidJSON(path: url.path, reason: $0) }
    do {
        return try JSONParser.parse(Array(data))
    } catch {
        throw CheckpointError.invalidJSON(path: url.path, reason: "\(error.message) at byte \(error.offset)")
    }
}
