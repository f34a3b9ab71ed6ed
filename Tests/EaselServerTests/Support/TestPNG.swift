import EaselDiffusion
import Foundation

/// Images for the fake engine, and the size of a served PNG.
enum TestPNG {
    /// A deterministic gradient that depends on the seed.
    static func image(width: Int, height: Int, seed: UInt64) -> RGBImage {
        let tint = UInt8(truncatingIfNeeded: seed &* 2_654_435_761 >> 3)
        var pixels: [UInt8] = []
        pixels.reserveCapacity(width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                pixels.append(UInt8(truncatingIfNeeded: x * 255 / max(width - 1, 1)))
                pixels.append(UInt8(truncatingIfNeeded: y * 255 / max(height - 1, 1)))
                pixels.append(tint)
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// Width and height of a PNG that decodes completely (libpng checks every CRC).
    static func dimensions(_ png: Data) -> (width: Int, height: Int)? {
        guard png.starts(with: [0x89, 0x50, 0x4E, 0x47]), let image = try? ImageDecoder().decode(png) else { return nil }
        return (image.width, image.height)
    }
}
