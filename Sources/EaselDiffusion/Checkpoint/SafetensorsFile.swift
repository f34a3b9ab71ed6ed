import EaselTensor
import Foundation

/// One `.safetensors` file, memory-mapped read-only, its header validated in full on open.
///
/// Opening costs one header parse; tensor data is read only when a tensor is asked for
/// (F32 copied straight from the mapping, F16 and BF16 widened on all cores). Safe to
/// use from several threads: nothing in it changes after `init`.
public final class SafetensorsFile: TensorArchive, @unchecked Sendable {
    /// Where the file is.
    public let url: URL
    /// `url.path`, named in every error and `info`.
    public let path: String
    /// The header's `__metadata__` (string to string), empty when it has none.
    public let metadata: [String: String]
    /// Every tensor's name, sorted.
    public let names: [String]

    private let entries: [String: SafetensorsEntry]
    private let file: MappedFile
    /// File offset of the data section (8 + header length).
    private let dataStart: Int

    /// Opens and validates the file at `url`.
    public init(url: URL) throws(SafetensorsError) {
        self.url = url
        let path = url.path
        self.path = path
        do {
            file = try MappedFile(path: path)
        } catch {
            throw SafetensorsError(file: path, .unreadable(reason: error.reason))
        }
        guard file.size >= 8 else { throw SafetensorsError(file: path, .tooShort(fileSize: file.size)) }
        let headerLength = file.bytes(0..<8).loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(SafetensorsHeader.maxLength) else {
            throw SafetensorsError(file: path, .headerTooLarge(length: headerLength, limit: SafetensorsHeader.maxLength))
        }
        guard headerLength <= UInt64(file.size - 8) else {
            throw SafetensorsError(file: path, .headerPastEnd(length: headerLength, fileSize: file.size))
        }
        dataStart = 8 + Int(headerLength)
        let header = try SafetensorsHeader.parse(
            Array(file.bytes(8..<dataStart)), dataSize: file.size - dataStart, file: path)
        entries = header.entries
        metadata = header.metadata
        names = header.entries.keys.sorted()
    }

    /// The entry for tensor `name` (dtype, shape, byte range), or nil.
    public func entry(_ name: String) -> SafetensorsEntry? { entries[name] }

    /// Tensor `name` as float32; it must be stored as F32, F16 or BF16.
    public func tensor(_ name: String) throws(SafetensorsError) -> Tensor {
        guard let entry = entries[name] else { throw SafetensorsError(file: path, tensor: name, .noSuchTensor) }
        guard let format = entry.dtype.floatFormat else {
            throw SafetensorsError(file: path, tensor: name, .notFloatWeights(entry.dtype))
        }
        let range = (dataStart + entry.byteRange.lowerBound)..<(dataStart + entry.byteRange.upperBound)
        let large = range.count >= 1 << 20
        if large { file.willNeed(range) }
        let tensor = Tensor(shape: entry.shape, converting: file.bytes(range), from: format)
        if large { file.doneWith(range) }
        return tensor
    }

    /// Calls `body` with tensor `name`'s stored bytes, whatever its dtype (for integer
    /// buffers and tools that need the raw data). The bytes are valid only inside `body`.
    public func withRawBytes<R>(
        of name: String, _ body: (SafetensorsEntry, UnsafeRawBufferPointer) throws -> R
    ) throws -> R {
        guard let entry = entries[name] else { throw SafetensorsError(file: path, tensor: name, .noSuchTensor) }
        let range = (dataStart + entry.byteRange.lowerBound)..<(dataStart + entry.byteRange.upperBound)
        return try withExtendedLifetime(file) { try body(entry, file.bytes(range)) }
    }

    // MARK: TensorArchive

    public var location: String { path }

    public func info(_ name: String) -> ArchivedTensorInfo? {
        entries[name].map { ArchivedTensorInfo(name: $0.name, dtype: $0.dtype, shape: $0.shape, file: path) }
    }

    public func loadTensor(_ name: String) throws -> Tensor { try tensor(name) }
}
