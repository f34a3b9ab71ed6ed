import EaselServer
import Foundation
import Logging
import Testing

/// The orphan image sweeper on both stores: it removes old files no image row names, and
/// never a file still young enough to belong to a job being finished.
@Suite struct OrphanImageSweeperTests {
    static func backdate(_ name: String, in images: FileImageStore, by seconds: TimeInterval) throws {
        try FileManager.default.setAttributes(
            [.modificationDate: Date().addingTimeInterval(-seconds)],
            ofItemAtPath: images.folder.appendingPathComponent(name).path)
    }

    @Test(arguments: StoreKind.available) func removesOnlyOldUnnamedFiles(_ kind: StoreKind) async throws {
        let store = try await kind.makeStore().store
        let images = try FileImageStore(folder: TestServer.makeTemporaryFolder().appendingPathComponent("images"))
        let workspace = try #require(try await store.workspace(named: "w", createIfMissing: true))
        let png = Data("not really a png".utf8)

        // A finished job's image, written long ago: kept.
        let job = try await StoreTests.enqueue(store, workspace)
        _ = try await store.claimNext(now: Date())
        let keptName = try images.write(png, imageId: "aa01")
        let record = ImageRecord(
            id: "aa01", jobId: job.id, workspaceId: workspace.id, position: 0, fileName: keptName, createdAt: Date())
        #expect(try await store.finish(
            id: job.id, images: [record], timings: .init(secondsPerStep: 1, warmupSeconds: 0), now: Date(),
            webhookPayload: StoreTests.noWebhook) != nil)
        try Self.backdate(keptName, in: images, by: 3600)
        // A crash between the write and the commit, long ago: removed.
        let orphan = try images.write(png, imageId: "bb02")
        try Self.backdate(orphan, in: images, by: 3600)
        // A job being finished right now (written, not committed yet): kept.
        let inFlight = try images.write(png, imageId: "cc03")
        // Not an image name the store makes: never touched.
        let stranger = images.folder.appendingPathComponent("notes.txt")
        try Data("x".utf8).write(to: stranger)
        try FileManager.default.setAttributes([.modificationDate: Date.distantPast], ofItemAtPath: stranger.path)

        let sweeper = OrphanImageSweeper(images: images, store: store, minimumAge: .seconds(600), logger: Logger(label: "test"))
        #expect(try await sweeper.sweep() == [orphan])
        #expect(try images.read(fileName: keptName) != nil)
        #expect(try images.read(fileName: orphan) == nil)
        #expect(try images.read(fileName: inFlight) != nil)
        #expect(FileManager.default.fileExists(atPath: stranger.path))
        // A second pass (or another process's) finds nothing more to do.
        #expect(try await sweeper.sweep().isEmpty)
        // Once old, the uncommitted file is an orphan too.
        #expect(try await sweeper.sweep(now: Date().addingTimeInterval(3600)) == [inFlight])
        #expect(try images.read(fileName: keptName) != nil)
    }

    @Test(arguments: StoreKind.available) func namesAreCheckedInBatches(_ kind: StoreKind) async throws {
        let store = try await kind.makeStore().store
        let images = try FileImageStore(folder: TestServer.makeTemporaryFolder().appendingPathComponent("images"))
        let workspace = try #require(try await store.workspace(named: "w", createIfMissing: true))
        let job = try await StoreTests.enqueue(store, workspace)
        _ = try await store.claimNext(now: Date())
        let png = Data("not really a png".utf8)
        var named: [ImageRecord] = []
        var all: [String] = []
        // More files than one batch; every third one belongs to the job.
        for index in 0..<1_203 {
            let id = String(format: "%06x", index)
            let name = try images.write(png, imageId: id)
            all.append(name)
            if index % 3 == 0 {
                named.append(ImageRecord(
                    id: id, jobId: job.id, workspaceId: workspace.id, position: named.count, fileName: name, createdAt: Date()))
            }
        }
        _ = try await store.finish(
            id: job.id, images: named, timings: .init(secondsPerStep: 1, warmupSeconds: 0), now: Date(),
            webhookPayload: StoreTests.noWebhook)
        let sweeper = OrphanImageSweeper(images: images, store: store, minimumAge: .seconds(60), logger: Logger(label: "test"))
        let removed = try await sweeper.sweep(now: Date().addingTimeInterval(120))
        #expect(Set(removed) == Set(all).subtracting(named.map(\.fileName)))
        #expect(Set(try images.fileNames(writtenBefore: .distantFuture)) == Set(named.map(\.fileName)))
    }
}
