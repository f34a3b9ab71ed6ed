@testable import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// Loading speed at SD 1.5 UNet scale (a measurement, not a check; opt-in because it
/// writes 5 GB of files): `EASEL_CHECKPOINT_BENCH=/some/dir swift test -c release
/// --filter CheckpointLoadBenchmark`. The files are written once and reused.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["EASEL_CHECKPOINT_BENCH"] != nil))
struct CheckpointLoadBenchmarkTests {
    /// SD 1.5's UNet: 859.5 M parameters; here 205 tensors of 4.19 M elements.
    static let tensorCount = 205
    static let elementsPerTensor = 4_194_304

    static func file(_ dtype: String) throws -> URL {
        let dir = URL(fileURLWithPath: ProcessInfo.processInfo.environment["EASEL_CHECKPOINT_BENCH"]!)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("unet-scale-\(dtype).safetensors")
        if FileManager.default.fileExists(atPath: url.path) { return url }
        let size = dtype == "F32" ? 4 : 2
        let bytes = elementsPerTensor * size
        var entries: [String] = []
        for i in 0..<tensorCount {
            entries.append("\"layer.\(i).weight\":{\"dtype\":\"\(dtype)\",\"shape\":[\(elementsPerTensor)],\"data_offsets\":[\(i * bytes),\((i + 1) * bytes)]}")
        }
        let header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        let handle = try { _ = FileManager.default.createFile(atPath: url.path, contents: nil); return try FileHandle(forWritingTo: url) }()
        try handle.write(contentsOf: (0..<8).map { UInt8(truncatingIfNeeded: UInt64(header.count) >> (8 * $0)) } + header)
        var chunk = [UInt8](repeating: 0, count: bytes)
        for i in 0..<bytes { chunk[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 7) & (size == 2 ? 0x3B : 0xFF) }
        for _ in 0..<tensorCount { try handle.write(contentsOf: chunk) }
        try handle.close()
        return url
    }

    func measure(_ dtype: String) throws {
        let url = try Self.file(dtype)
        for pass in 1...2 {
            let start = Date()
            let file = try SafetensorsFile(url: url)
            let opened = Date()
            let weights = StrictWeights(file)
            var loaded: [Tensor] = []
            for name in file.names { loaded.append(try weights.tensor(name, shape: [Self.elementsPerTensor])) }
            try weights.checkAllConsumed()
            let seconds = Date().timeIntervalSince(start)
            let gib = Double(Self.tensorCount * Self.elementsPerTensor * 4) / Double(1 << 30)
            print(String(format: "%@ pass %d: open %.1f ms, load %.2f s, %.2f GiB/s of float32 out (%d threads)",
                         dtype, pass, opened.timeIntervalSince(start) * 1000, seconds, gib / seconds,
                         ProcessInfo.processInfo.activeProcessorCount))
        }
    }

    @Test func loadF16() throws { try measure("F16") }
    @Test func loadF32() throws { try measure("F32") }

    /// The conversion kernel alone, in memory: single thread vs all cores.
    @Test func conversionThroughput() {
        let count = 1 << 26
        let source = UnsafeMutableRawPointer.allocate(byteCount: count * 2, alignment: 64)
        defer { source.deallocate() }
        for i in 0..<count { source.storeBytes(of: UInt16(truncatingIfNeeded: i &* 40_503), toByteOffset: 2 * i, as: UInt16.self) }
        let out = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { out.deallocate() }
        out.initialize(repeating: 0, count: count)
        for _ in 0..<2 {
            var start = Date()
            ElementConversion.widenFloat16(source, out, count)
            let serial = Date().timeIntervalSince(start)
            start = Date()
            ElementConversion.convert(source, from: .float16, into: out, count: count)
            let parallel = Date().timeIntervalSince(start)
            start = Date()
            for i in 0..<count { out[i] = Float(Float16(bitPattern: source.load(fromByteOffset: 2 * i, as: UInt16.self))) }
            let swiftFloat16 = Date().timeIntervalSince(start)
            print(String(format: "F16->F32 %d M elements: serial %.0f M/s, parallel %.0f M/s, Float(Float16) serial %.0f M/s",
                         count >> 20, Double(count) / serial / 1e6, Double(count) / parallel / 1e6, Double(count) / swiftFloat16 / 1e6))
        }
    }
}
