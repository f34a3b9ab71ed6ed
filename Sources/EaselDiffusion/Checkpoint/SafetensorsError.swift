import Foundation

/// A safetensors file that cannot be read or is not a valid safetensors file, with the
/// file, the tensor concerned (when there is one) and what is wrong.
///
/// Every byte sequence either opens or produces one of these; none traps.
public struct SafetensorsError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// What is wrong.
    public enum Problem: Sendable, Equatable {
        /// The file could not be opened or mapped (missing, unreadable, a directory...).
        case unreadable(reason: String)
        /// Shorter than the 8-byte header length that starts every safetensors file.
        case tooShort(fileSize: Int)
        /// The header length exceeds the sanity bound.
        case headerTooLarge(length: UInt64, limit: Int)
        /// The header length runs past the end of the file.
        case headerPastEnd(length: UInt64, fileSize: Int)
        /// The header is not valid UTF-8 (byte offset within the header).
        case invalidUTF8(offset: Int)
        /// The header is not valid JSON (byte offset within the header).
        case invalidJSON(offset: Int, message: String)
        /// The header is JSON but not of the safetensors shape (not an object, a bad
        /// `__metadata__`, an entry that is not an object...).
        case invalidHeader(String)
        /// An entry lacks `dtype`, `shape` or `data_offsets`.
        case missingField(String)
        /// An entry's `dtype` is not one the format defines.
        case unknownDType(String)
        /// An entry's shape is not a list of non-negative integers, or its size overflows.
        case invalidShape(String)
        /// An entry's `data_offsets` are not `[begin, end]` integers with `0 <= begin <= end`.
        case invalidOffsets(String)
        /// An entry's data runs past the end of the file (a truncated file, typically).
        case dataPastEnd(end: Int, dataSize: Int)
        /// An entry's byte range does not match its shape and dtype.
        case byteLengthMismatch(shape: [Int], dtype: SafetensorsDType, expected: Int, found: Int)
        /// Two entries' byte ranges overlap.
        case overlapping(other: String)
        /// The file has no tensor of that name.
        case noSuchTensor
        /// The tensor exists but its dtype does not load as float weights.
        case notFloatWeights(SafetensorsDType)
    }

    /// Path of the file.
    public var file: String
    /// Name of the tensor concerned, when the problem is one tensor's.
    public var tensor: String?
    public var problem: Problem

    public init(file: String, tensor: String? = nil, _ problem: Problem) {
        self.file = file
        self.tensor = tensor
        self.problem = problem
    }

    public var description: String {
        let subject = tensor.map { "\(file): tensor '\($0)'" } ?? file
        return "\(subject): \(problemDescription)"
    }

    public var errorDescription: String? { description }

    private var problemDescription: String {
        switch problem {
        case let .unreadable(reason):
            return "cannot read safetensors file: \(reason)"
        case let .tooShort(size):
            return "file is \(size) bytes, too short for a safetensors file (at least 8 bytes of header length)"
        case let .headerTooLarge(length, limit):
            return "header length \(length) exceeds the \(limit)-byte limit; not a safetensors file or corrupt"
        case let .headerPastEnd(length, size):
            return "header length \(length) runs past the end of the \(size)-byte file; truncated or not a safetensors file"
        case let .invalidUTF8(offset):
            return "header is not valid UTF-8 (at header byte \(offset))"
        case let .invalidJSON(offset, message):
            return "header is not valid JSON: \(message) (at header byte \(offset))"
        case let .invalidHeader(reason):
            return "invalid header: \(reason)"
        case let .missingField(field):
            return "header entry has no '\(field)'"
        case let .unknownDType(dtype):
            return "unknown dtype \"\(dtype)\""
        case let .invalidShape(reason):
            return "invalid shape: \(reason)"
        case let .invalidOffsets(reason):
            return "invalid data_offsets: \(reason)"
        case let .dataPastEnd(end, dataSize):
            return "data ends at byte \(end) of the data section, which has only \(dataSize) bytes; the file is truncated"
        case let .byteLengthMismatch(shape, dtype, expected, found):
            return "shape \(shape) of \(dtype) needs \(expected) bytes but data_offsets span \(found)"
        case let .overlapping(other):
            return "data overlaps that of tensor '\(other)'"
        case .noSuchTensor:
            return "no such tensor in the file"
        case let .notFloatWeights(dtype):
            return "dtype \(dtype) does not load as float weights (only F32, F16 and BF16 do)"
        }
    }
}
