/// One tensor's entry in a safetensors header, validated against the file it came from.
public struct SafetensorsEntry: Sendable, Equatable {
    public var name: String
    public var dtype: SafetensorsDType
    /// Extents, outermost first; all non-negative and with a product that fits in `Int`.
    public var shape: [Int]
    /// Byte range within the data section (which starts after the header).
    public var byteRange: Range<Int>

    /// Number of elements (product of `shape`).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// The validated contents of a safetensors header.
///
/// Validation is complete before any tensor is touched: every entry's dtype is known, its
/// shape is non-negative and its byte size does not overflow, its byte range lies inside
/// the data section and matches shape x dtype size, and no two ranges overlap. The
/// reference implementation also rejects gaps between tensors and unused trailing bytes;
/// those are harmless to a reader, so they are allowed here.
struct SafetensorsHeader: Sendable {
    /// Largest header accepted, as in the reference implementation.
    static let maxLength = 100_000_000

    /// Entries by tensor name.
    var entries: [String: SafetensorsEntry]
    /// The free-form `__metadata__` map (string to string), empty when absent.
    var metadata: [String: String]

    /// Parses and validates `bytes` (the JSON header) for a data section of `dataSize`
    /// bytes; errors name `file`.
    static func parse(_ bytes: [UInt8], dataSize: Int, file: String) throws(SafetensorsError) -> SafetensorsHeader {
        if let offset = JSONParser.firstInvalidUTF8Offset(bytes) {
            throw SafetensorsError(file: file, .invalidUTF8(offset: offset))
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes)
        } catch {
            throw SafetensorsError(file: file, .invalidJSON(offset: error.offset, message: error.message))
        }
        guard case let .object(members) = json else {
            throw SafetensorsError(file: file, .invalidHeader("the header is \(json.kindDescription), not a JSON object"))
        }
        var header = SafetensorsHeader(entries: [:], metadata: [:])
        for (key, value) in members {
            if key == "__metadata__" {
                header.metadata = try parseMetadata(value, file: file)
            } else {
                header.entries[key] = try parseEntry(name: key, value, dataSize: dataSize, file: file)
            }
        }
        try checkNoOverlap(header.entries.values, file: file)
        return header
    }

    private static func parseMetadata(_ value: JSONValue, file: String) throws(SafetensorsError) -> [String: String] {
        switch value {
        case .null:
            return [:]
        case let .object(members):
            var metadata: [String: String] = [:]
            for (key, item) in members {
                guard let text = item.stringValue else {
                    throw SafetensorsError(file: file, .invalidHeader(
                        "__metadata__ value for \"\(key)\" is \(item.kindDescription), not a string"))
                }
                metadata[key] = text
            }
            return metadata
        default:
            throw SafetensorsError(file: file, .invalidHeader("__metadata__ is \(value.kindDescription), not an object"))
        }
    }

    private static func parseEntry(
        name: String, _ value: JSONValue, dataSize: Int, file: String
    ) throws(SafetensorsError) -> SafetensorsEntry {
        func fail(_ problem: SafetensorsError.Problem) -> SafetensorsError {
            SafetensorsError(file: file, tensor: name, problem)
        }
        guard case .object = value else {
            throw fail(.invalidHeader("entry is \(value.kindDescription), not an object"))
        }
        guard let dtypeValue = value["dtype"] else { throw fail(.missingField("dtype")) }
        guard let shapeValue = value["shape"] else { throw fail(.missingField("shape")) }
        guard let offsetsValue = value["data_offsets"] else { throw fail(.missingField("data_offsets")) }

        guard let dtypeName = dtypeValue.stringValue else {
            throw fail(.unknownDType(dtypeValue.kindDescription))
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else { throw fail(.unknownDType(dtypeName)) }

        guard case let .array(extentValues) = shapeValue else {
            throw fail(.invalidShape("\(shapeValue.kindDescription), not a list of integers"))
        }
        var shape: [Int] = []
        var elementCount = 1
        for (axis, extentValue) in extentValues.enumerated() {
            guard let extent = extentValue.exactInt else {
                throw fail(.invalidShape("extent \(axis) is \(extentValue.kindDescription), not an integer that fits in 64 bits"))
            }
            guard extent >= 0 else { throw fail(.invalidShape("extent \(axis) is negative (\(extent))")) }
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: extent)
            guard !overflow else { throw fail(.invalidShape("element count of \(extentValues.compactMap(\.exactInt)) overflows")) }
            elementCount = product
            shape.append(extent)
        }
        guard let byteCount = dtype.byteCount(elementCount: elementCount) else {
            throw fail(.invalidShape("\(elementCount) elements of \(dtype) do not make a whole number of bytes that fits in 64 bits"))
        }

        guard case let .array(offsetValues) = offsetsValue, offsetValues.count == 2 else {
            throw fail(.invalidOffsets("\(offsetsValue.kindDescription), not [begin, end]"))
        }
        guard let begin = offsetValues[0].exactInt, let end = offsetValues[1].exactInt else {
            throw fail(.invalidOffsets("begin and end must be integers that fit in 64 bits"))
        }
        guard begin >= 0, begin <= end else { throw fail(.invalidOffsets("[\(begin), \(end)] is not 0 <= begin <= end")) }
        guard end <= dataSize else { throw fail(.dataPastEnd(end: end, dataSize: dataSize)) }
        guard end - begin == byteCount else {
            throw fail(.byteLengthMismatch(shape: shape, dtype: dtype, expected: byteCount, found: end - begin))
        }
        return SafetensorsEntry(name: name, dtype: dtype, shape: shape, byteRange: begin..<end)
    }

    /// Throws when two non-empty byte ranges share a byte (empty tensors own no bytes).
    private static func checkNoOverlap(
        _ entries: some Collection<SafetensorsEntry>, file: String
    ) throws(SafetensorsError) {
        let sorted = entries.filter { !$0.byteRange.isEmpty }
            .sorted { ($0.byteRange.lowerBound, $0.name) < ($1.byteRange.lowerBound, $1.name) }
        guard var previous = sorted.first else { return }
        for entry in sorted.dropFirst() {
            if entry.byteRange.lowerBound < previous.byteRange.upperBound {
                throw SafetensorsError(file: file, tensor: entry.name, .overlapping(other: previous.name))
            }
            if entry.byteRange.upperBound > previous.byteRange.upperBound { previous = entry }
        }
    }
}
