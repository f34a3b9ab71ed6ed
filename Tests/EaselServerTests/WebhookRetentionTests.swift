@testable import EaselServer
import Foundation
import HummingbirdTesting
import Testing

/// A deleted job takes its webhook deliveries with it (none is sent again), and ended
/// deliveries are pruned with their attempts after the retention.
@Suite struct WebhookRetentionTests {
    /// A job that ended (failed at once, no generation needed) with a delivery queued.
    static func endedJobWithWebhook(_ store: any EaselStore, _ workspace: Workspace, at time: Date = Date()) async throws
        -> String
    {
        let job = NewJob(
            workspaceId: workspace.id, modelId: "m", parameters: StoreTests.parameters(),
            webhookUrl: "https://hooks.example.com/x", createdAt: time)
        _ = try await store.enqueue(job, idempotency: nil, maxQueued: 1000)
        _ = try await store.fail(id: job.id, reason: "boom", timings: nil, now: time, webhookPayload: { _ in Data("{}".utf8) })
        return job.id
    }

    static func makeStore(_ kind: StoreKind) async throws -> (any EaselStore, Workspace) {
        let store = try await kind.makeStore().store
        let workspace = try #require(try await store.workspace(named: "w", createIfMissing: true))
        return (store, workspace)
    }

    @Test(arguments: StoreKind.available) func deletingAJobRemovesItsPendingDeliveriesSoTheyAreNeverClaimed(_ kind: StoreKind) async throws {
        let (store, workspace) = try await Self.makeStore(kind)
        let deleted = try await Self.endedJobWithWebhook(store, workspace)
        let kept = try await Self.endedJobWithWebhook(store, workspace)
        let delivery = try #require(try await store.deliveries(jobId: deleted).first)
        // One failed attempt, retry pending: the state in which the issue saw 3-4 more POSTs.
        try await store.recordAttempt(
            WebhookAttempt(deliveryId: delivery.id, number: 1, at: Date(), statusCode: 500, error: "answered HTTP 500",
                           durationMilliseconds: 3),
            newState: .pending, nextAttemptAt: Date())

        _ = try #require(try await store.deleteJob(id: deleted, workspaceId: workspace.id))
        #expect(try await store.deliveries(jobId: deleted).isEmpty)
        #expect(try await store.attempts(deliveryId: delivery.id).isEmpty)
        let due = try await store.claimDueDeliveries(now: Date().addingTimeInterval(60), leaseUntil: Date(), limit: 10)
        #expect(due.map(\.jobId) == [kept], "only the surviving job's delivery is ever claimed")

        // An attempt that was on the wire when the job went is not recorded against nothing.
        try await store.recordAttempt(
            WebhookAttempt(deliveryId: delivery.id, number: 2, at: Date(), statusCode: 500, error: nil, durationMilliseconds: 1),
            newState: .pending, nextAttemptAt: Date())
        #expect(try await store.attempts(deliveryId: delivery.id).isEmpty)
    }

    @Test func aJobDeletedWhileItsWebhookRetriesIsNotPostedAgain() async throws {
        let receiver = WebhookReceiver(script: Array(repeating: .status(.internalServerError), count: 10))
        let server = try await TestServer.make {
            $0.webhooks.allowPrivateAddresses = true
            $0.webhooks.initialBackoff = .milliseconds(300)
        }
        try await receiver.run { url in
            try await server.application().test(.router) { client in
                let id = try #require(try await client.submit(server, ["webhookUrl": url])["id"] as? String)
                _ = try await client.waitForEnd(server, id: id)
                try await eventually("the first attempt") { receiver.received.current.count >= 1 }
                let deleted = try await client.send(.delete, "\(server.inferencesPath)/\(id)", key: server.keyA)
                #expect(deleted.status == .ok)
                #expect(try await server.store.deliveries(jobId: id).isEmpty)
                // Backoff 300 ms, then 600 ms: two more attempts would have come by now.
                try await Task.sleep(for: .milliseconds(1200))
                #expect(receiver.received.current.count == 1, "no POST after the job was deleted")
            }
        }
    }

    @Test(arguments: StoreKind.available) func endedDeliveriesArePrunedWithTheirAttemptsAfterTheRetention(_ kind: StoreKind) async throws {
        let (store, workspace) = try await Self.makeStore(kind)
        let now = Date()
        let day: TimeInterval = 24 * 3600
        func end(_ jobId: String, state: DeliveryState, daysAgo: Double) async throws -> String {
            let delivery = try #require(try await store.deliveries(jobId: jobId).first)
            try await store.recordAttempt(
                WebhookAttempt(deliveryId: delivery.id, number: 1, at: now.addingTimeInterval(-daysAgo * day),
                               statusCode: state == .delivered ? 204 : 500, error: nil, durationMilliseconds: 5),
                newState: state, nextAttemptAt: state == .pending ? now : nil)
            return delivery.id
        }
        let old = try await end(try await Self.endedJobWithWebhook(store, workspace), state: .delivered, daysAgo: 8)
        let oldFailed = try await end(try await Self.endedJobWithWebhook(store, workspace), state: .failed, daysAgo: 30)
        let recentJob = try await Self.endedJobWithWebhook(store, workspace)
        let recent = try await end(recentJob, state: .delivered, daysAgo: 1)
        let retrying = try await end(try await Self.endedJobWithWebhook(store, workspace), state: .pending, daysAgo: 10)

        let removed = try await store.pruneDeliveries(endedBefore: now.addingTimeInterval(-7 * day))
        #expect(removed == 2)
        let remaining = Set(try await store.claimDueDeliveries(now: now, leaseUntil: now, limit: 10).map(\.id))
        #expect(remaining == [retrying], "a pending delivery is kept however old")
        #expect(try await store.attempts(deliveryId: old).isEmpty)
        #expect(try await store.attempts(deliveryId: oldFailed).isEmpty)
        #expect(try await store.attempts(deliveryId: recent).count == 1)
        #expect(try await store.attempts(deliveryId: retrying).count == 1)
        let recentRow = try #require(try await store.deliveries(jobId: recentJob).first)
        #expect(recentRow.endedAt.map { abs($0.timeIntervalSince(now.addingTimeInterval(-day))) < 0.01 } == true)
    }

    @Test func theDispatcherPrunesOnStart() async throws {
        let server = try await TestServer.make { $0.webhooks.retention = .seconds(3600) }
        let store = try #require(server.store as? SQLiteStore)
        let jobId = try await Self.endedJobWithWebhook(store, server.workspaceA)
        let delivery = try #require(try await store.deliveries(jobId: jobId).first)
        try await store.recordAttempt(
            WebhookAttempt(deliveryId: delivery.id, number: 1, at: Date().addingTimeInterval(-7200), statusCode: 204,
                           error: nil, durationMilliseconds: 5),
            newState: .delivered, nextAttemptAt: nil)
        try await server.application().test(.router) { _ in
            try await eventually("the pruning pass") { try await store.deliveries(jobId: jobId).isEmpty }
        }
    }
}
