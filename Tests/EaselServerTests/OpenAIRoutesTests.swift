import EaselServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The OpenAI Images API front door: the generation is an ordinary Leap job, the answer
/// and errors are OpenAI-shaped, and a client that goes away cancels its job.
@Suite struct OpenAIRoutesTests {
    static let path = "/v1/images/generations"

    static func error(_ response: TestResponse) throws -> [String: Any] {
        let body = try response.jsonObject()
        let error = try #require(body["error"] as? [String: Any], "not OpenAI-shaped: \(body)")
        for key in ["message", "type", "param", "code"] { #expect(error.keys.contains(key), "error has no \(key)") }
        #expect(error["message"] is String)
        #expect(error["type"] is String)
        return error
    }

    @Test func b64JSONGenerationIsALeapJobWithTheSameImages() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let response = try await client.send(
                .post, Self.path, key: server.keyA,
                json: [
                    "model": "tiny", "prompt": "a red circle", "n": 2, "size": "96x64", "response_format": "b64_json",
                    "steps": 3, "seed": 11, "guidance_scale": 5.5, "negative_prompt": "blurry",
                ])
            #expect(response.status == .ok, "\(String(buffer: response.body))")
            let body = try response.jsonObject()
            #expect(body["created"] is Int)
            let data = try #require(body["data"] as? [[String: Any]])
            #expect(data.count == 2)
            var pngs: [Data] = []
            for item in data {
                let encoded = try #require(item["b64_json"] as? String)
                #expect(item["url"] == nil)
                let png = try #require(Data(base64Encoded: encoded))
                let size = try #require(TestPNG.dimensions(png))
                #expect(size.width == 96 && size.height == 64)
                pngs.append(png)
            }
            // The same job in Leap's list, finished, with the same image files.
            let id = try #require(response.headers[HTTPField.Name("Easel-Inference-Id")!])
            let jobs = try await client.send(.get, server.inferencesPath, key: server.keyA).jsonArray()
            let job = try #require(jobs.first { $0["id"] as? String == id })
            #expect(job["state"] as? String == "finished")
            #expect(job["prompt"] as? String == "a red circle")
            #expect(job["negativePrompt"] as? String == "blurry")
            #expect(job["numberOfImages"] as? Int == 2)
            #expect(job["steps"] as? Int == 3)
            #expect(job["seed"] as? Int == 11)
            #expect(job["promptStrength"] as? Double == 5.5)
            let images = try #require(job["images"] as? [[String: Any]])
            for (image, png) in zip(images, pngs) {
                let uri = try #require(image["uri"] as? String)
                let download = try await client.send(.get, String(uri.dropFirst(TestServer.publicURL.count)))
                #expect(download.bodyData == png)
            }
            // Another workspace sees nothing of it.
            let other = try await client.send(.get, server.inferencesPath, key: server.keyB).jsonArray()
            #expect(other.isEmpty)
        }
    }

    @Test func urlGenerationByModelIdDefaultsToOneImage() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let response = try await client.send(
                .post, Self.path, key: server.keyA,
                json: ["model": server.model.id, "prompt": "a blue star", "size": "64x64", "steps": 2])
            #expect(response.status == .ok, "\(String(buffer: response.body))")
            let data = try #require(try response.jsonObject()["data"] as? [[String: Any]])
            #expect(data.count == 1)
            let url = try #require(data.first?["url"] as? String)
            #expect(url.hasPrefix("\(TestServer.publicURL)/images/"))
            let download = try await client.send(.get, String(url.dropFirst(TestServer.publicURL.count)))
            #expect(download.status == .ok)
            #expect(download.headers[.contentType] == "image/png")
        }
    }

    @Test func errorsAreOpenAIShapedWithTheUsualStatusCodes() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let valid: [String: Any] = ["model": "tiny", "prompt": "a cat", "size": "64x64", "steps": 2]
            func post(_ change: [String: Any], key: String? = nil) async throws -> TestResponse {
                try await client.send(.post, Self.path, key: key ?? server.keyA, json: valid.merging(change) { $1 })
            }
            for size in ["30x64", "big", "64", "64x64x64", "-64x64", "0x0"] {
                let response = try await post(["size": size])
                #expect(response.status == .badRequest, "size \(size)")
                let error = try Self.error(response)
                #expect(error["param"] as? String == "size", "size \(size): \(error)")
                #expect(error["type"] as? String == "invalid_request_error")
            }
            let multiple = try Self.error(try await post(["size": "60x64"]))
            #expect((multiple["message"] as? String)?.contains("width must be a multiple of 8") == true)

            let tooMany = try await post(["n": 5])
            #expect(tooMany.status == .badRequest)
            let nError = try Self.error(tooMany)
            #expect(nError["param"] as? String == "n")
            #expect(nError["message"] as? String == "n must not be greater than 4")

            let noPrompt = try await client.send(.post, Self.path, key: server.keyA, json: ["model": "tiny"])
            #expect(noPrompt.status == .badRequest)
            #expect(try Self.error(noPrompt)["param"] as? String == "prompt")

            let badFormat = try await post(["response_format": "png"])
            #expect(badFormat.status == .badRequest)
            #expect(try Self.error(badFormat)["param"] as? String == "response_format")

            let wrongKey = try await post([:], key: "not-a-key")
            #expect(wrongKey.status == .unauthorized)
            let keyError = try Self.error(wrongKey)
            #expect(keyError["code"] as? String == "invalid_api_key")
            #expect(keyError["type"] as? String == "invalid_request_error")
            let noKey = try await client.send(.get, "/v1/models")
            #expect(noKey.status == .unauthorized)
            _ = try Self.error(noKey)

            let unknown = try await post(["model": "no-such-model"])
            #expect(unknown.status == .notFound)
            let modelError = try Self.error(unknown)
            #expect(modelError["code"] as? String == "model_not_found")
            #expect(modelError["param"] as? String == "model")

            let repeated = try await client.send(
                .post, Self.path, key: server.keyA, rawBody: #"{"model":"tiny","prompt":"a","prompt":"b"}"#)
            #expect(repeated.status == .badRequest)
            _ = try Self.error(repeated)
            // Nothing was queued by any of them.
            #expect(try await client.send(.get, server.inferencesPath, key: server.keyA).jsonArray().isEmpty)
        }
    }

    @Test func fullQueueIs429AndFailedJobIs500() async throws {
        let full = try await TestServer.make { $0.limits.maxQueuedPerWorkspace = 0 }
        try await full.application().test(.router) { client in
            let response = try await client.send(
                .post, Self.path, key: full.keyA, json: ["model": "tiny", "prompt": "a cat", "size": "64x64"])
            #expect(response.status == .tooManyRequests)
            #expect(response.headers[.retryAfter] != nil)
            let error = try Self.error(response)
            #expect(error["code"] as? String == "rate_limit_exceeded")
        }
        let failing = try await TestServer.make()
        failing.generator.failure.withLock { $0 = ImageGenerationError.engineUnavailable("a test failure") }
        try await failing.application().test(.router) { client in
            let response = try await client.send(
                .post, Self.path, key: failing.keyA,
                json: ["model": "tiny", "prompt": "a cat", "size": "64x64", "steps": 1])
            #expect(response.status == .internalServerError)
            let error = try Self.error(response)
            #expect(error["type"] as? String == "server_error")
        }
    }

    @Test func modelsAreListedTheOpenAIWay() async throws {
        let server = try await TestServer.make { $0.workers = 0 }
        try await server.application().test(.router) { client in
            let body = try await client.send(.get, "/v1/models", key: server.keyA).jsonObject()
            #expect(body["object"] as? String == "list")
            let models = try #require(body["data"] as? [[String: Any]])
            let model = try #require(models.first { $0["id"] as? String == server.model.id })
            #expect(model["object"] as? String == "model")
            #expect(model["name"] as? String == "tiny")
            #expect(model["created"] is Int)
            #expect(model["owned_by"] is String)
            let one = try await client.send(.get, "/v1/models/tiny", key: server.keyA).jsonObject()
            #expect(one["id"] as? String == server.model.id)
            let missing = try await client.send(.get, "/v1/models/nothing", key: server.keyA)
            #expect(missing.status == .notFound)
            #expect(try Self.error(missing)["code"] as? String == "model_not_found")
            let document = try await client.send(.get, "/openapi.json").jsonObject()
            let paths = try #require(document["paths"] as? [String: Any])
            for path in ["/v1/images/generations", "/v1/models", "/v1/models/{model}", "/"] {
                #expect(paths[path] != nil, "openapi.json lacks \(path)")
            }
        }
    }

    @Test func clientThatDisconnectsCancelsItsJob() async throws {
        // Held at the gate for ever: the job stays processing until it is cancelled.
        let held = try await TestServer.make(generator: FakeGenerator(gate: Gate())) {
            $0.host = "127.0.0.1"
            $0.port = 0
            $0.publicURL = nil
        }
        try await withRunningServer(held) { address in
            let body = #"{"model":"tiny","prompt":"a slow cat","size":"64x64","steps":5}"#
            let connection = try address.connect()
            connection.send(
                "POST /v1/images/generations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(held.keyA)\r\n"
                    + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            var jobId: String?
            // Generous limits: with the whole suite computing on both cores, a worker or the
            // disconnect watcher can wait seconds for a thread.
            try await eventually(timeout: .seconds(60), "the job is processing") {
                let jobs = try await held.store.jobs(
                    workspaceId: held.workspaceA.id, modelId: held.model.id, onlyFinished: false, offset: 0, limit: 10)
                jobId = jobs.first?.job.id
                return jobs.first?.job.state == .processing
            }
            let id = try #require(jobId)
            connection.shutdownBoth()
            try await eventually(timeout: .seconds(60), "the job is cancelled") {
                let job = try await held.store.job(id: id, workspaceId: held.workspaceA.id)?.job
                return job?.state == .failed && job?.failureReason == "cancelled"
            }
        }
    }
}
