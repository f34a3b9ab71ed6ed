import Foundation
import Testing
@testable import EaselDiffusion

/// Corrupt and hostile safetensors files: each is a `SafetensorsError` naming the file
/// (and the tensor, where one is concerned), never a crash.
@Suite struct SafetensorsCorruptionTests {
    typealias Entry = CheckpointScratch.Entry

    /// Opens `url`, expecting failure; returns the error after checking it names the file
    /// and, when given, the tensor.
    func openError(_ url: URL, tensor: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> SafetensorsError? {
        do {
            _ = try SafetensorsFile(url: url)
            Issue.record("\(url.lastPathComponent) opened but should not have", sourceLocation: sourceLocation)
            return nil
        } catch {
            #expect(error.file == url.path, sourceLocation: sourceLocation)
            #expect(error.description.contains(url.path), sourceLocation: sourceLocation)
            if let tensor {
                #expect(error.tensor == tensor, sourceLocation: sourceLocation)
                #expect(error.description.contains("'\(tensor)'"), sourceLocation: sourceLocation)
            }
            return error
        }
    }

    /// A valid two-tensor F32 file's bytes.
    func validFileBytes() -> [UInt8] {
        let header = Array(CheckpointScratch.headerJSON([
            Entry("a", "F32", [2], 0, 8), Entry("b", "F32", [1], 8, 12),
        ]).utf8)
        let length = UInt64(header.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) } + header + [UInt8](repeating: 0, count: 12)
    }

    @Test func emptyAndTinyFilesAreTooShort() throws {
        let scratch = try CheckpointScratch()
        #expect(openError(try scratch.write("empty.safetensors", []))?.problem == .tooShort(fileSize: 0))
        #expect(openError(try scratch.write("five.safetensors", [1, 2, 3, 4, 5]))?.problem == .tooShort(fileSize: 5))
    }

    @Test func headerLengthPastTheEnd() throws {
        let scratch = try CheckpointScratch()
        let url = try scratch.writeSafetensors("past.safetensors", headerBytes: Array("{}".utf8), data: [], declaredLength: 50)
        #expect(openError(url)?.problem == .headerPastEnd(length: 50, fileSize: 10))
        // A length near 2^64 must not overflow the bounds arithmetic.
        let huge = try scratch.writeSafetensors("huge.safetensors", headerBytes: Array("{}".utf8), data: [], declaredLength: .max)
        #expect(openError(huge)?.problem == .headerTooLarge(length: .max, limit: 100_000_000))
    }

    @Test func headerLengthOverTheBound() throws {
        let scratch = try CheckpointScratch()
        let url = try scratch.writeSafetensors("big.safetensors", headerBytes: Array("{}".utf8), data: [], declaredLength: 100_000_001)
        #expect(openError(url)?.problem == .headerTooLarge(length: 100_000_001, limit: 100_000_000))
    }

    /// A file cut short anywhere fails cleanly: inside the length, the header or the data
    /// (then naming the tensor whose data is missing).
    @Test func truncatedAtEveryLength() throws {
        let scratch = try CheckpointScratch()
        let bytes = validFileBytes()
        let dataStart = bytes.count - 12
        for length in 0..<bytes.count {
            let url = try scratch.write("cut\(length).safetensors", Array(bytes[..<length]))
            let error = openError(url)
            switch length {
            case ..<8: #expect(error?.problem == .tooShort(fileSize: length))
            case ..<dataStart: #expect(error?.problem == .headerPastEnd(length: UInt64(dataStart - 8), fileSize: length))
            default:
                let tensor = length - dataStart < 8 ? "a" : "b"
                #expect(error?.tensor == tensor, "cut at \(length)")
                #expect(error?.description.contains("truncated") == true)
                if case .dataPastEnd = error?.problem {} else { Issue.record("cut at \(length): \(String(describing: error))") }
            }
        }
        _ = try SafetensorsFile(url: try scratch.write("whole.safetensors", bytes))
    }

    @Test func nonUTF8Header() throws {
        let scratch = try CheckpointScratch()
        let cases: [(String, [UInt8])] = [
            ("ff", [0xFF]), ("overlong", [0xC0, 0xAF]), ("surrogate", [0xED, 0xA0, 0x80]),
            ("cut", [0xE2, 0x82]), ("above-max", [0xF4, 0x90, 0x80, 0x80]),
        ]
        for (name, bad) in cases {
            let header = Array("{\"a".utf8) + bad + Array("\":{}}".utf8)
            let url = try scratch.writeSafetensors("\(name).safetensors", headerBytes: header, data: [])
            #expect(openError(url)?.problem == .invalidUTF8(offset: 3), "\(name)")
        }
        // Valid multi-byte names are fine.
        let url = try scratch.writeSafetensors("ok.safetensors", header: [Entry("naïve→層😀", "F32", [1], 0, 4)], data: [0, 0, 0, 0])
        #expect(try SafetensorsFile(url: url).names == ["naïve→層😀"])
    }

    @Test func invalidJSON() throws {
        let scratch = try CheckpointScratch()
        let cases = [
            "", "{", "{\"a\":1,}", "{\"a\" 1}", "{'a':1}", "{\"a\":tru}", "{\"a\":01}", "{\"a\":1.}",
            "{\"a\":\"\\x\"}", "{\"a\":\"\u{01}\"}", "{\"a\":\"\\ud800\"}", "{} {}", "nul",
            "{\"a\":{\"dtype\":\"F32\"},\"a\":{}}",  // duplicate tensor name
            String(repeating: "[", count: 100_000),  // nesting that would overflow a naive parser's stack
        ]
        for (i, text) in cases.enumerated() {
            let url = try scratch.writeSafetensors("bad\(i).safetensors", headerBytes: Array(text.utf8), data: [])
            let error = openError(url)
            if case .invalidJSON = error?.problem {} else { Issue.record("case \(i): \(String(describing: error))") }
        }
    }

    @Test func jsonThatIsNotAHeader() throws {
        let scratch = try CheckpointScratch()
        let notObject = try scratch.writeSafetensors("array.safetensors", headerBytes: Array("[1, 2]".utf8), data: [])
        if case .invalidHeader = openError(notObject)?.problem {} else { Issue.record("array header accepted") }
        let entryNotObject = try scratch.writeSafetensors("entry.safetensors", headerBytes: Array("{\"w\": 3}".utf8), data: [])
        if case .invalidHeader = openError(entryNotObject, tensor: "w")?.problem {} else { Issue.record("entry") }
        let metadata = try scratch.writeSafetensors("meta.safetensors", header: [], metadata: "{\"k\": 1}", data: [])
        if case .invalidHeader = openError(metadata)?.problem {} else { Issue.record("metadata") }
        let missing = try scratch.writeSafetensors(
            "missing.safetensors", headerBytes: Array("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}".utf8), data: [0, 0, 0, 0])
        #expect(openError(missing, tensor: "w")?.problem == .missingField("data_offsets"))
    }

    @Test func unknownDType() throws {
        let scratch = try CheckpointScratch()
        let url = try scratch.writeSafetensors("dtype.safetensors", header: [Entry("w", "F17", [1], 0, 4)], data: [0, 0, 0, 0])
        let error = openError(url, tensor: "w")
        #expect(error?.problem == .unknownDType("F17"))
        #expect(error?.description.contains("F17") == true)
        let lower = try scratch.writeSafetensors("lower.safetensors", header: [Entry("w", "f32", [1], 0, 4)], data: [0, 0, 0, 0])
        #expect(openError(lower, tensor: "w")?.problem == .unknownDType("f32"))
    }

    @Test func invalidShapes() throws {
        let scratch = try CheckpointScratch()
        let shapes = [
            "[-1]", "[2, -3]", "[2.5]", "[1e3]", "[\"4\"]", "4", "[99999999999999999999]",
            "[4294967296, 4294967296]",                      // 2^64 elements: overflows Int
            "[1073741824, 1073741824, 8]",                   // 2^63 elements
            "[2305843009213693952]",                         // 2^61 elements x 4 bytes overflows
        ]
        for (i, shape) in shapes.enumerated() {
            let header = "{\"w\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[0,4]}}"
            let url = try scratch.writeSafetensors("shape\(i).safetensors", headerBytes: Array(header.utf8), data: [0, 0, 0, 0])
            let error = openError(url, tensor: "w")
            if case .invalidShape = error?.problem {} else { Issue.record("shape \(shape): \(String(describing: error))") }
        }
        // Sub-byte dtypes must fill whole bytes.
        let f4 = try scratch.writeSafetensors("f4.safetensors", header: [Entry("w", "F4", [3], 0, 2)], data: [0, 0])
        if case .invalidShape = openError(f4, tensor: "w")?.problem {} else { Issue.record("F4 x 3") }
    }

    @Test func byteLengthMismatch() throws {
        let scratch = try CheckpointScratch()
        let url = try scratch.writeSafetensors("len.safetensors", header: [Entry("w", "F16", [2, 3], 0, 8)], data: [UInt8](repeating: 0, count: 12))
        let error = openError(url, tensor: "w")
        #expect(error?.problem == .byteLengthMismatch(shape: [2, 3], dtype: .f16, expected: 12, found: 8))
        #expect(error?.description.contains("[2, 3]") == true)
    }

    @Test func invalidOffsets() throws {
        let scratch = try CheckpointScratch()
        let cases = ["[8, 4]", "[-4, 0]", "[0, 4, 8]", "[0]", "[0, 4.0]", "{\"begin\": 0}", "[0, 18446744073709551616]"]
        for (i, offsets) in cases.enumerated() {
            let header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\(offsets)}}"
            let url = try scratch.writeSafetensors("off\(i).safetensors", headerBytes: Array(header.utf8), data: [UInt8](repeating: 0, count: 8))
            if case .invalidOffsets = openError(url, tensor: "w")?.problem {} else { Issue.record("offsets \(offsets)") }
        }
        let past = try scratch.writeSafetensors("past.safetensors", header: [Entry("w", "F32", [4], 4, 20)], data: [UInt8](repeating: 0, count: 16))
        #expect(openError(past, tensor: "w")?.problem == .dataPastEnd(end: 20, dataSize: 16))
    }

    @Test func overlappingRanges() throws {
        let scratch = try CheckpointScratch()
        let url = try scratch.writeSafetensors("overlap.safetensors", header: [
            Entry("first", "F32", [4], 0, 16), Entry("second", "F32", [2], 12, 20), Entry("third", "F32", [1], 20, 24),
        ], data: [UInt8](repeating: 0, count: 24))
        let error = openError(url, tensor: "second")
        #expect(error?.problem == .overlapping(other: "first"))
        #expect(error?.description.contains("'first'") == true)
        // A range inside an earlier, longer one; and two tensors sharing one range.
        let inside = try scratch.writeSafetensors("inside.safetensors", header: [
            Entry("big", "F32", [6], 0, 24), Entry("small", "F32", [1], 16, 20),
        ], data: [UInt8](repeating: 0, count: 24))
        #expect(openError(inside, tensor: "small")?.problem == .overlapping(other: "big"))
        let same = try scratch.writeSafetensors("same.safetensors", header: [
            Entry("x", "F32", [1], 0, 4), Entry("y", "F32", [1], 0, 4),
        ], data: [UInt8](repeating: 0, count: 4))
        #expect(openError(same, tensor: "y")?.problem == .overlapping(other: "x"))
        // Empty tensors own no bytes and overlap nothing.
        let empty = try scratch.writeSafetensors("empty.safetensors", header: [
            Entry("x", "F32", [2], 0, 8), Entry("e", "F32", [0, 5], 4, 4),
        ], data: [UInt8](repeating: 0, count: 8))
        #expect(try SafetensorsFile(url: empty).names == ["e", "x"])
    }

    @Test func unreadablePaths() throws {
        let scratch = try CheckpointScratch()
        let missing = scratch.directory.appendingPathComponent("nope.safetensors")
        if case .unreadable = openError(missing)?.problem {} else { Issue.record("missing file") }
        if case let .unreadable(reason) = openError(scratch.directory)?.problem {
            #expect(reason.contains("directory"))
        } else { Issue.record("directory") }
    }

    /// Random byte mutations of a valid file: every one either opens or throws
    /// `SafetensorsError`; none crashes. Those that open still load every tensor.
    @Test func randomMutationsNeverCrash() throws {
        let scratch = try CheckpointScratch()
        let original = validFileBytes()
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        let interesting: [UInt8] = Array("{}[],:\"-0123456789e.\\ ".utf8) + [0, 0x80, 0xFF]
        var opened = 0
        for round in 0..<1_500 {
            var bytes = original
            for _ in 0..<(1 + next() % 3) {
                let position = next() % bytes.count
                bytes[position] = next() % 2 == 0 ? interesting[next() % interesting.count] : UInt8(truncatingIfNeeded: next())
            }
            let url = try scratch.write("m\(round % 10).safetensors", bytes)
            do {
                let file = try SafetensorsFile(url: url)
                for name in file.names where file.entry(name)?.dtype.floatFormat != nil { _ = try file.tensor(name) }
                opened += 1
            } catch {
                // Typed throws: the only error possible here is a SafetensorsError.
                _ = error.description
            }
        }
        #expect(opened > 0)  // some mutations only touch the data and stay valid
    }
}
