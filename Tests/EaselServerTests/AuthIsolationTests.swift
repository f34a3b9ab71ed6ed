import EaselServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// 401 without a valid key; a second workspace sees nothing of the first's.
@Suite struct AuthIsolationTests {
    @Test func everyAPIRouteNeedsAValidBearerKey() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let job = "00000000-0000-0000-0000-000000000000"
            let routes: [(HTTPRequest.Method, String)] = [
                (.post, server.inferencesPath), (.get, server.inferencesPath),
                (.get, "\(server.inferencesPath)/\(job)"), (.delete, "\(server.inferencesPath)/\(job)"),
                (.post, "\(server.inferencesPath)/\(job)/cancel"), (.get, "\(server.inferencesPath)/\(job)/events"),
                (.get, "/api/v2/images/models"), (.get, "/api/v2/images/models/\(server.model.id)"),
                (.delete, "/api/v2/images/models/\(server.model.id)"), (.post, "/api/v2/images/models/new"),
            ]
            let badHeaders: [HTTPFields] = [
                [:], [.authorization: "Bearer"], [.authorization: "Bearer easel_wrong"],
                [.authorization: "Basic \(server.keyA)"], [.authorization: server.keyA],
            ]
            for (method, path) in routes {
                for headers in badHeaders {
                    let response = try await client.send(method, path, json: ["prompt": "x"], headers: headers)
                    #expect(response.status == .unauthorized, "\(method) \(path) with \(headers)")
                    let body = try response.jsonObject()
                    #expect(body["statusCode"] as? Int == 401)
                    #expect(body["message"] as? String == "Unauthorized")
                }
            }
            #expect(try await server.store.countQueued() == 0)
        }
    }

    @Test func revokedAndNewKeysTakeEffectWithoutRestart() async throws {
        // No key cache: a revocation is seen by the next request.
        let server = try await TestServer.make { $0.keyCacheTTL = .zero }
        try await server.application().test(.router) { client in
            #expect(try await client.send(.get, server.inferencesPath, key: server.keyA).status == .ok)
            let keys = try await server.store.keys(workspaceId: server.workspaceA.id)
            #expect(try await server.store.revokeKey(id: try #require(keys.first?.id)))
            #expect(try await client.send(.get, server.inferencesPath, key: server.keyA).status == .unauthorized)
            let (_, fresh) = try await TestServer.makeKey(workspace: "alpha", store: server.store)
            #expect(try await client.send(.get, server.inferencesPath, key: fresh).status == .ok)
            #expect(keys.allSatisfy { $0.keyHash != server.keyA }, "the key itself is never stored")
        }
    }

    /// With the key cache on, a revoked key still works for at most the cache's time to
    /// live, then is refused; a new key works at once (unknown keys are never cached).
    @Test func aRevokedKeyIsRefusedOnceTheKeyCacheTTLHasPassed() async throws {
        let ttl = Duration.seconds(2)
        let server = try await TestServer.make { $0.keyCacheTTL = ttl }
        try await server.application().test(.router) { client in
            // The key is cached at some moment during this request: after `cachedFrom`.
            let cachedFrom = ContinuousClock.now
            #expect(try await client.send(.get, server.inferencesPath, key: server.keyA).status == .ok)
            let revokedAt = ContinuousClock.now
            let keys = try await server.store.keys(workspaceId: server.workspaceA.id)
            #expect(try await server.store.revokeKey(id: try #require(keys.first?.id)))
            let (_, fresh) = try await TestServer.makeKey(workspace: "alpha", store: server.store)
            #expect(try await client.send(.get, server.inferencesPath, key: fresh).status == .ok)
            let early = try await client.send(.get, server.inferencesPath, key: server.keyA).status
            // A loaded machine may take longer than the TTL over these requests: the cached
            // answer is only certain when this one ended before the earliest possible expiry.
            if ContinuousClock.now - cachedFrom < ttl {
                #expect(early == .ok, "within the TTL the cached key is still honoured")
            }
            try await Task.sleep(until: revokedAt + ttl + .milliseconds(50))
            let late = try await client.send(.get, server.inferencesPath, key: server.keyA)
            #expect(late.status == .unauthorized)
            #expect(try await client.send(.get, server.inferencesPath, key: fresh).status == .ok)
        }
    }

    @Test func anotherWorkspaceCannotSeeOrTouchAJob() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let id = try #require(try await client.submit(server)["id"] as? String)
            let job = try await client.waitForEnd(server, id: id)
            let imageURI = try #require((job["images"] as? [[String: Any]])?.first?["uri"] as? String)
            let imagePath = String(imageURI.dropFirst(TestServer.publicURL.count))
            let base = "\(server.inferencesPath)/\(id)"

            for (method, path) in [(HTTPRequest.Method.get, base), (.get, "\(base)/events"), (.post, "\(base)/cancel"), (.delete, base)] {
                let response = try await client.send(method, path, key: server.keyB)
                #expect(response.status == .notFound, "\(method) \(path)")
                #expect(try response.jsonObject()["message"] as? String == "Inference \(id) not found")
            }
            let list = try await client.send(.get, server.inferencesPath, key: server.keyB).jsonArray()
            #expect(list.isEmpty)
            #expect(try await client.send(.get, imagePath, key: server.keyB).status == .notFound)

            // Still all there for its owner (nothing was deleted or cancelled).
            #expect(try await client.send(.get, base, key: server.keyA).status == .ok)
            #expect(try await client.send(.get, imagePath, key: server.keyA).status == .ok)
            #expect(try await client.send(.get, imagePath).status == .ok, "the URI itself is the capability")
            #expect(try await client.send(.get, imagePath, key: "easel_bogus").status == .unauthorized)
        }
    }

    @Test func imagesCanRequireAKey() async throws {
        let server = try await TestServer.make { $0.imagesRequireKey = true }
        try await server.application().test(.router) { client in
            let id = try #require(try await client.submit(server)["id"] as? String)
            let job = try await client.waitForEnd(server, id: id)
            let imageURI = try #require((job["images"] as? [[String: Any]])?.first?["uri"] as? String)
            let imagePath = String(imageURI.dropFirst(TestServer.publicURL.count))
            #expect(try await client.send(.get, imagePath).status == .unauthorized)
            #expect(try await client.send(.get, imagePath, key: server.keyA).status == .ok)
        }
    }

    @Test func customModelsAreVisibleOnlyToTheirWorkspace() async throws {
        let server = try await TestServer.make()
        let custom = try await TestServer.installModel(
            named: "alpha-style", workspaceId: server.workspaceA.id, store: server.store,
            dataDirectory: server.components.configuration.dataDirectory)
        try await server.application().test(.router) { client in
            let listA = try await client.send(.get, "/api/v2/images/models", key: server.keyA).jsonObject()
            let listB = try await client.send(.get, "/api/v2/images/models", key: server.keyB).jsonObject()
            let idsA = (listA["models"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            let idsB = (listB["models"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            #expect(Set(idsA) == [server.model.id, custom.id])
            #expect(idsB == [server.model.id])
            #expect(try await client.send(.get, "/api/v2/images/models/\(custom.id)", key: server.keyB).status == .notFound)
            #expect(try await client.send(.delete, "/api/v2/images/models/\(custom.id)", key: server.keyB).status == .notFound)
            let submit = try await client.send(
                .post, "/api/v1/images/models/\(custom.id)/inferences", key: server.keyB, json: ["prompt": "x"])
            #expect(submit.status == .notFound)
            let own = try await client.send(
                .post, "/api/v1/images/models/\(custom.id)/inferences", key: server.keyA,
                json: ["prompt": "x", "width": 64, "height": 64, "steps": 1])
            #expect(own.status == .created)
        }
    }
}
