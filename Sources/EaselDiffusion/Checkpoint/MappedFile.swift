#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A regular file mapped read-only into memory, unmapped when released.
///
/// Mapping rather than reading lets a multi-gigabyte checkpoint be opened, validated and
/// loaded tensor by tensor without a second in-memory copy; the kernel pages it in as
/// tensors are converted and may drop the pages again under memory pressure.
/// (As with any mapping, a file truncated by another process while mapped makes reads of
/// the lost pages fault; checkpoints are not rewritten in place.)
final class MappedFile: @unchecked Sendable {
    /// Size of the file in bytes.
    let size: Int
    /// Start of the mapping; nil for an empty file (which cannot be mapped).
    private let base: UnsafeRawPointer?

    /// Maps the file at `path`; throws a description of the failure.
    init(path: String) throws(MappedFileError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MappedFileError(reason: Self.lastErrorDescription()) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw MappedFileError(reason: Self.lastErrorDescription()) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw MappedFileError(reason: (info.st_mode & S_IFMT) == S_IFDIR ? "is a directory" : "not a regular file")
        }
        size = Int(info.st_size)
        guard size > 0 else {
            base = nil
            return
        }
        let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else { throw MappedFileError(reason: "mmap failed: " + Self.lastErrorDescription()) }
        base = UnsafeRawPointer(mapped)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    /// The bytes `range` of the file; `range` must lie within `0..<size`.
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        guard let base, !range.isEmpty else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    /// Tells the kernel `range` will be read soon, so it reads ahead in large requests
    /// instead of faulting page by page while a tensor is converted.
    func willNeed(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), range.upperBound - start, MADV_WILLNEED)
    }

    /// Tells the kernel this process is done with `range` for now: its pages leave the
    /// process's resident set (they stay in the page cache, and a later read faults them
    /// back in). Called once a tensor is converted, so loading a checkpoint holds the
    /// converted weights, not the converted weights plus every mapped page of the file.
    func doneWith(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), range.upperBound - start, MADV_DONTNEED)
    }

    private static func lastErrorDescription() -> String {
        String(cString: strerror(errno))
    }
}

/// Why a file could not be mapped.
struct MappedFileError: Error {
    var reason: String
}
