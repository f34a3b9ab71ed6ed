import EaselServer
import Foundation
import Testing

/// PostgreSQL tells other processes of job changes as they commit (LISTEN/NOTIFY): a
/// second connection to the same database (another process) hears them.
@Suite struct JobNotificationTests {
    @Test(.enabled(if: StoreKind.postgresURL != nil)) func anotherConnectionHearsQueuedChangedAndDeleted() async throws {
        let opened = try await StoreKind.postgres.makeStore()
        let listener = try #require(try await opened.reopen() as? PostgresStore)
        defer { listener.close() }
        let store = opened.store
        let heard = Locked<[String]>([])
        let queued = Locked(0)
        let following = Task {
            await listener.followJobNotifications(
                changed: { id in heard.withLock { $0.append(id) } }, queued: { queued.withLock { $0 += 1 } })
        }
        defer { following.cancel() }
        // LISTEN is in place once a first notification arrives: queue until one does.
        let workspace = try #require(try await store.workspace(named: "w", createIfMissing: true))
        _ = try await StoreTests.enqueue(store, workspace)
        try await eventually("the queued notification") {
            if queued.current > 0 { return true }
            _ = try await StoreTests.enqueue(store, workspace)
            try await Task.sleep(for: .milliseconds(100))
            return queued.current > 0
        }
        let claimed = try #require(try await store.claimNext(now: Date()))
        try await eventually("the claim is heard") { heard.current.contains(claimed.id) }
        heard.withLock { $0.removeAll() }
        _ = try await store.recordProgress(id: claimed.id, step: 1, secondsPerStep: 0.1, warmupSeconds: 0)
        try await eventually("the step is heard") { heard.current.contains(claimed.id) }
        let doomed = try await StoreTests.enqueue(store, workspace)
        heard.withLock { $0.removeAll() }
        // A lease renewal changes nothing a follower shows: no notification for it.
        _ = try await store.renewLease(id: claimed.id, attempt: claimed.attempts, until: Date().addingTimeInterval(60))
        #expect(try await store.deleteJob(id: doomed.id, workspaceId: workspace.id) != nil)
        try await eventually("the delete is heard") { heard.current.contains(doomed.id) }
        #expect(!heard.current.contains(claimed.id), "the lease renewal was not announced")
    }
}
