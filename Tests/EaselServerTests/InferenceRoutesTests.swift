import EaselServer
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The Leap routes end to end in process: shapes, defaults, status codes, images.
@Suite struct InferenceRoutesTests {
    static let requiredFields = [
        "id", "createdAt", "prompt", "negativePrompt", "seed", "width", "height", "promptStrength", "numberOfImages",
        "state", "status", "steps", "images", "modelId", "upscalingOption",
    ]

    @Test func submitAppliesLeapDefaultsAndAnswers201Queued() async throws {
        // No workers, so the job is still queued when it is shown.
        let server = try await TestServer.make { $0.workers = 0 }
        try await server.application().test(.router) { client in
            let response = try await client.send(.post, server.inferencesPath, key: server.keyA, json: ["prompt": "a cat"])
            #expect(response.status == .created)
            #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
            let job = try response.jsonObject()
            for field in Self.requiredFields { #expect(job[field] != nil, "missing \(field)") }
            #expect(job["state"] as? String == "queued")
            #expect(job["status"] as? String == "queued")
            #expect(job["negativePrompt"] as? String == "asymmetric, watermarks")
            #expect(job["steps"] as? Int == 50)
            #expect(job["width"] as? Int == 1024)
            #expect(job["height"] as? Int == 1024)
            #expect(job["numberOfImages"] as? Int == 1)
            #expect(job["promptStrength"] as? Double == 7)
            #expect(job["seed"] as? Int == 4_523_184)
            #expect(job["upscalingOption"] as? String == "x1")
            #expect(job["modelId"] as? String == server.model.id)
            #expect((job["images"] as? [Any])?.isEmpty == true)
            #expect(job["queuePosition"] as? Int == 1)
            let id = try #require(job["id"] as? String)
            #expect(UUID(uuidString: id) != nil)
            let created = try #require(job["createdAt"] as? String)
            #expect(created.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil)
            // Committed before the 201: the store has it.
            #expect(try await server.store.job(id: id, workspaceId: server.workspaceA.id) != nil)
        }
    }

    @Test func jobRunsToFinishedWithDownloadableImagesOfTheAskedSize() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let submitted = try await client.submit(
                server, ["numberOfImages": 2, "width": 96, "height": 64, "seed": 7, "promptStrength": 7.5])
            let id = try #require(submitted["id"] as? String)
            let job = try await client.waitForEnd(server, id: id)
            #expect(job["state"] as? String == "finished")
            #expect(job["status"] as? String == "finished")
            #expect(job["promptStrength"] as? Double == 7.5)
            let timings = try #require(job["timings"] as? [String: Any])
            #expect(timings["secondsPerStep"] is Double)
            #expect(timings["totalSeconds"] is Double)
            let images = try #require(job["images"] as? [[String: Any]])
            #expect(images.count == 2)
            for image in images {
                let uri = try #require(image["uri"] as? String)
                #expect(uri.hasPrefix("\(TestServer.publicURL)/images/"))
                let path = String(uri.dropFirst(TestServer.publicURL.count))
                let download = try await client.send(.get, path)
                #expect(download.status == .ok)
                #expect(download.headers[.contentType] == "image/png")
                let size = try #require(TestPNG.dimensions(download.bodyData))
                #expect(size.width == 96 && size.height == 64)
            }
            #expect(Set(images.compactMap { $0["id"] as? String }).count == 2)
            #expect(server.generator.calls.current.first?.seed == 7)
        }
    }

    @Test func getListAndDeleteFollowLeapSemantics() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            var ids: [String] = []
            for index in 0..<3 {
                let job = try await client.submit(server, ["seed": index])
                ids.append(try #require(job["id"] as? String))
            }
            for id in ids { _ = try await client.waitForEnd(server, id: id) }
            // A failed one, so onlyFinished has something to leave out.
            server.generator.failure.withLock { $0 = ImageGenerationError.badOutput("test failure") }
            let failed = try #require(try await client.submit(server)["id"] as? String)
            let failedJob = try await client.waitForEnd(server, id: failed)
            #expect(failedJob["state"] as? String == "failed")
            #expect((failedJob["errorReason"] as? String)?.contains("test failure") == true)
            server.generator.failure.withLock { $0 = nil }

            let all = try await client.send(.get, server.inferencesPath, key: server.keyA).jsonArray()
            #expect(all.compactMap { $0["id"] as? String } == [failed] + ids.reversed())  // newest first
            let finished = try await client.send(.get, "\(server.inferencesPath)?onlyFinished=true", key: server.keyA)
                .jsonArray()
            #expect(finished.compactMap { $0["id"] as? String } == ids.reversed())
            let page2 = try await client.send(
                .get, "\(server.inferencesPath)?onlyFinished=true&page=2&pageSize=2", key: server.keyA
            ).jsonArray()
            #expect(page2.compactMap { $0["id"] as? String } == [ids[0]])
            let emptyValues = try await client.send(.get, "\(server.inferencesPath)?page=&pageSize=", key: server.keyA)
            #expect(emptyValues.status == .ok)

            let one = try await client.send(.get, "\(server.inferencesPath)/\(ids[1])", key: server.keyA)
            #expect(one.status == .ok)
            let imageURI = try #require(((try one.jsonObject()["images"] as? [[String: Any]])?.first?["uri"]) as? String)
            let imagePath = String(imageURI.dropFirst(TestServer.publicURL.count))

            let deleted = try await client.send(.delete, "\(server.inferencesPath)/\(ids[1])", key: server.keyA)
            #expect(deleted.status == .ok)
            #expect(try deleted.jsonObject()["id"] as? String == ids[1])
            let gone = try await client.send(.get, "\(server.inferencesPath)/\(ids[1])", key: server.keyA)
            #expect(gone.status == .notFound)
            #expect(try gone.jsonObject()["statusCode"] as? Int == 404)
            #expect(try gone.jsonObject()["error"] as? String == "Not Found")
            #expect(try await client.send(.get, imagePath).status == .notFound)
            #expect(try await client.send(.delete, "\(server.inferencesPath)/\(ids[1])", key: server.keyA).status == .notFound)
            let files = try FileManager.default.contentsOfDirectory(atPath: server.components.configuration.dataDirectory.imagesFolder.path)
            #expect(files.count == 2, "only the two remaining jobs' images are left: \(files)")
        }
    }

    @Test func unknownModelAndJobUnderAnotherModelAre404() async throws {
        let server = try await TestServer.make(generator: FakeGenerator(gate: Gate()))
        try await server.application().test(.router) { client in
            let response = try await client.send(
                .post, "/api/v1/images/models/no-such-model/inferences", key: server.keyA, json: ["prompt": "x"])
            #expect(response.status == .notFound)
            let body = try response.jsonObject()
            #expect(body["statusCode"] as? Int == 404)
            #expect(body["message"] as? String == "Model no-such-model not found")
            #expect(try await server.store.countQueued() == 0)

            let job = try await client.submit(server)
            let id = try #require(job["id"] as? String)
            let other = try await client.send(.get, "/api/v1/images/models/other/inferences/\(id)", key: server.keyA)
            #expect(other.status == .notFound)
        }
    }

    @Test func unknownRouteAnswersNestStyle404() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let response = try await client.send(.get, "/api/v9/nothing", key: server.keyA)
            #expect(response.status == .notFound)
            let body = try response.jsonObject()
            #expect(body["message"] as? String == "Cannot GET /api/v9/nothing")
            #expect(body["error"] as? String == "Not Found")
        }
    }

    @Test func healthAndOpenAPIAreServedWithoutAKey() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let health = try await client.send(.get, "/health")
            #expect(health.status == .ok)
            #expect(try health.jsonObject()["status"] as? String == "ok")

            let openAPI = try await client.send(.get, "/openapi.json")
            #expect(openAPI.status == .ok)
            let document = try openAPI.jsonObject()
            #expect(document["openapi"] as? String == "3.0.3")
            let servers = try #require(document["servers"] as? [[String: Any]])
            #expect(servers.first?["url"] as? String == TestServer.publicURL)
            let paths = try #require(document["paths"] as? [String: Any])
            for path in [
                "/api/v1/images/models/{modelId}/inferences", "/api/v1/images/models/{modelId}/inferences/{inferenceId}",
                "/api/v1/images/models/{modelId}/inferences/{inferenceId}/cancel",
                "/api/v1/images/models/{modelId}/inferences/{inferenceId}/events",
                "/api/v1/images/models/{modelId}/inferences/{inferenceId}/preview.png", "/api/v2/images/models",
                "/api/v2/images/models/{modelId}", "/api/v2/images/models/new", "/images/{fileName}", "/health",
                "/openapi.json",
            ] {
                #expect(paths[path] != nil, "openapi.json lacks \(path)")
            }
            let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
            let entity = try #require(schemas["InferenceEntity"] as? [String: Any])
            #expect(Set(entity["required"] as? [String] ?? []) == Set(Self.requiredFields))
        }
    }

    /// Every route that reads the store may answer 503 (database unavailable) with Retry-After.
    @Test func openAPIListsTheDatabaseUnavailableAnswer() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let document = try await client.send(.get, "/openapi.json").jsonObject()
            let components = try #require(document["components"] as? [String: Any])
            let responses = try #require(components["responses"] as? [String: [String: Any]])
            for name in ["Unavailable", "OpenAIUnavailable"] {
                let headers = try #require(responses[name]?["headers"] as? [String: Any], "\(name)")
                #expect(headers["Retry-After"] != nil, "\(name)")
            }
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            for (path, item) in paths where path != "/openapi.json" && path != "/" {
                for (method, operation) in item where method != "parameters" {
                    let answers = try #require((operation as? [String: Any])?["responses"] as? [String: Any])
                    #expect(answers["503"] != nil, "\(method) \(path) does not list 503")
                }
            }
        }
    }

    @Test func imageURIsAreUnguessableAndBadNamesAre404() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let id = try #require(try await client.submit(server)["id"] as? String)
            let job = try await client.waitForEnd(server, id: id)
            let image = try #require((job["images"] as? [[String: Any]])?.first)
            let imageId = try #require(image["id"] as? String)
            #expect(imageId.count == 32 && imageId.allSatisfy(\.isHexDigit), "128 random bits")
            for path in ["/images/../easel.sqlite", "/images/\(String(repeating: "0", count: 32)).png", "/images/x.txt"] {
                #expect(try await client.send(.get, path).status == .notFound, "\(path)")
            }
        }
    }
}
