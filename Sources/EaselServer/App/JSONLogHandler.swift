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
        var fields = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 })
        if let error = event.error { fields["error"] = .string("\(error)") }
        fields["time"] = .string(ISOTime.string(Date()))
        fields["level"] = .string(event.level.rawValue)
        fields["message"] = .string(event.message.description)
        fields["label"] = .string(label)
        var line = ""
        line.reserveCapacity(256)
        Self.appendObject(fields, to: &line)
        stream(line)
    }

    // A line per request: written by hand, with keys in plain code-point order (Foundation's
    // JSONSerialization sorts them with locale-aware comparisons and took a fifth of a GET's time).

    static func appendObject(_ object: Logger.Metadata, to out: inout String) {
        out += "{"
        for (index, key) in object.keys.sorted().enumerated() {
            if index > 0 { out += "," }
            appendString(key, to: &out)
            out += ":"
            append(object[key]!, to: &out)
        }
        out += "}"
    }

    static func append(_ value: Logger.Metadata.Value, to out: inout String) {
        switch value {
        case .string(let text): appendString(text, to: &out)
        case .stringConvertible(let convertible): appendString(convertible.description, to: &out)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                append(item, to: &out)
            }
            out += "]"
        case .dictionary(let object): appendObject(object, to: &out)
        }
    }

    /// A JSON string: quotes, backslashes and control characters escaped (RFC 8259), the rest as is.
    static func appendString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
