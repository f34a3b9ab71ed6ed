import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// The tensors the fixture scripts write: little-endian float32, no header.
enum FixtureTensors {
    /// The file at `url` as a tensor of `shape` (its size must be exactly that).
    static func load(_ url: URL, shape: [Int]) throws -> Tensor {
        let data = try Data(contentsOf: url)
        let count = shape.reduce(1, *)
        try #require(data.count == count * 4, "\(url.lastPathComponent): \(data.count) bytes for shape \(shape)")
        return Tensor(shape: shape, scalars: floats(data))
    }

    /// Every float32 in `data`.
    static func floats(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }
}

/// Images against diffusers' pixels (uint8 RGB, the batch in order, as the scripts write them).
enum FixtureImages {
    /// The largest difference of any pixel channel of `images` from the file at `url`; 255
    /// when the sizes differ (recorded as an issue).
    static func worstPixel(_ images: [RGBImage], against url: URL) throws -> Int {
        let expected = [UInt8](try Data(contentsOf: url))
        let actual = images.flatMap(\.pixels)
        guard actual.count == expected.count else {
            Issue.record("\(url.lastPathComponent): \(actual.count) bytes of pixels, \(expected.count) expected")
            return 255
        }
        return zip(actual, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
    }
}
