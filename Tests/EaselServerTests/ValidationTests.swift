import EaselServer
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Every rule of CreateInferenceDto and of the list query, the NestJS 400 shape, and that
/// a rejected request stores nothing.
@Suite struct ValidationTests {
    /// (body, the message expected among the answer's messages)
    static var cases: [([String: Any], String)] {
        [
        ([:], "prompt should not be empty"),
        ([:], "prompt must be a string"),
        (["prompt": ""], "prompt should not be empty"),
        (["prompt": "   "], "prompt should not be empty"),
        (["prompt": 5], "prompt must be a string"),
        (["prompt": String(repeating: "a", count: 2001)], "prompt must be shorter than or equal to 2000 characters (Unicode code points; this server's limit)"),
        (["prompt": "ok", "negativePrompt": 3], "negativePrompt must be a string"),
        (["prompt": "ok", "steps": 0], "steps must not be less than 1"),
        (["prompt": "ok", "steps": 2.5], "steps must be an integer number"),
        (["prompt": "ok", "steps": "50"], "steps must be an integer number"),
        (["prompt": "ok", "steps": 151], "steps must not be greater than 150 (this server's limit)"),
        (["prompt": "ok", "width": 100], "width must be a multiple of 8"),
        (["prompt": "ok", "height": 100], "height must be a multiple of 8"),
        (["prompt": "ok", "width": 56], "width must not be less than 64"),
        (["prompt": "ok", "width": "512"], "width must be an integer number"),
        (["prompt": "ok", "width": 2048, "height": 2048], "width x height must not be greater than 1048576 pixels (this server's limit per image)"),
        (["prompt": "ok", "width": 1024, "height": 1024, "numberOfImages": 4, "steps": 1], "width x height x numberOfImages must not be greater than 2097152 pixels (this server's limit per job)"),
        (["prompt": "ok", "numberOfImages": 0], "numberOfImages must not be less than 1"),
        (["prompt": "ok", "numberOfImages": 5], "numberOfImages must not be greater than 4"),
        (["prompt": "ok", "numberOfImages": 1.5], "numberOfImages must be an integer number"),
        (["prompt": "ok", "promptStrength": -1], "promptStrength must not be less than 0"),
        (["prompt": "ok", "promptStrength": 30.5], "promptStrength must not be greater than 30"),
        (["prompt": "ok", "promptStrength": "7"], "promptStrength must be a number conforming to the specified constraints"),
        (["prompt": "ok", "seed": -1], "seed must not be less than 0"),
        (["prompt": "ok", "seed": 1.5], "seed must be an integer number"),
        (["prompt": "ok", "seed": 1e17], "seed must not be greater than 9007199254740991"),
        (["prompt": "ok", "webhookUrl": "not a url"], "webhookUrl must be a URL address (http or https)"),
        (["prompt": "ok", "webhookUrl": "ftp://example.com/x"], "webhookUrl must be a URL address (http or https)"),
        (["prompt": "ok", "webhookUrl": 12], "webhookUrl must be a string"),
        (["prompt": "ok", "webhookUrl": "http://127.0.0.1:9/hook"], "webhookUrl must not point to a loopback address (this server refuses private webhook targets)"),
        (["prompt": "ok", "webhookUrl": "http://10.1.2.3/hook"], "webhookUrl must not point to a private address (this server refuses private webhook targets)"),
        (["prompt": "ok", "webhookUrl": "http://169.254.169.254/latest"], "webhookUrl must not point to a link-local address (this server refuses private webhook targets)"),
        (["prompt": "ok", "webhookUrl": "http://localhost:8080/"], "webhookUrl must not point to a loopback address (this server refuses private webhook targets)"),
        (["prompt": "ok", "webhookUrl": "http://[::1]:8080/"], "webhookUrl must not point to a loopback address (this server refuses private webhook targets)"),
        ]
    }

    static func server() async throws -> TestServer {
        try await TestServer.make { $0.limits.maxPixelsPerJob = 2 * 1024 * 1024 }
    }

    @Test func everyRuleIsEnforcedWithItsMessage() async throws {
        let server = try await Self.server()
        try await server.application().test(.router) { client in
            for (body, message) in Self.cases {
                let response = try await client.send(.post, server.inferencesPath, key: server.keyA, json: body)
                #expect(response.status == .badRequest, "\(body)")
                let answer = try response.jsonObject()
                #expect(answer["statusCode"] as? Int == 400)
                #expect(answer["error"] as? String == "Bad Request")
                let messages = answer["message"] as? [String] ?? []
                #expect(messages.contains(message), "\(body): got \(messages)")
            }
            #expect(try await server.store.countQueued() == 0, "a rejected request stores nothing")
            #expect(try await server.store.jobs(
                workspaceId: server.workspaceA.id, modelId: server.model.id, onlyFinished: false, offset: 0, limit: 100
            ).isEmpty)
        }
    }

    @Test func everyProblemIsListedAtOnce() async throws {
        let server = try await Self.server()
        try await server.application().test(.router) { client in
            let response = try await client.send(
                .post, server.inferencesPath, key: server.keyA,
                json: ["steps": 0, "width": 100, "numberOfImages": 9, "promptStrength": 99, "seed": -3])
            #expect(response.status == .badRequest)
            let messages = try #require(try response.jsonObject()["message"] as? [String])
            for expected in [
                "prompt should not be empty", "prompt must be a string", "steps must not be less than 1",
                "width must be a multiple of 8", "numberOfImages must not be greater than 4",
                "promptStrength must not be greater than 30", "seed must not be less than 0",
            ] {
                #expect(messages.contains(expected), "missing \(expected) in \(messages)")
            }
        }
    }

    @Test func acceptedEdgeValuesAndNullsMeanDefaults() async throws {
        let server = try await TestServer.make(generator: FakeGenerator(gate: Gate()))
        try await server.application().test(.router) { client in
            let job = try await client.submit(
                server,
                [
                    "steps": 150, "width": 64, "height": 1024, "numberOfImages": 4, "promptStrength": 0, "seed": 0,
                    "negativePrompt": NSNull(), "webhookUrl": NSNull(), "somethingExtra": true,
                ])
            #expect(job["steps"] as? Int == 150)
            #expect(job["negativePrompt"] as? String == "asymmetric, watermarks")
            #expect(job["seed"] as? Int == 0)
            let strength = try await client.submit(server, ["promptStrength": 30, "steps": 1.0])
            #expect(strength["steps"] as? Int == 1)
        }
    }

    @Test func malformedBodiesAreRejected() async throws {
        let server = try await Self.server()
        try await server.application().test(.router) { client in
            for raw in ["{not json", "[1, 2]", "\"text\"", ""] {
                let response = try await client.send(.post, server.inferencesPath, key: server.keyA, rawBody: raw)
                #expect(response.status == .badRequest, "\(raw)")
                #expect((try response.jsonObject()["message"] as? [String])?.isEmpty == false)
            }
        }
    }

    @Test func oversizedBodyIs413() async throws {
        let server = try await TestServer.make {
            $0.limits.maxBodyBytes = 1024
            $0.limits.maxInitImageBytes = 0
        }
        try await server.application().test(.router) { client in
            let response = try await client.send(
                .post, server.inferencesPath, key: server.keyA, json: ["prompt": String(repeating: "a", count: 4000)])
            #expect(response.status == .contentTooLarge)
            let body = try response.jsonObject()
            #expect(body["statusCode"] as? Int == 413)
            #expect(body["error"] as? String == "Payload Too Large")
            #expect(try await server.store.countQueued() == 0)
        }
    }

    @Test func listQueryIsValidated() async throws {
        let server = try await Self.server()
        try await server.application().test(.router) { client in
            let cases: [(String, String)] = [
                ("onlyFinished=maybe", "onlyFinished must be a boolean value"),
                ("page=0", "page must not be less than 1"),
                ("page=1.5", "page must be an integer number"),
                ("pageSize=0", "pageSize must not be less than 1"),
                ("pageSize=101", "pageSize must not be greater than 100"),
                ("pageSize=abc", "pageSize must be an integer number"),
            ]
            for (query, message) in cases {
                let response = try await client.send(.get, "\(server.inferencesPath)?\(query)", key: server.keyA)
                #expect(response.status == .badRequest, "\(query)")
                #expect((try response.jsonObject()["message"] as? [String])?.contains(message) == true, "\(query)")
            }
        }
    }

    @Test func privateWebhookTargetsAreAcceptedWhenTheOperatorAllowsThem() async throws {
        let server = try await TestServer.make(generator: FakeGenerator(gate: Gate())) {
            $0.webhooks.allowPrivateAddresses = true
        }
        try await server.application().test(.router) { client in
            let job = try await client.submit(server, ["webhookUrl": "http://127.0.0.1:9/hook"])
            #expect(job["id"] is String, "accepted (201)")
        }
    }
}
