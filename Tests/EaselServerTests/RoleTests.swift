import EaselServer
import Foundation
import HummingbirdTesting
import Testing

/// `--role api` and `--role worker` as two servers on one store and one data folder, as
/// two processes would be (each with its own wake-ups and event hub: only the store joins
/// them), on SQLite and on PostgreSQL.
@Suite struct RoleTests {
    static func pair(_ kind: StoreKind, generator: FakeGenerator = FakeGenerator()) async throws -> (api: TestServer, worker: TestServer) {
        let opened = try await kind.makeStore()
        let api = try await TestServer.make(store: opened.store) { $0.role = .api }
        let worker = try await TestServer.make(generator: generator, folder: api.folder, store: try await opened.reopen()) {
            $0.role = .worker
        }
        return (api, worker)
    }

    @Test(arguments: StoreKind.available) func anAPIProcessQueuesAndAWorkerProcessRuns(_ kind: StoreKind) async throws {
        let (api, worker) = try await Self.pair(kind)
        try await api.application().test(.router) { client in
            let id = try #require(try await client.submit(api)["id"] as? String)
            try await Task.sleep(for: .milliseconds(300))
            let waiting = try await client.send(.get, "\(api.inferencesPath)/\(id)", key: api.keyA).jsonObject()
            #expect(waiting["state"] as? String == "queued", "an API process runs no job")

            try await worker.application().test(.router) { workerClient in
                #expect(try await workerClient.send(.get, "/health").status == .ok)
                let refused = try await workerClient.send(
                    .post, api.inferencesPath, key: api.keyA, json: ["prompt": "x", "width": 64, "height": 64])
                #expect(refused.status == .notFound, "a worker process serves no API")
                let ended = try await client.waitForEnd(api, id: id)
                #expect(ended["state"] as? String == "finished")
                let images = try #require(ended["images"] as? [[String: Any]])
                #expect(images.count == 1)
                // The API process serves the image the worker wrote.
                let uri = try #require(images.first?["uri"] as? String)
                let path = try #require(URL(string: uri)?.path)
                #expect(try await client.send(.get, path).status == .ok)
            }
        }
    }

    @Test(arguments: StoreKind.available) func aCancelSentToTheAPIStopsTheJobOnTheWorker(_ kind: StoreKind) async throws {
        let (api, worker) = try await Self.pair(kind, generator: FakeGenerator(stepDelay: .milliseconds(40)))
        try await api.application().test(.router) { client in
            try await worker.application().test(.router) { _ in
                let id = try #require(try await client.submit(api, ["steps": 100])["id"] as? String)
                _ = try await client.waitFor(api, id: id) { ($0["state"] as? String) == "processing" }
                let asked = ContinuousClock.now
                let cancel = try await client.send(.post, "\(api.inferencesPath)/\(id)/cancel", key: api.keyA)
                #expect(cancel.status.code < 300)
                let ended = try await client.waitForEnd(api, id: id)
                #expect(ended["state"] as? String == "failed")
                // The worker reads the flag with each step's progress: within a few steps.
                #expect(ContinuousClock.now - asked < .seconds(2))
                let stored = try #require(try await api.store.job(id: id, workspaceId: api.workspaceA.id))
                #expect(stored.job.failureReason == FailureReason.cancelled)
                #expect((stored.job.currentStep ?? 0) < 100)
            }
        }
    }
}
