import Foundation

/// A value guarded by a lock, shareable across tasks.
public final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    public init(_ value: Value) { self.value = value }

    @discardableResult
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    public var current: Value { withLock { $0 } }
}

/// ISO 8601 timestamps as Leap sends them: UTC with milliseconds, `2024-05-01T12:34:56.789Z`.
/// Digits are written by hand: `String(format:)` went through Foundation's formatter and
/// was a visible part of every request (the entity's times and the log line's).
enum ISOTime {
    static func string(_ date: Date) -> String {
        let millis = (date.timeIntervalSince1970 * 1000).rounded(.down)
        var seconds = time_t(floor(millis / 1000))
        let ms = Int(millis - Double(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let year = Int(parts.tm_year) + 1900
        guard (0...9999).contains(year) else {
            return String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, Int(parts.tm_mon) + 1,
                Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), ms)
        }
        return String(unsafeUninitializedCapacity: 24) { buffer in
            func put(_ value: Int, width: Int, at offset: Int) {
                var value = value
                for index in stride(from: offset + width - 1, through: offset, by: -1) {
                    buffer[index] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
            }
            put(year, width: 4, at: 0)
            buffer[4] = UInt8(ascii: "-")
            put(Int(parts.tm_mon) + 1, width: 2, at: 5)
            buffer[7] = UInt8(ascii: "-")
            put(Int(parts.tm_mday), width: 2, at: 8)
            buffer[10] = UInt8(ascii: "T")
            put(Int(parts.tm_hour), width: 2, at: 11)
            buffer[13] = UInt8(ascii: ":")
            put(Int(parts.tm_min), width: 2, at: 14)
            buffer[16] = UInt8(ascii: ":")
            put(Int(parts.tm_sec), width: 2, at: 17)
            buffer[19] = UInt8(ascii: ".")
            put(ms, width: 3, at: 20)
            buffer[23] = UInt8(ascii: "Z")
            return 24
        }
    }
}

/// The JSON encoder for everything Easel sends: keys sorted, so the same entity always
/// has the same bytes (a webhook body equals what GET returns).
enum WireJSON {
    static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }
}
