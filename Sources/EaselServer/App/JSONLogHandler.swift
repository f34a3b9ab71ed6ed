import Foundation
import Logging

/// One JSON object per line on standard error: time, level, message, label and every
/// metadata key as a field, so request and job lines can be filtered by machines.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String
    let stream: @Sendable (String) -> Void

    public init(label: String, stream: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.stream = stream
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: Logger.Metadata
        if metadata.isEmpty {
            fields = event.metadata ?? [:]
        } else {
            fields = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 })
        }
        if let error = event.error { fields["error"] = .string("\(error)") }
        fields["time"] = .string(ISOTime.string(Date()))
        fields["level"] = .string(event.level.rawValue)
        fields["message"] = .string(event.message.description)
        fields["label"] = .string(label)
        var line: [UInt8] = []
        line.reserveCapacity(384)
        Self.appendObject(fields, to: &line)
        stream(String(decoding: line, as: UTF8.self))
    }

    // A line per request: written by hand into bytes, with keys in plain code-point order
    // (Foundation's JSONSerialization sorts them with locale-aware comparisons and took a
    // fifth of a GET's time; building a `String` scalar by scalar took most of the rest).

    static func appendObject(_ object: Logger.Metadata, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (index, field) in object.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            appendString(field.key, to: &out)
            out.append(UInt8(ascii: ":"))
            append(field.value, to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    static func append(_ value: Logger.Metadata.Value, to out: inout [UInt8]) {
        switch value {
        case .string(let text): appendString(text, to: &out)
        case .stringConvertible(let convertible): appendString(convertible.description, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                append(item, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .dictionary(let object): appendObject(object, to: &out)
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// A JSON string: quotes, backslashes and control characters escaped (RFC 8259), the
    /// rest as is. Byte by byte over UTF-8: every byte to escape is ASCII, and no byte of a
    /// multi-byte character is below 0x80.
    static func appendString(_ text: String, to out: inout [UInt8]) {
        func escape(_ byte: UInt8) {
            out.append(UInt8(ascii: "\\"))
            out.append(byte)
        }
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): escape(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): escape(UInt8(ascii: "\\"))
            case UInt8(ascii: "\n"): escape(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): escape(UInt8(ascii: "r"))
            case UInt8(ascii: "\t"): escape(UInt8(ascii: "t"))
            case 0..<0x20:
                escape(UInt8(ascii: "u"))
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "0"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// One `write(2)` per line (with its newline), so lines from several threads never interleave.
    public static let standardError: @Sendable (String) -> Void = { line in
        var line = line
        line.append("\n")
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}
