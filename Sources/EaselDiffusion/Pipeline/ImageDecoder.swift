import CImageCodecs
import Foundation

/// Decodes PNG and JPEG files into `RGBImage`s, for image-to-image: PNG through libpng's
/// simplified API, JPEG through libjpeg-turbo's TurboJPEG API (accurate IDCT and smooth
/// chroma upsampling, as Pillow decodes with the same library).
///
/// Input is untrusted (an upload, a file a user points at): the size is read from the
/// header and checked against `maxPixels` before any pixel memory is allocated, and every
/// failure is an `ImageDecodingError` saying what was wrong, never a crash. An alpha channel
/// is dropped, as Pillow's `convert("RGB")` does.
public struct ImageDecoder: Sendable {
    /// The most pixels (width x height) an image may have.
    public var maxPixels: Int

    public init(maxPixels: Int = 4096 * 4096) {
        self.maxPixels = maxPixels
    }

    /// The image in `data`, recognised by its signature.
    public func decode(_ data: Data) throws -> RGBImage {
        let bytes = [UInt8](data)
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return try decodePNG(bytes) }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return try decodeJPEG(bytes) }
        throw ImageDecodingError.unrecognised
    }

    /// The image in the file at `url`.
    public func decode(contentsOf url: URL) throws -> RGBImage {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ImageDecodingError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        return try decode(data)
    }

    func checkSize(width: Int, height: Int) throws {
        guard width > 0, height > 0 else { throw ImageDecodingError.corrupt("the image is \(width)x\(height)") }
        // Each side fits in 32 bits, so the product cannot overflow an Int.
        guard width * height <= maxPixels else {
            throw ImageDecodingError.tooLarge(width: width, height: height, maxPixels: maxPixels)
        }
    }

    func decodePNG(_ bytes: [UInt8]) throws -> RGBImage {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        let begun = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw ImageDecodingError.corrupt("PNG: \(Self.message(image))") }
        try checkSize(width: Int(image.width), height: Int(image.height))
        image.format = png_uint_32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)  // 8-bit RGBA
        let (width, height) = (Int(image.width), Int(image.height))
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        let finished = rgba.withUnsafeMutableBytes {
            png_image_finish_read(&image, nil, $0.baseAddress, png_int_32(width * 4), nil)
        }
        guard finished != 0 else { throw ImageDecodingError.corrupt("PNG: \(Self.message(image))") }
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            rgb[3 * i] = rgba[4 * i]
            rgb[3 * i + 1] = rgba[4 * i + 1]
            rgb[3 * i + 2] = rgba[4 * i + 2]
        }
        return RGBImage(width: width, height: height, pixels: rgb)
    }

    static func message(_ image: png_image) -> String {
        var buffer = image.message
        let text = withUnsafeBytes(of: &buffer) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return text.isEmpty ? "not a readable PNG" : text
    }

    func decodeJPEG(_ bytes: [UInt8]) throws -> RGBImage {
        guard let handle = tjInitDecompress() else { throw ImageDecodingError.corrupt("JPEG: could not start the decoder") }
        defer { tjDestroy(handle) }
        func failure() -> ImageDecodingError {
            .corrupt("JPEG: " + String(cString: tjGetErrorStr2(handle)))
        }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = bytes.withUnsafeBufferPointer {
            tjDecompressHeader3(handle, $0.baseAddress, UInt($0.count), &width, &height, &subsampling, &colorspace)
        }
        guard header == 0 else { throw failure() }
        if colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue) {
            throw ImageDecodingError.unsupported("CMYK JPEG images are not supported; save it as RGB")
        }
        try checkSize(width: Int(width), height: Int(height))
        var rgb = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        let decoded = bytes.withUnsafeBufferPointer { source in
            rgb.withUnsafeMutableBufferPointer { target in
                tjDecompress2(handle, source.baseAddress, UInt(source.count), target.baseAddress,
                              width, 0, height, Int32(TJPF_RGB.rawValue), 0)
            }
        }
        // A truncated file decodes with a warning (grey below the cut): refuse it too.
        guard decoded == 0 else { throw failure() }
        return RGBImage(width: Int(width), height: Int(height), pixels: rgb)
    }
}

/// Why an image could not be decoded.
public enum ImageDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    case unrecognised
    case unreadable(path: String, reason: String)
    case corrupt(String)
    case unsupported(String)
    case tooLarge(width: Int, height: Int, maxPixels: Int)

    public var description: String {
        switch self {
        case .unrecognised: "not a PNG or JPEG image"
        case let .unreadable(path, reason): "cannot read \(path): \(reason)"
        case let .corrupt(why): "the image is damaged or truncated (\(why))"
        case let .unsupported(why): why
        case let .tooLarge(width, height, maxPixels):
            "the image is \(width)x\(height), more than the \(maxPixels) pixels allowed"
        }
    }
}
