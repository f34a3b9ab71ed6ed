// Decoding helpers shared by the UNet and VAE configs: diffusers' constructors take
// defaults for every argument (so published config.json files omit many keys), accept an
// int or a per-block list for several fields, and fail only when a feature is used. These
// helpers turn each case into one call, and an unsupported value into a DecodingError that
// `ConfigFile` reports with the file and the field.

/// Bounds on the structural integers of a config (channels, widths, layer counts). Configs
/// come with checkpoints from anywhere and this module is compiled with `-Ounchecked`: a zero
/// group count would divide by zero, a negative layer count would make an invalid range, and
/// a huge width would overflow a product silently. Each bound is far above any published
/// model and small enough that a product of three such values still fits in an `Int`.
enum ConfigLimits {
    /// Channels, widths, vocabulary and position counts: 1 to 2^20.
    static let extent = 1...(1 << 20)
    /// Layers per block and transformer depths: 1 to 1024.
    static let layers = 1...1024
    /// Convolution kernel sizes: 1 to 31.
    static let kernel = 1...31
}

extension KeyedDecodingContainer {
    /// Fails, naming `key`, unless every value lies in `range`.
    func requireRange(_ key: Key, _ values: [Int], _ range: ClosedRange<Int>) throws {
        for value in values where !range.contains(value) {
            throw unsupported(key, "\(value) is out of range (\(range.lowerBound) to \(range.upperBound))")
        }
    }

    /// The value of `key`, or `defaultValue` when the key is missing or null.
    func value<T: Decodable>(_ key: Key, default defaultValue: T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? defaultValue
    }

    /// An int-or-list field normalised to one value per block: an int is repeated `count`
    /// times; a list must have exactly `count` entries (diffusers' `_check_config`).
    func perBlock(_ key: Key, default defaultValue: Int, count: Int) throws -> [Int] {
        guard let present = try decodeIfPresent(IntOrList.self, forKey: key) else {
            return Array(repeating: defaultValue, count: count)
        }
        return try present.perBlock(count: count, key: key, in: self)
    }

    /// Like `perBlock(_:default:count:)` for a field that may be absent altogether.
    func optionalPerBlock(_ key: Key, count: Int) throws -> [Int]? {
        try decodeIfPresent(IntOrList.self, forKey: key)?.perBlock(count: count, key: key, in: self)
    }

    /// Fails unless `key` is missing, null, or `allowed`: a feature Easel does not implement.
    func require<T: Decodable & Equatable>(
        _ key: Key, _ type: T.Type, isAbsentOr allowed: T? = nil, _ why: String
    ) throws {
        guard let found = try decodeIfPresent(T.self, forKey: key), found != allowed else { return }
        throw DecodingError.dataCorruptedError(
            forKey: key, in: self, debugDescription: "unsupported value \(found): \(why)")
    }

    /// A `DecodingError` naming `key`, for a value that decodes but cannot be used.
    func unsupported(_ key: Key, _ message: String) -> DecodingError {
        DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: message)
    }
}

/// A JSON int or list of ints (`attention_head_dim: 8` or `[5, 10, 20, 20]`).
enum IntOrList: Decodable, Equatable {
    case int(Int)
    case list([Int])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else {
            self = .list(try container.decode([Int].self))
        }
    }

    func perBlock<K>(count: Int, key: K, in container: KeyedDecodingContainer<K>) throws -> [Int] {
        switch self {
        case let .int(value):
            return Array(repeating: value, count: count)
        case let .list(values):
            guard values.count == count else {
                throw container.unsupported(key, "has \(values.count) entries, expected one per block (\(count))")
            }
            return values
        }
    }
}
