import EaselServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The PostgreSQL store going away while the server runs (a relay in front of the test
/// server is cut): requests are answered 503 in bounded time, in Leap's error shape, and
/// succeed again once it is back; the job in hand is neither lost nor finished twice.
/// Each test runs under its own deadline, so a hang fails the test instead of stalling the run.
@Suite struct DatabaseOutageTests {
    @Test(.enabled(if: StoreKind.postgresURL != nil))
    func requestsAre503WhileTheDatabaseIsAwayAndRecover() async throws {
        try await withDeadline(.seconds(150), "the outage test") { try await Self.outageAndRecovery() }
    }

    /// A test server on a fresh database reached through a relay the test can cut.
    static func withServerBehindRelay<T>(
        gate: Gate, configure: (inout ServerConfiguration) -> Void = { _ in },
        _ body: (TestServer, CuttableProxy) async throws -> T
    ) async throws -> T {
        var parts = try #require(URLComponents(string: try await TestDatabases.fresh()))
        let proxy = try CuttableProxy(upstreamPort: try #require(parts.port))
        defer { proxy.close() }
        parts.port = proxy.port
        let store = try await PostgresStore.connect(url: try #require(parts.string), logger: TestDatabases.quiet)
        defer { store.close() }
        let server = try await TestServer.make(generator: FakeGenerator(gate: gate), store: store, configure: configure)
        return try await body(server, proxy)
    }

    static func outageAndRecovery() async throws {
        let gate = Gate()
        let configure: (inout ServerConfiguration) -> Void = {
            $0.storeWaitLimit = .seconds(2)
            $0.keyCacheTTL = .zero
        }
        try await withServerBehindRelay(gate: gate, configure: configure) { server, proxy in
            try await outageAndRecovery(server, proxy, gate)
        }
    }

    static func outageAndRecovery(_ server: TestServer, _ proxy: CuttableProxy, _ gate: Gate) async throws {
        try await server.application().test(.router) { client in
            // A job running when the database goes.
            let running = try #require(try await client.submit(server)["id"] as? String)
            _ = try await client.waitFor(server, id: running) { $0["state"] as? String == "processing" }

            proxy.cut()
            let started = ContinuousClock.now
            let post = try await client.send(
                .post, server.inferencesPath, key: server.keyA, json: ["prompt": "x", "width": 64, "height": 64, "steps": 2])
            let get = try await client.send(.get, "\(server.inferencesPath)/\(running)", key: server.keyA)
            // Generous: other suites may hold the CPU; without the bound these would wait
            // for the database to return, which it does not until after them.
            #expect(ContinuousClock.now - started < .seconds(30))
            for response in [post, get] {
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
                let body = try response.jsonObject()
                #expect(body["statusCode"] as? Int == 503)
                #expect(body["error"] as? String == "Service Unavailable")
                #expect((body["message"] as? String)?.hasPrefix("Database unavailable") == true, "\(body)")
            }
            // The job finishes meanwhile; its end is recorded once the database is back.
            gate.open()
            try await Task.sleep(for: .milliseconds(300))
            proxy.restore()

            try await eventually(timeout: .seconds(30), "the API answers again") {
                try await client.send(.get, "\(server.inferencesPath)/\(running)", key: server.keyA).status == .ok
            }
            let job = try await client.waitForEnd(server, id: running, timeout: .seconds(30))
            #expect(job["state"] as? String == "finished")
            #expect((job["images"] as? [Any])?.count == 1)
            #expect(server.generator.calls.current.count == 1, "run once, not again after the outage")
            let after = try #require(try await client.submit(server)["id"] as? String)
            #expect(try await client.waitForEnd(server, id: after)["state"] as? String == "finished")
        }
    }

    /// Shutdown with the database gone (a job in hand, the store cut): the service group
    /// returns within the job's grace and a few seconds, not when the database comes back.
    @Test(.enabled(if: StoreKind.postgresURL != nil))
    func shutdownDoesNotWaitForAGoneDatabase() async throws {
        try await withDeadline(.seconds(120), "shutdown with the database gone") { try await Self.shutdownWhileCut() }
    }

    static func shutdownWhileCut() async throws {
        try await withServerBehindRelay(gate: Gate()) { server, proxy in try await shutdownWhileCut(server, proxy) }
    }

    static func shutdownWhileCut(_ server: TestServer, _ proxy: CuttableProxy) async throws {
        let stoppingSince = try await server.application().test(.router) { client in
            let running = try #require(try await client.submit(server)["id"] as? String)
            _ = try await client.waitFor(server, id: running) { $0["state"] as? String == "processing" }
            proxy.cut()
            // Let every service reach the store once while it is gone.
            try await Task.sleep(for: .milliseconds(300))
            return ContinuousClock.now
        }
        let stopped = ContinuousClock.now - stoppingSince
        // The webhook dispatcher's 3 s, then the workers' grace (0.1 s) and 3 s, with room.
        #expect(stopped < .seconds(15), "shutdown took \(stopped)")
    }
}
