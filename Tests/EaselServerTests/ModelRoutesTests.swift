import EaselServer
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// `/api/v2/images/models`: ModelV2Entity shape, get, delete rules, training refused.
@Suite struct ModelRoutesTests {
    static let required = ["id", "name", "createdAt", "subjectKeyword", "subjectType", "status", "imageSamples"]

    @Test func listAndGetAnswerModelV2Entities() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let response = try await client.send(.get, "/api/v2/images/models", key: server.keyA)
            #expect(response.status == .ok)
            let models = try #require(try response.jsonObject()["models"] as? [[String: Any]])
            #expect(models.count == 1)
            let model = try #require(models.first)
            for field in Self.required { #expect(model[field] != nil, "missing \(field)") }
            #expect(model["id"] as? String == server.model.id)
            #expect(model["name"] as? String == "tiny")
            #expect(model["status"] as? String == "finished")
            #expect((model["imageSamples"] as? [String])?.isEmpty == true)
            #expect(model["visibility"] as? String == "public")

            let one = try await client.send(.get, "/api/v2/images/models/\(server.model.id)", key: server.keyA)
            #expect(one.status == .ok)
            #expect(try one.jsonObject()["name"] as? String == "tiny")
            let missing = try await client.send(.get, "/api/v2/images/models/nope", key: server.keyA)
            #expect(missing.status == .notFound)
            #expect(try missing.jsonObject()["message"] as? String == "Model nope not found")
        }
    }

    @Test func modelsInstalledWhileRunningAppearWithoutRestart() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let added = try await TestServer.installModel(
                named: "later", store: server.store, dataDirectory: server.components.configuration.dataDirectory)
            let models = try await client.send(.get, "/api/v2/images/models", key: server.keyB).jsonObject()
            let ids = (models["models"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            #expect(ids.contains(added.id))
        }
    }

    @Test func publicModelsCannotBeDeletedThroughTheAPIButOwnOnesCan() async throws {
        let server = try await TestServer.make()
        let custom = try await TestServer.installModel(
            named: "mine", workspaceId: server.workspaceA.id, store: server.store,
            dataDirectory: server.components.configuration.dataDirectory)
        try await server.application().test(.router) { client in
            let forbidden = try await client.send(.delete, "/api/v2/images/models/\(server.model.id)", key: server.keyA)
            #expect(forbidden.status == .forbidden)
            #expect(try forbidden.jsonObject()["error"] as? String == "Forbidden")

            let deleted = try await client.send(.delete, "/api/v2/images/models/\(custom.id)", key: server.keyA)
            #expect(deleted.status == .ok)
            #expect(try deleted.jsonObject()["id"] as? String == custom.id)
            #expect(try await server.store.model(id: custom.id) == nil)
            let folder = server.components.configuration.dataDirectory.root.appendingPathComponent(custom.path)
            #expect(!FileManager.default.fileExists(atPath: folder.path), "its files are gone too")
        }
    }

    @Test func trainingIsNotImplemented() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let response = try await client.send(.post, "/api/v2/images/models/new", key: server.keyA, json: [:])
            #expect(response.status == .notImplemented)
            #expect((try response.jsonObject()["message"] as? String)?.contains("easel models add") == true)
        }
    }

    @Test func aJobWhoseModelWasRemovedFailsWithAReason() async throws {
        let gate = Gate()
        let server = try await TestServer.make(generator: FakeGenerator(gate: gate))
        let other = try await TestServer.installModel(
            named: "doomed", store: server.store, dataDirectory: server.components.configuration.dataDirectory)
        try await server.application().test(.router) { client in
            // The first job holds the only worker, so the second is still queued when its model goes.
            _ = try await client.submit(server)
            let queued = try await client.send(
                .post, "/api/v1/images/models/\(other.id)/inferences", key: server.keyA,
                json: ["prompt": "x", "width": 64, "height": 64, "steps": 1])
            let id = try #require(try queued.jsonObject()["id"] as? String)
            try await ModelInstaller(dataDirectory: server.components.configuration.dataDirectory, store: server.store)
                .remove(id: other.id)
            gate.open()
            let path = "/api/v1/images/models/\(other.id)/inferences/\(id)"
            try await eventually("the orphaned job to fail") {
                let job = try await client.send(.get, path, key: server.keyA).jsonObject()
                return job["state"] as? String == "failed"
            }
            let job = try await client.send(.get, path, key: server.keyA).jsonObject()
            #expect((job["errorReason"] as? String)?.contains("not installed") == true)
        }
    }
}
