import EaselServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// Graceful shutdown (SIGTERM) and structured logs.
@Suite struct LifecycleTests {
    @Test func shutdownRequeuesTheJobInHandWhenItCannotFinishInTime() async throws {
        let server = try await TestServer.make(generator: FakeGenerator(gate: Gate()))
        let id = try await server.application().test(.router) { client in
            let id = try #require(try await client.submit(server)["id"] as? String)
            _ = try await client.waitFor(server, id: id) { $0["state"] as? String == "processing" }
            return id
        }
        // test() returned: the services were shut down gracefully.
        let job = try #require(try await server.store.job(id: id, workspaceId: server.workspaceA.id))
        #expect(job.job.state == .queued)
        #expect(job.job.attempts == 1)

        // The next start picks it up and finishes it.
        let restarted = try await TestServer.make(folder: server.folder)
        try await buildApplication(restarted.components).test(.router) { client in
            let ended = try await client.waitForEnd(restarted, id: id, key: server.keyA)
            #expect(ended["state"] as? String == "finished")
        }
    }

    @Test func aJobWhoseWorkerDiedRunsAgainWhenItsLeaseEndsWithoutARestart() async throws {
        // Workers here poll rarely: only the sweep's wake-up can bring the job to them.
        let server = try await TestServer.make {
            $0.jobLease = .seconds(1)
            $0.queuePollInterval = .seconds(60)
        }
        let job = NewJob(
            workspaceId: server.workspaceA.id, modelId: server.model.id, parameters: StoreTests.parameters(),
            webhookUrl: nil)
        try await server.application().test(.router) { client in
            // A worker of another process claims the job, then dies (never renews its lease).
            _ = try await server.store.enqueue(job, idempotency: nil, maxQueued: 10)
            let now = Date()
            let claimed = try await server.store.claimNext(
                now: now, worker: "elsewhere:1/0", leaseUntil: now.addingTimeInterval(1))
            #expect(claimed?.id == job.id)
            let ended = try await client.waitForEnd(server, id: job.id, timeout: .seconds(10))
            #expect(ended["state"] as? String == "finished")
        }
        let stored = try #require(try await server.store.job(id: job.id, workspaceId: server.workspaceA.id))
        #expect(stored.job.attempts == 2)
        #expect(stored.images.count == 1)
    }

    @Test func shutdownLetsTheJobInHandFinishWithinTheGrace() async throws {
        let server = try await TestServer.make(generator: FakeGenerator(stepDelay: .milliseconds(30))) {
            $0.shutdownGrace = .seconds(5)
        }
        let id = try await server.application().test(.router) { client in
            let id = try #require(try await client.submit(server, ["steps": 8])["id"] as? String)
            _ = try await client.waitFor(server, id: id) { $0["state"] as? String == "processing" }
            return id
        }
        let job = try #require(try await server.store.job(id: id, workspaceId: server.workspaceA.id))
        #expect(job.job.state == .finished)
        #expect(job.images.count == 1)
    }

    @Test func oneStructuredLinePerRequestAndPerJobTransition() async throws {
        let lines = Locked<[String]>([])
        let logger = Logger(label: "easel") { label in
            JSONLogHandler(label: label, stream: { line in lines.withLock { $0.append(line) } })
        }
        let server = try await TestServer.make(logger: logger)
        try await server.application().test(.router) { client in
            let id = try #require(try await client.submit(server)["id"] as? String)
            _ = try await client.waitForEnd(server, id: id)
        }
        let records = lines.current.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(records.count == lines.current.count, "every line is one JSON object")
        let requests = records.filter { $0["message"] as? String == "request" }
        let post = try #require(requests.first { $0["http.method"] as? String == "POST" })
        #expect(post["http.status"] as? String == "201")
        #expect(post["workspace"] as? String == "alpha")
        #expect(post["duration_ms"] != nil)
        #expect(post["time"] is String && post["level"] as? String == "info")
        let transitions = records.filter { $0["message"] as? String == "job transition" }
            .map { "\($0["from"] ?? "")->\($0["to"] ?? "")" }
        #expect(transitions == ["none->queued", "queued->processing", "processing->finished"])
    }
}

/// `--workers 0`: an API-only process queues jobs but never claims or recovers them.
@Suite struct APIOnlyTests {
    @Test func apiOnlyProcessQueuesWithoutGenerating() async throws {
        let server = try await TestServer.make { $0.workers = 0 }
        try await server.application().test(.router) { client in
            let id = try #require(try await client.submit(server)["id"] as? String)
            try await Task.sleep(for: .milliseconds(200))
            let job = try await client.send(.get, "\(server.inferencesPath)/\(id)", key: server.keyA).jsonObject()
            #expect(job["state"] as? String == "queued")
            #expect(job["queuePosition"] as? Int == 1)
            #expect(server.generator.calls.current.isEmpty)
        }
    }
}
