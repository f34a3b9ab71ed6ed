import Foundation

/// Reads a component's JSON config (`config.json`, `scheduler_config.json`) into a model's
/// `Codable` configuration, turning decoding failures into errors that name the file and
/// the field.
public enum ConfigFile {
    /// Decodes the JSON file at `url` as `type`.
    public static func decode<Config: Decodable>(_ type: Config.Type, from url: URL) throws -> Config {
        let data = try readCheckpointFile(url) { CheckpointError.invalidConfig(path: url.path, field: "", reason: $0) }
        return try decode(type, from: data, path: url.path)
    }

    /// Decodes `data` (the contents of `path`) as `type`.
    public static func decode<Config: Decodable>(_ type: Config.Type, from data: Data, path: String) throws -> Config {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw configError(error, path: path)
        }
    }

    static func configError(_ error: DecodingError, path: String) -> CheckpointError {
        func field(_ codingPath: [any CodingKey], _ last: (any CodingKey)? = nil) -> String {
            let keys = codingPath + (last.map { [$0] } ?? [])
            return keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
                .joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case let .keyNotFound(key, context):
            return .invalidConfig(path: path, field: field(context.codingPath, key), reason: "missing")
        case let .valueNotFound(type, context):
            return .invalidConfig(path: path, field: field(context.codingPath), reason: "is null, expected \(type)")
        case let .typeMismatch(type, context):
            return .invalidConfig(path: path, field: field(context.codingPath), reason: "expected \(type): \(context.debugDescription)")
        case let .dataCorrupted(context):
            if context.codingPath.isEmpty {
                let underlying = (context.underlyingError as? NSError)?.localizedDescription
                return .invalidConfig(path: path, field: "", reason: "not valid JSON" + (underlying.map { ": \($0)" } ?? ""))
            }
            return .invalidConfig(path: path, field: field(context.codingPath), reason: context.debugDescription)
        @unknown default:
            return .invalidConfig(path: path, field: "", reason: "\(error)")
        }
    }
}
