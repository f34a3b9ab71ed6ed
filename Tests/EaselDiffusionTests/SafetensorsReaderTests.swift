import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion
import EaselTestSupport

/// Reading valid safetensors files: values against the reference implementation's
/// widening (numpy/torch, committed in Fixtures/checkpoint/values.json) and against
/// Swift's own `Float16`, exhaustively; metadata, non-float buffers, odd alignment.
@Suite struct SafetensorsReaderTests {
    struct ExpectedTensor: Decodable {
        let dtype: String
        let shape: [Int]
        let bits: [UInt32]?
    }

    static func fixture(_ name: String, _ ext: String) throws -> URL {
        try #require(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures/checkpoint"))
    }

    @Test func valuesMatchTheReferenceBitForBit() throws {
        let file = try SafetensorsFile(url: Self.fixture("values", "safetensors"))
        let expected = try JSONDecoder().decode(
            [String: ExpectedTensor].self, from: Data(contentsOf: Self.fixture("values", "json")))
        #expect(file.names == expected.keys.sorted())
        for (name, reference) in expected {
            guard let bits = reference.bits else { continue }
            let tensor = try file.tensor(name)
            #expect(tensor.shape == reference.shape, "\(name)")
            // Bit patterns, so signed zeros, subnormals, infinities and NaN payloads all count.
            #expect(tensor.scalars.map(\.bitPattern) == bits, "\(name)")
        }
    }

    @Test func entriesDescribeDTypeShapeAndRange() throws {
        let file = try SafetensorsFile(url: Self.fixture("values", "safetensors"))
        let f16 = try #require(file.entry("f16.values"))
        #expect(f16.dtype == .f16)
        #expect(f16.shape == [2, 11])
        #expect(f16.byteRange.count == 44)
        #expect(file.entry("f32.scalar")?.shape == [])
        #expect(try file.tensor("f32.scalar").scalars == [2.5])
        #expect(try file.tensor("f16.empty").shape == [0, 3])
        #expect(file.metadata == ["format": "pt", "note": "Easel checkpoint fixture"])
        #expect(file.entry("nope") == nil)
    }

    /// Single-file checkpoints carry an int64 `position_ids`: recognised, described, readable
    /// raw, and refused as float weights with an error naming file and tensor.
    @Test func integerBuffersAreDescribedButNotLoadedAsWeights() throws {
        let url = try Self.fixture("values", "safetensors")
        let file = try SafetensorsFile(url: url)
        let name = "text_model.embeddings.position_ids"
        #expect(file.entry(name)?.dtype == .i64)
        #expect(file.entry(name)?.shape == [1, 7])
        let ids = try file.withRawBytes(of: name) { _, bytes in
            (0..<7).map { bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self).littleEndian }
        }
        #expect(ids == [0, 1, 2, 3, 4, 5, 6])
        let error = #expect(throws: SafetensorsError.self) { try file.tensor(name) }
        #expect(error?.problem == .notFloatWeights(.i64))
        #expect(error?.description.contains(url.path) == true)
        #expect(error?.description.contains(name) == true)
        let missing = #expect(throws: SafetensorsError.self) { try file.tensor("absent.weight") }
        #expect(missing?.problem == .noSuchTensor)
    }

    /// Every binary16 pattern, at an odd (misaligned) offset, against Swift's `Float16`.
    @Test func everyFloat16PatternWidensExactly() throws {
        let scratch = try CheckpointScratch()
        var data: [UInt8] = [0xAB]  // one padding byte: the tensor starts misaligned
        for bits in 0...UInt16.max { data += [UInt8(bits & 0xFF), UInt8(bits >> 8)] }
        let url = try scratch.writeSafetensors("all.safetensors", header: [
            .init("pad", "U8", [1], 0, 1), .init("all", "F16", [65_536], 1, 1 + 131_072),
        ], data: data)
        let values = try SafetensorsFile(url: url).tensor("all").scalars
        var mismatches = 0
        for bits in 0...UInt16.max {
            let got = values[Int(bits)]
            #if arch(x86_64) || arch(arm64)
            let reference = Float(Float16(bitPattern: bits))
            let expected = reference.isNaN
                ? UInt32(bits & 0x8000) << 16 | 0x7F80_0000 | UInt32(bits & 0x03FF) << 13  // payload kept
                : reference.bitPattern
            #else
            let expected = ElementConversion.float32Bits(fromFloat16: bits)
            #endif
            if got.bitPattern != expected { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    @Test func everyBFloat16PatternWidensExactly() throws {
        let scratch = try CheckpointScratch()
        var data: [UInt8] = []
        for bits in 0...UInt16.max { data += [UInt8(bits & 0xFF), UInt8(bits >> 8)] }
        let url = try scratch.writeSafetensors("bf16.safetensors", header: [
            .init("all", "BF16", [256, 256], 0, 131_072),
        ], data: data)
        let values = try SafetensorsFile(url: url).tensor("all")
        #expect(values.shape == [256, 256])
        #expect(values.scalars.enumerated().allSatisfy { $0.element.bitPattern == UInt32($0.offset) << 16 })
    }

    /// A tensor large enough to be converted on several threads gives the same result as
    /// the scalar definition, element by element (F16) and byte for byte (F32).
    @Test func largeTensorsConvertInParallelIdentically() throws {
        let scratch = try CheckpointScratch()
        let count = 1 << 20 + 3
        var f16: [UInt8] = [], f32: [UInt8] = []
        f16.reserveCapacity(2 * count)
        f32.reserveCapacity(4 * count)
        var state: UInt32 = 12345
        for _ in 0..<count {
            state = state &* 1_664_525 &+ 1_013_904_223
            f16 += [UInt8(truncatingIfNeeded: state >> 8), UInt8(truncatingIfNeeded: state >> 16)]
            f32 += [UInt8(truncatingIfNeeded: state), UInt8(truncatingIfNeeded: state >> 8),
                    UInt8(truncatingIfNeeded: state >> 16), UInt8(truncatingIfNeeded: state >> 24)]
        }
        let url = try scratch.writeSafetensors("big.safetensors", header: [
            .init("a", "F32", [count], 0, 4 * count), .init("b", "F16", [count], 4 * count, 6 * count),
        ], data: f32 + f16)
        let file = try SafetensorsFile(url: url)
        let a = try file.tensor("a").scalars
        let b = try file.tensor("b").scalars
        #expect(a.withUnsafeBytes { Array($0) } == f32)
        var mismatches = 0
        for i in 0..<count {
            let bits = UInt16(f16[2 * i]) | UInt16(f16[2 * i + 1]) << 8
            if b[i].bitPattern != ElementConversion.float32Bits(fromFloat16: bits) { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    /// Header padding with spaces (as the reference writer does), gaps and trailing bytes
    /// are accepted; only overlaps and out-of-range data are errors.
    @Test func toleratesPaddingGapsAndTrailingBytes() throws {
        let scratch = try CheckpointScratch()
        let data: [UInt8] = [0, 0, 128, 63, 9, 9, 9, 0, 0, 0, 64, 7, 7]  // 1.0, gap, 2.0, trailing
        let url = try scratch.writeSafetensors("gaps.safetensors", header: [
            .init("one", "F32", [1], 0, 4), .init("two", "F32", [1], 7, 11),
        ], data: data, padding: 13)
        let file = try SafetensorsFile(url: url)
        #expect(try file.tensor("one").scalars == [1])
        #expect(try file.tensor("two").scalars == [2])
    }

    @Test func scalarConversionHelpers() {
        #expect(ElementConversion.float(fromFloat16: 0x3C00) == 1)
        #expect(ElementConversion.float(fromFloat16: 0x0001) == 0x1p-24)
        #expect(ElementConversion.float(fromFloat16: 0x8000).bitPattern == 0x8000_0000)
        #expect(ElementConversion.float(fromFloat16: 0xFC00) == -.infinity)
        #expect(ElementConversion.float(fromBFloat16: 0x3F80) == 1)
        #expect(ElementConversion.float(fromBFloat16: 0xFF80) == -.infinity)
    }
}

// MARK: - Test support: building safetensors files byte by byte

/// A temporary directory for one test, removed when the value is released.
final class CheckpointScratch {
    let directory: URL

    init() throws {
        directory = try TestScratch.folder("checkpoint")
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// One header entry, written exactly as given (no validation: tests write bad ones).
    struct Entry {
        var name: String, dtype: String, shape: [Int], begin: Int, end: Int
        init(_ name: String, _ dtype: String, _ shape: [Int], _ begin: Int, _ end: Int) {
            (self.name, self.dtype, self.shape, self.begin, self.end) = (name, dtype, shape, begin, end)
        }
        var json: String {
            "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(begin),\(end)]}"
        }
    }

    static func headerJSON(_ entries: [Entry], metadata: String? = nil) -> String {
        let members = (metadata.map { ["\"__metadata__\":\($0)"] } ?? []) + entries.map(\.json)
        return "{" + members.joined(separator: ",") + "}"
    }

    /// Writes raw bytes to `name` in the directory.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        return url
    }

    /// Writes a safetensors file: the 8-byte length (or `declaredLength`), the header
    /// bytes padded with `padding` spaces, then `data`.
    @discardableResult
    func writeSafetensors(
        _ name: String, headerBytes: [UInt8], data: [UInt8], padding: Int = 0, declaredLength: UInt64? = nil
    ) throws -> URL {
        let header = headerBytes + [UInt8](repeating: 0x20, count: padding)
        let length = declaredLength ?? UInt64(header.count)
        let prefix = (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) }
        return try write(name, prefix + header + data)
    }

    @discardableResult
    func writeSafetensors(
        _ name: String, header: [Entry], metadata: String? = nil, data: [UInt8], padding: Int = 0
    ) throws -> URL {
        try writeSafetensors(name, headerBytes: Array(Self.headerJSON(header, metadata: metadata).utf8),
                             data: data, padding: padding)
    }

    /// Writes a valid F32 safetensors file holding `tensors` (name -> (shape, values)).
    @discardableResult
    func writeF32(_ name: String, _ tensors: [String: ([Int], [Float])]) throws -> URL {
        var entries: [Entry] = [], data: [UInt8] = []
        for (tensorName, (shape, values)) in tensors.sorted(by: { $0.key < $1.key }) {
            let bytes = values.withUnsafeBytes { Array($0) }
            entries.append(Entry(tensorName, "F32", shape, data.count, data.count + bytes.count))
            data += bytes
        }
        return try writeSafetensors(name, header: entries, data: data)
    }
}
