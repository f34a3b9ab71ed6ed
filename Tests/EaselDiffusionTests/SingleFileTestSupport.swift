import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion
import EaselTestSupport

/// Fixtures of the single-file tests (Fixtures/single_file, made by
/// scripts/make_single_file_fixtures.py from Fixtures/models) and the files the tests derive
/// from them: F32 and BF16 copies of the committed F16 files, files with a tensor added, a
/// truncated file.
enum SingleFileFixtures {
    static func singleFile(_ model: String) throws -> URL {
        try #require(Bundle.module.url(forResource: model, withExtension: "safetensors", subdirectory: "Fixtures/single_file"))
    }

    /// The diffusers folder the single file was made from (and is configured by).
    static func folder(_ model: String) throws -> URL {
        let index = try #require(Bundle.module.url(
            forResource: "model_index", withExtension: "json", subdirectory: "Fixtures/models/\(model)"))
        return index.deletingLastPathComponent()
    }

    static func layout(_ family: String) throws -> SingleFileLayoutFixture {
        let url = try #require(Bundle.module.url(forResource: "layout-\(family)", withExtension: "json",
                                                 subdirectory: "Fixtures/single_file"))
        return try JSONDecoder().decode(SingleFileLayoutFixture.self, from: Data(contentsOf: url))
    }

    /// `value` rounded to bfloat16 (nearest, ties to even) and widened back, as torch's
    /// `.to(torch.bfloat16)` does for finite values.
    static func roundedToBFloat16(_ value: Float) -> Float {
        Float(bitPattern: UInt32(bfloat16Bits(value)) << 16)
    }

    static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }
}

/// A full-size single file's layout: the published configs, every LDM tensor's dtype and
/// shape, and the diffusers names and shapes of each component (no weights).
struct SingleFileLayoutFixture: Decodable {
    struct Entry: Decodable {
        let dtype: String
        let shape: [Int]
    }

    let family: String
    let ldm: [String: Entry]
    let diffusers: [String: [String: [Int]]]
    /// The published configs per component, as raw JSON objects.
    let configs: [String: JSONObjectValue]
}

/// Any JSON value, decoded for comparing configs semantically (order and spacing ignored).
indirect enum JSONObjectValue: Decodable, Equatable {
    case object([String: JSONObjectValue]), array([JSONObjectValue]), string(String), number(Double), bool(Bool), null

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONObjectValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONObjectValue].self)) }
    }

    static func parse(_ data: Data) throws -> JSONObjectValue {
        try JSONDecoder().decode(JSONObjectValue.self, from: data)
    }
}

/// Tensors that have names, dtypes and shapes but no data: a full-size checkpoint's layout.
struct ShapeOnlyArchive: TensorArchive {
    let location: String
    let entries: [String: ArchivedTensorInfo]

    init(_ layout: SingleFileLayoutFixture, location: String, adding extra: [String: [Int]] = [:]) {
        self.location = location
        var entries: [String: ArchivedTensorInfo] = [:]
        for (name, entry) in layout.ldm {
            entries[name] = ArchivedTensorInfo(name: name, dtype: SafetensorsDType(rawValue: entry.dtype)!,
                                               shape: entry.shape, file: location)
        }
        for (name, shape) in extra {
            entries[name] = ArchivedTensorInfo(name: name, dtype: .f16, shape: shape, file: location)
        }
        self.entries = entries
    }

    init(entries: [String: ArchivedTensorInfo], location: String) {
        self.entries = entries
        self.location = location
    }

    var names: [String] { entries.keys.sorted() }
    func info(_ name: String) -> ArchivedTensorInfo? { entries[name] }
    func loadTensor(_ name: String) throws -> Tensor {
        throw CheckpointError.missingTensor(name: name, location: location, hint: "a shape-only archive has no data")
    }
}

/// A temporary folder removed when the value is released.
final class SingleFileScratch {
    let directory: URL

    init() throws {
        directory = try TestScratch.folder("single-file")
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func url(_ name: String) -> URL { directory.appendingPathComponent(name) }
}

/// Writes safetensors files from the tensors of another one, converting float dtypes and
/// adding or dropping tensors.
struct SafetensorsRewriter {
    /// The float dtype float tensors are written as.
    enum FloatFormat { case f16, f32, bf16 }

    struct Entry {
        var name: String
        var dtype: String
        var shape: [Int]
        var bytes: [UInt8]
    }

    var entries: [Entry] = []

    /// The tensors of `file`, F16/F32/BF16 ones converted to `format`, others as stored.
    init(copying file: SafetensorsFile, as format: FloatFormat) throws {
        for name in file.names {
            try file.withRawBytes(of: name) { entry, bytes in
                guard entry.dtype.floatFormat != nil, format != .f16 || entry.dtype != .f16 else {
                    entries.append(Entry(name: name, dtype: entry.dtype.rawValue, shape: entry.shape, bytes: Array(bytes)))
                    return
                }
                let values = try file.tensor(name).scalars
                switch format {
                case .f32:
                    entries.append(Entry(name: name, dtype: "F32", shape: entry.shape,
                                         bytes: values.withUnsafeBytes { Array($0) }))
                case .bf16:
                    let halves = values.map { SingleFileFixtures.bfloat16Bits($0).littleEndian }
                    entries.append(Entry(name: name, dtype: "BF16", shape: entry.shape,
                                         bytes: halves.withUnsafeBytes { Array($0) }))
                case .f16:
                    Issue.record("F16 output is written only from F16 input")
                }
            }
        }
    }

    mutating func add(_ name: String, dtype: String = "F32", shape: [Int], bytes: [UInt8]? = nil) {
        let count = shape.reduce(1, *)
        let width = dtype == "F32" || dtype == "I32" ? 4 : dtype == "I64" ? 8 : 2
        entries.append(Entry(name: name, dtype: dtype, shape: shape, bytes: bytes ?? [UInt8](repeating: 0, count: count * width)))
    }

    /// The file: 8-byte header length, the JSON header padded to 8 bytes, the data.
    func bytes() -> [UInt8] {
        var header = "{\"__metadata__\":{\"format\":\"pt\"}"
        var data: [UInt8] = []
        for entry in entries.sorted(by: { $0.name < $1.name }) {
            let shape = entry.shape.map(String.init).joined(separator: ",")
            header += ",\"\(entry.name)\":{\"dtype\":\"\(entry.dtype)\",\"shape\":[\(shape)],"
                + "\"data_offsets\":[\(data.count),\(data.count + entry.bytes.count)]}"
            data += entry.bytes
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        headerBytes += [UInt8](repeating: 0x20, count: (8 - headerBytes.count % 8) % 8)
        let length = UInt64(headerBytes.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) } + headerBytes + data
    }

    func write(to url: URL) throws {
        try Data(bytes()).write(to: url)
    }
}
