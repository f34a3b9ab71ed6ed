import EaselDiffusion
import Foundation

/// The one way a JSON request body is read. It uses the engine's strict parser rather than
/// `JSONDecoder` because a request must mean one thing to every reader: a repeated key (at
/// any depth) is refused instead of silently keeping the first value, as a proxy in front
/// of Easel would most likely keep the last; numbers stay as written, so each field is
/// range-checked before any conversion; nesting is bounded. Every route that takes a JSON
/// body goes through `object(_:)`.
enum RequestJSON {
    /// The body as a JSON object, or a 400 saying what is wrong and where.
    static func object(_ body: Data) -> Result<JSONValue, APIError> {
        guard !body.isEmpty else { return .failure(.badRequest(["body must be a valid JSON object"])) }
        let value: JSONValue
        do {
            value = try JSONParser.parse(Array(body))
        } catch {
            if error.message.hasPrefix("duplicate key") {
                return .failure(.badRequest(["body must not repeat a key (\(error.message) at byte \(error.offset))"]))
            }
            return .failure(.badRequest(["body must be a valid JSON object (\(error.message) at byte \(error.offset))"]))
        }
        guard case .object = value else { return .failure(.badRequest(["body must be a JSON object"])) }
        return .success(value)
    }
}

extension JSONValue {
    /// The number as a `Double` for range checks: nil unless it is a JSON number.
    /// Literals past `Double`'s range read as an infinity of their sign (never a trap):
    /// callers compare first and convert with `Int(exactly:)` only what is in range.
    var numberValue: Double? {
        guard case .number(let text) = self else { return nil }
        if let value = Double(text) { return value }
        return text.hasPrefix("-") ? -.infinity : .infinity
    }
}
