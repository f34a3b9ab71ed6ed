import EaselDiffusion
import Foundation
import PostgresNIO
import Testing

@testable import EaselServer

/// PostgreSQL keeps each workspace's queued count in `workspace_queue` (a trigger on jobs),
/// which the one-call submit reads instead of counting rows: after every kind of change to
/// a job it equals the count of the rows.
@Suite struct QueuedCountTests {
    static func counts(_ store: PostgresStore) async throws -> (kept: [String: Int], counted: [String: Int]) {
        let logger = store.logger
        return try await store.read { connection in
            var kept: [String: Int] = [:]
            for row in try await connection.rows("SELECT workspace_id, queued FROM workspace_queue", logger: logger)
            where try row.value("queued", as: Int.self) != 0 {
                kept[try row.value("workspace_id")] = try row.value("queued", as: Int.self)
            }
            var counted: [String: Int] = [:]
            for row in try await connection.rows(
                "SELECT workspace_id, count(*) AS n FROM jobs WHERE state = 'queued' GROUP BY workspace_id", logger: logger)
            {
                counted[try row.value("workspace_id")] = try row.value("n", as: Int.self)
            }
            return (kept, counted)
        }
    }

    @Test(.enabled(if: StoreKind.postgresURL != nil)) func theKeptCountFollowsEveryChange() async throws {
        let store = try await PostgresStore.connect(url: try await TestDatabases.fresh(), logger: TestDatabases.quiet)
        defer { store.close() }
        let a = try #require(try await store.workspace(named: "a", createIfMissing: true))
        let b = try #require(try await store.workspace(named: "b", createIfMissing: true))
        func check(_ step: String) async throws {
            let (kept, counted) = try await Self.counts(store)
            #expect(kept == counted, "\(step)")
        }
        var jobs: [JobRecord] = []
        for index in 0..<6 {
            let workspace = index % 3 == 2 ? b : a
            let job = NewJob(workspaceId: workspace.id, modelId: "m", parameters: StoreTests.parameters(), webhookUrl: nil)
            let claim = index % 2 == 0 ? IdempotencyClaim(key: "k\(index)", requestHash: "h") : nil
            guard case .created(let record) = try await store.enqueue(job, idempotency: claim, maxQueued: 100) else {
                Issue.record("not created")
                return
            }
            jobs.append(record)
        }
        try await check("submitted")
        let claimed = try #require(try await store.claimNext(now: Date()))
        try await check("claimed")
        _ = try await store.requestCancel(id: jobs[3].id, workspaceId: a.id, now: Date(), webhookPayload: StoreTests.noWebhook)
        try await check("cancelled while queued")
        _ = try await store.deleteJob(id: jobs[4].id, workspaceId: a.id)
        try await check("deleted while queued")
        let recovered = try await store.recoverAbandoned(
            maxAttempts: 3, leasesEndedBy: .distantFuture, now: Date(), webhookPayload: StoreTests.noWebhook)
        #expect(recovered.requeued == [claimed.id])
        try await check("requeued")
        let stopped = try #require(try await store.claimNext(now: Date()))
        try await check("claimed again")
        try await store.requeue(id: stopped.id)
        try await check("requeued at shutdown")
        let again = try #require(try await store.claimNext(now: Date()))
        _ = try await store.fail(id: again.id, reason: "x", timings: nil, now: Date(), webhookPayload: StoreTests.noWebhook)
        try await check("failed")
        #expect(try await Self.counts(store).kept[a.id] != nil)
    }
}
