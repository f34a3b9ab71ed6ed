import EaselServer
import Foundation
import Testing

/// The one-read job view a GET renders, on both stores: the same job, images and queue place
/// as the separate reads give.
@Suite struct StoreReadTests {
    @Test(arguments: StoreKind.available) func theJobViewMatchesTheSeparateReads(_ kind: StoreKind) async throws {
        let store = try await kind.makeStore().store
        let a = try #require(try await store.workspace(named: "a", createIfMissing: true))
        let b = try #require(try await store.workspace(named: "b", createIfMissing: true))
        var jobsA: [JobRecord] = []
        for _ in 0..<8 { jobsA.append(try await StoreTests.enqueue(store, a)) }
        let jobB = try await StoreTests.enqueue(store, b)
        // a's first job runs and finishes with two images (stored out of order).
        let running = try #require(try await store.claimNext(now: Date()))
        #expect(running.id == jobsA[0].id)
        let images = [1, 0].map {
            ImageRecord(id: "img\($0)", jobId: running.id, workspaceId: a.id, position: $0, fileName: "img\($0).png",
                        createdAt: Date(timeIntervalSince1970: 1_700_000_000 + Double($0)))
        }
        _ = try await store.finish(
            id: running.id, images: images, timings: .init(secondsPerStep: 1, warmupSeconds: 0), now: Date(),
            webhookPayload: StoreTests.noWebhook)
        // b's job is claimed next (round robin) and stays processing.
        #expect(try await store.claimNext(now: Date())?.id == jobB.id)

        let finished = try #require(try await store.jobView(id: running.id, workspaceId: a.id))
        #expect(finished.queue == nil)
        #expect(finished.snapshot == (try await store.job(id: running.id, workspaceId: a.id)))
        #expect(finished.snapshot.images.map(\.id) == ["img0", "img1"])
        #expect(finished.snapshot.images[1].createdAt == images[0].createdAt)

        let processing = try #require(try await store.jobView(id: jobB.id, workspaceId: b.id))
        #expect(processing.snapshot.job.state == .processing)
        #expect(processing.queue == nil)

        let whole = try await store.queueSnapshot(workspaceId: a.id)
        for (index, job) in jobsA.dropFirst().enumerated() {
            let view = try #require(try await store.jobView(id: job.id, workspaceId: a.id))
            #expect(view.snapshot == (try await store.job(id: job.id, workspaceId: a.id)))
            let queue = try #require(view.queue)
            #expect(queue.aheadInLane == [job.id: index])
            #expect(queue.lanes == whole.lanes)
            #expect(queue.processing == 1)
            #expect(queue.position(ofJob: job.id, in: a.id) == whole.position(ofJob: job.id, in: a.id))
            #expect(queue.position(ofJob: job.id, in: a.id) == index + 1)
        }
        // Another workspace's job is not found, as with `job(id:workspaceId:)`.
        #expect(try await store.jobView(id: jobsA[1].id, workspaceId: b.id) == nil)
        #expect(try await store.jobView(id: "missing", workspaceId: a.id) == nil)
    }

    /// The lanes of a queued job's view come in claim order: never-served lanes by their
    /// oldest job, a lane just served behind them.
    @Test(arguments: StoreKind.available) func theJobViewsLanesAreInClaimOrder(_ kind: StoreKind) async throws {
        let store = try await kind.makeStore().store
        var workspaces: [Workspace] = []
        for name in ["c", "d", "e"] {
            workspaces.append(try #require(try await store.workspace(named: name, createIfMissing: true)))
        }
        let (c, d, e) = (workspaces[0], workspaces[1], workspaces[2])
        // Heads: d's job first, then e's, then c's; c and d have a second job each.
        let first = try await StoreTests.enqueue(store, d)
        let eJob = try await StoreTests.enqueue(store, e)
        let cJob = try await StoreTests.enqueue(store, c)
        let dJob = try await StoreTests.enqueue(store, d)
        _ = try await StoreTests.enqueue(store, c)

        let view = try #require(try await store.jobView(id: eJob.id, workspaceId: e.id)?.queue)
        #expect(view.lanes.map(\.workspaceId) == [d.id, e.id, c.id])
        #expect(view.lanes.map(\.queued) == [2, 1, 2])
        #expect(view.lanes == (try await store.queueSnapshot(workspaceId: e.id)).lanes)

        // d is served: its lane goes behind the lanes never served.
        #expect(try await store.claimNext(now: Date())?.id == first.id)
        for (job, workspace) in [(cJob, c), (dJob, d), (eJob, e)] {
            let queue = try #require(try await store.jobView(id: job.id, workspaceId: workspace.id)?.queue)
            #expect(queue.lanes.map(\.workspaceId) == [e.id, c.id, d.id])
            #expect(queue.lanes == (try await store.queueSnapshot(workspaceId: workspace.id)).lanes)
            #expect(queue.aheadInLane == [job.id: 0])
        }
    }
}
