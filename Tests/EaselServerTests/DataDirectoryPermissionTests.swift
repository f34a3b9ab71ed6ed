import EaselServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// Issue 10: the data directory holds every prompt and the webhook signing secrets, so it
/// is private to the server's user: folders 0700, files 0600 (the database with its WAL and
/// SHM, images), and a directory an older version left readable is tightened on start.
@Suite struct DataDirectoryPermissionTests {
    static func mode(_ path: String) -> UInt16? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return UInt16(info.st_mode & 0o777)
    }

    static func expectPrivate(_ root: URL) throws {
        var checked = 0
        let enumerator = try #require(FileManager.default.enumerator(atPath: root.path))
        var paths = [root.path]
        while let relative = enumerator.nextObject() as? String { paths.append(root.appendingPathComponent(relative).path) }
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let mode = try #require(Self.mode(path))
            if isDirectory.boolValue {
                #expect(mode == 0o700, "\(path) is \(String(mode, radix: 8))")
            } else {
                #expect(mode == 0o600, "\(path) is \(String(mode, radix: 8))")
            }
            checked += 1
        }
        #expect(checked > 5)
    }

    @Test func newDataDirectoryIsPrivate() async throws {
        let parent = TestServer.makeTemporaryFolder()
        let folder = parent.appendingPathComponent("data")
        let server = try await TestServer.make(folder: folder)
        try await server.application().test(.router) { client in
            let id = try #require(try await client.submit(server)["id"] as? String)
            _ = try await client.waitForEnd(server, id: id)
        }
        let root = folder.path
        #expect(Self.mode(root) == 0o700)
        #expect(Self.mode("\(root)/images") == 0o700)
        #expect(Self.mode("\(root)/models") == 0o700)
        #expect(Self.mode("\(root)/easel.sqlite") == 0o600)
        #expect(Self.mode("\(root)/easel.sqlite-wal") == 0o600)
        #expect(Self.mode("\(root)/easel.sqlite-shm") == 0o600)
        let images = try FileManager.default.contentsOfDirectory(atPath: "\(root)/images")
        #expect(!images.isEmpty)
        for image in images { #expect(Self.mode("\(root)/images/\(image)") == 0o600, "\(image)") }
        try Self.expectPrivate(folder)
    }

    @Test func looseExistingDataDirectoryIsTightenedOnStartAndLogged() async throws {
        // A data directory as an older version left it: 0755 folders, 0644 files.
        let folder = TestServer.makeTemporaryFolder().appendingPathComponent("data")
        let first = try await TestServer.make(folder: folder)
        try await first.application().test(.router) { client in
            let id = try #require(try await client.submit(first)["id"] as? String)
            _ = try await client.waitForEnd(first, id: id)
        }
        let enumerator = try #require(FileManager.default.enumerator(atPath: folder.path))
        chmod(folder.path, 0o755)
        while let relative = enumerator.nextObject() as? String {
            let path = folder.appendingPathComponent(relative).path
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            chmod(path, isDirectory.boolValue ? 0o755 : 0o644)
        }
        #expect(Self.mode(folder.appendingPathComponent("easel.sqlite").path) == 0o644)

        let lines = Locked<[String]>([])
        let logger = Logger(label: "easel") { label in
            JSONLogHandler(label: label, stream: { line in lines.withLock { $0.append(line) } })
        }
        let second = try await TestServer.make(folder: folder, logger: logger)
        try await second.application().test(.router) { client in
            let health = try await client.send(.get, "/health")
            #expect(health.status == .ok)
        }
        try Self.expectPrivate(folder)
        let warning = lines.current.first { $0.contains("data directory was readable by other users") }
        #expect(warning != nil, "the tightening is logged: \(lines.current)")
        #expect(warning?.contains("\"level\":\"warning\"") == true)
    }
}
