import Foundation

/// The one folder the embedded server needs: the SQLite database, the image files and
/// the installed models. The server and the CLI commands open the same one.
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

    /// Creates the folders (if needed) and opens the database, migrating its schema.
    public func openStore() throws -> SQLiteStore {
        for folder in [root, imagesFolder, modelsFolder] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        return try SQLiteStore(path: databasePath)
    }

    public func imageStore() throws -> FileImageStore {
        try FileImageStore(folder: imagesFolder)
    }
}
