import Foundation
import Logging

/// The one folder the embedded server needs: the SQLite database, the image files and
/// the installed models. The server and the CLI commands open the same one. It is private
/// to the server's user (folders 0700, files 0600; see `PrivateFiles`).
public struct DataDirectory: Sendable {
    public let root: URL

    /// - Parameter path: absolute, or relative to the current directory.
    public init(path: String) {
        let base = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        root = URL(fileURLWithPath: path, relativeTo: base).standardizedFileURL
    }

    public var databasePath: String { root.appendingPathComponent("easel.sqlite").path }
    public var imagesFolder: URL { root.appendingPathComponent("images") }
    public var modelsFolder: URL { root.appendingPathComponent("models") }
    /// Live previews of running jobs (`PreviewStore`).
    public var previewsFolder: URL { root.appendingPathComponent("previews") }

    /// The store the server and the commands use: PostgreSQL when a `postgres://` URL is
    /// given (shared by several processes), else this directory's SQLite database.
    public func openStore(databaseURL: String?, logger: Logger) async throws -> any EaselStore {
        guard let databaseURL, !databaseURL.isEmpty else { return try openStore() }
        return try await PostgresStore.connect(url: databaseURL, logger: logger)
    }

    /// Creates the folders (if needed) and opens the database, migrating its schema.
    public func openStore() throws -> SQLiteStore {
        try makePrivate()
        try PrivateFiles.createFileIfMissing(atPath: databasePath)
        let store = try SQLiteStore(path: databasePath)
        // The -wal and -shm files exist now; an older version may have left them 0644.
        PrivateFiles.tighten(root)
        return store
    }

    /// Creates the folders 0700 if they are missing and takes group and other permissions
    /// off everything already there.
    /// - Returns: the paths whose permissions were tightened (empty for a private directory).
    @discardableResult
    public func makePrivate() throws -> [String] {
        for folder in [root, imagesFolder, modelsFolder] {
            try PrivateFiles.createFolder(folder)
        }
        return PrivateFiles.tighten(root)
    }

    public func imageStore() throws -> FileImageStore {
        try FileImageStore(folder: imagesFolder)
    }
}
