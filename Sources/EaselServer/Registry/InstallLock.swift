import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a file in the data directory (`flock`), held by one process (or
/// one holder in a process) at a time: processes that share the data directory, as every
/// Easel process of one deployment does, take turns installing a model.
final class InstallLock: Sendable {
    private let descriptor: Int32

    /// Waits (without holding a thread) until the lock on `file` is ours.
    static func acquire(_ file: URL) async throws -> InstallLock {
        try PrivateFiles.createFolder(file.deletingLastPathComponent())
        let descriptor = open(file.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: file.path])
        }
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                close(descriptor)
                throw CocoaError(.fileLocking, userInfo: [NSFilePathErrorKey: file.path])
            }
            do {
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                close(descriptor)
                throw error
            }
        }
        return InstallLock(descriptor: descriptor)
    }

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// Closing the file releases the lock.
    deinit { close(descriptor) }
}
