import Foundation

/// The few fields of a component's `config.json` that the single-file key mapping depends on
/// (how many levels, how many layers per level, which levels attend), read from the JSON
/// directly so the mapping does not depend on the models' config types.
struct SingleFileConfigFields {
    let component: SingleFileComponent
    private let object: JSONValue

    init(_ data: Data, component: SingleFileComponent) throws {
        self.component = component
        let parsed: JSONValue
        do {
            parsed = try JSONParser.parse(Array(data))
        } catch {
            throw SingleFileError.invalidConfig(
                component: component.rawValue, field: "", reason: "not valid JSON: \(error.message) at byte \(error.offset)")
        }
        guard case .object = parsed else {
            throw SingleFileError.invalidConfig(component: component.rawValue, field: "", reason: "not a JSON object")
        }
        object = parsed
    }

    func has(_ field: String) -> Bool {
        guard let value = object[field] else { return false }
        return value != .null
    }

    func int(_ field: String) throws -> Int {
        guard let value = object[field]?.exactInt else { throw invalid(field, "missing or not an integer") }
        return value
    }

    func int(_ field: String, default value: Int) throws -> Int {
        has(field) ? try int(field) : value
    }

    func strings(_ field: String) throws -> [String] {
        guard case let .array(items)? = object[field], case let values = items.compactMap(\.stringValue),
              values.count == items.count else {
            throw invalid(field, "missing or not a list of strings")
        }
        return values
    }

    func ints(_ field: String) throws -> [Int] {
        guard case let .array(items)? = object[field], case let values = items.compactMap(\.exactInt),
              values.count == items.count else {
            throw invalid(field, "missing or not a list of integers")
        }
        return values
    }

    /// An int-or-list field as one value per block (`count` blocks).
    func perBlock(_ field: String, count: Int, default value: Int? = nil) throws -> [Int] {
        if !has(field), let value { return Array(repeating: value, count: count) }
        if let single = object[field]?.exactInt { return Array(repeating: single, count: count) }
        guard case let .array(items)? = object[field], case let values = items.compactMap(\.exactInt),
              values.count == items.count, values.count == count else {
            throw invalid(field, "missing, or not an integer or a list of \(count) integers")
        }
        return values
    }

    func invalid(_ field: String, _ reason: String) -> SingleFileError {
        .invalidConfig(component: component.rawValue, field: field, reason: reason)
    }
}
