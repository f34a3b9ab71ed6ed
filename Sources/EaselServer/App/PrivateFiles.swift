import Foundation

/// The data directory holds every prompt, the webhook signing secrets and the generated
/// images, so only the server's own user may read it: folders 0700, files 0600. Modes are
/// set explicitly where things are created (not left to the process umask, which tests
/// building the app in process do not set), and `tighten(_:)` fixes a directory that an
/// older version left readable.
enum PrivateFiles {
    static let folderMode: mode_t = 0o700
    static let fileMode: mode_t = 0o600

    /// Creates `folder` (and missing parents) 0700; an existing folder is left to `tighten`.
    static func createFolder(_ folder: URL) throws {
        try FileManager.default.createDirectory(
            at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: Int(folderMode)])
    }

    /// Creates an empty 0600 file at `path` unless something is there already, so a program
    /// that opens it afterwards (SQLite, which also gives its -wal and -shm files the main
    /// file's mode) never creates it with its own, wider default.
    static func createFileIfMissing(atPath path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fileMode)
        if fd >= 0 {
            close(fd)
        } else if errno != EEXIST {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
    }

    /// Writes `data` to `url` as a 0600 file, durably and atomically: a temporary file in
    /// the same folder, fsync, then rename, so a crash never leaves half a file behind a name.
    static func writeAtomically(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(UUID().uuidString).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fileMode)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var closed = false
        defer {
            if !closed { close(fd) }
        }
        do {
            try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
                var offset = 0
                while offset < buffer.count {
                    let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
                    }
                    offset += written
                }
            }
            guard fsync(fd) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            closed = true
            close(fd)
            guard rename(temporary.path, url.path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        } catch {
            unlink(temporary.path)
            throw error
        }
    }

    /// Removes group and other permissions from `root` and everything under it, without
    /// following symbolic links (a linked model stays the operator's own file, wherever it
    /// is). Returns the paths that were changed.
    @discardableResult
    static func tighten(_ root: URL) -> [String] {
        var changed: [String] = []
        var pending = [root.path]
        while let path = pending.popLast() {
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            let type = info.st_mode & S_IFMT
            guard type == S_IFDIR || type == S_IFREG else { continue }
            if info.st_mode & 0o077 != 0, chmod(path, info.st_mode & 0o700) == 0 {
                changed.append(path)
            }
            if type == S_IFDIR, let names = try? FileManager.default.contentsOfDirectory(atPath: path) {
                pending += names.map { (path as NSString).appendingPathComponent($0) }
            }
        }
        return changed
    }
}
