import EaselTensor
import Foundation

/// An 8-bit RGB image, rows top to bottom, pixels interleaved `R G B`.
public struct RGBImage: Sendable, Hashable {
    public let width: Int
    public let height: Int
    /// `width * height * 3` bytes.
    public let pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "\(pixels.count) bytes for \(width)x\(height) RGB")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The images of a decoded batch, `[B, 3, H, W]` in [-1, 1], mapped as diffusers'
    /// image processor does: `(x / 2 + 0.5).clamp(0, 1)`, then `round(x * 255)`.
    public static func batch(fromDecoded images: Tensor) -> [RGBImage] {
        precondition(images.rank == 4 && images.shape[1] == 3, "expected [B, 3, H, W], got \(images.shape)")
        let (b, h, w) = (images.shape[0], images.shape[2], images.shape[3])
        let unit = (images * 0.5 + 0.5).clamped(to: 0...1)
        let plane = h * w
        return unit.withUnsafeBufferPointer { src in
            (0..<b).map { n in
                var pixels = [UInt8](repeating: 0, count: plane * 3)
                let base = n * 3 * plane
                for c in 0..<3 {
                    for i in 0..<plane {
                        pixels[i * 3 + c] = UInt8((src[base + c * plane + i] * 255).rounded(.toNearestOrEven))
                    }
                }
                return RGBImage(width: w, height: h, pixels: pixels)
            }
        }
    }
}

extension RGBImage {
    /// The image as a PNG file, with `metadata` in text chunks.
    public func pngData(metadata: [(keyword: String, text: String)] = []) throws -> Data {
        try PNGEncoder.encodeData(width: width, height: height, rgb: pixels, metadata: metadata)
    }
}

extension GenerationRequest {
    /// The generation parameters as PNG text chunks, so an image says how it was made.
    /// `index` is the image's place in its batch (from 1).
    public func pngMetadata(model: String, scheduler: String, index: Int) -> [(keyword: String, text: String)] {
        var chunks = [("prompt", prompt), ("negative_prompt", negativePrompt ?? ""), ("seed", String(seed)),
                      ("steps", String(steps)), ("guidance", String(guidanceScale)), ("scheduler", scheduler),
                      ("size", "\(width)x\(height)"), ("batch_index", "\(index) of \(count)"), ("model", model)]
        if let initImage { chunks.append(("strength", String(initImage.strength))) }
        chunks.append(("Software", "Easel \(EngineInfo.version)"))
        return chunks.map { (keyword: $0.0, text: $0.1) }
    }
}
