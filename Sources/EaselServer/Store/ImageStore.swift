import Foundation

/// Where generated PNGs live. The file system one is the embedded default; shared
/// storage for several machines can implement the same four verbs.
public protocol ImageStore: Sendable {
    /// Writes (durably) and returns the stored file name.
    func write(_ png: Data, imageId: String) throws -> String
    func read(fileName: String) throws -> Data?
    func delete(fileName: String)
    /// Names of the stored images last written before `cutoff` (the orphan sweeper's candidates).
    func fileNames(writtenBefore cutoff: Date) throws -> [String]
}

/// PNG files in one folder of the data directory, named by their unguessable id.
public struct FileImageStore: ImageStore {
    public let folder: URL

    public init(folder: URL) throws {
        self.folder = folder
        try PrivateFiles.createFolder(folder)
    }

    public func write(_ png: Data, imageId: String) throws -> String {
        let name = "\(imageId).png"
        // Write-then-rename so a crash never leaves half an image behind a URI; 0600, as
        // everything in the data directory.
        try PrivateFiles.writeAtomically(png, to: folder.appendingPathComponent(name))
        return name
    }

    public func read(fileName: String) throws -> Data? {
        guard Self.isSafe(fileName) else { return nil }
        let url = folder.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try Data(contentsOf: url)
    }

    public func delete(fileName: String) {
        guard Self.isSafe(fileName) else { return }
        try? FileManager.default.removeItem(at: folder.appendingPathComponent(fileName))
    }

    public func fileNames(writtenBefore cutoff: Date) throws -> [String] {
        let keys: [URLResourceKey] = [.contentModificationDateKey, .isRegularFileKey]
        let entries = try FileManager.default.contentsOfDirectory(
            at: folder, includingPropertiesForKeys: keys, options: [.skipsHiddenFiles])
        return entries.compactMap { url in
            let name = url.lastPathComponent
            guard Self.isSafe(name), let values = try? url.resourceValues(forKeys: Set(keys)),
                values.isRegularFile == true, let written = values.contentModificationDate, written < cutoff
            else { return nil }
            return name
        }
    }

    /// Only names we made: hex id and `.png`, so no path can escape the folder.
    static func isSafe(_ name: String) -> Bool {
        guard name.hasSuffix(".png") else { return false }
        let stem = name.dropLast(4)
        return !stem.isEmpty && stem.allSatisfy { $0.isHexDigit }
    }
}
