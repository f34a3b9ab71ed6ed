import EaselServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Issue 10: no request body may crash the server or mean two things. Numbers past `Int`'s
/// range, control characters, repeated keys and grapheme-sized prompts are each a 400 that
/// names the problem, and the server keeps answering.
@Suite struct RequestHardeningTests {
    /// (raw JSON body, a message expected in the 400). Each of these crashed the server
    /// (a `Double` converted to `Int` before its range was checked) or would trap elsewhere.
    static let crashBodies: [(String, String)] = [
        (#"{"prompt":"x","width":1e19,"height":64}"#, "width must not be greater than 65536"),
        (#"{"prompt":"x","width":64,"height":-1e19}"#, "height must not be less than 64"),
        (#"{"prompt":"x","width":9.3e18,"height":64}"#, "width must not be greater than 65536"),
        (#"{"prompt":"x","width":9223372036854775807,"height":64}"#, "width must not be greater than 65536"),
        (#"{"prompt":"x","width":-9223372036854775809,"height":64}"#, "width must not be less than 64"),
        (#"{"prompt":"x","width":1e308,"height":1e400}"#, "height must not be greater than 65536"),
        (#"{"prompt":"x","width":-1e400}"#, "width must not be less than 64"),
        (#"{"prompt":"x","steps":1e19}"#, "steps must not be greater than 150 (this server's limit)"),
        (#"{"prompt":"x","steps":-1e19}"#, "steps must not be less than 1"),
        (#"{"prompt":"x","numberOfImages":9.3e18}"#, "numberOfImages must not be greater than 4"),
        (#"{"prompt":"x","seed":1e400}"#, "seed must not be greater than 9007199254740991"),
        (#"{"prompt":"x","seed":18446744073709551616}"#, "seed must not be greater than 9007199254740991"),
        (#"{"prompt":"x","promptStrength":1e400}"#, "promptStrength must not be greater than 30"),
        (#"{"prompt":"x","promptStrength":-1e400}"#, "promptStrength must not be less than 0"),
        (#"{"prompt":"x","width":1e-400}"#, "width must not be less than 64"),
    ]

    @Test func hugeNumbersAre400OverTheRealHTTPStackAndTheServerKeepsAnswering() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.live) { client in
            for (body, message) in Self.crashBodies {
                let response = try await client.send(.post, server.inferencesPath, key: server.keyA, rawBody: body)
                #expect(response.status == .badRequest, "\(body)")
                let messages = try response.jsonObject()["message"] as? [String] ?? []
                #expect(messages.contains(message), "\(body): got \(messages)")
                let health = try await client.send(.get, "/health")
                #expect(health.status == .ok, "the server still answers after \(body)")
            }
            #expect(try await server.store.countQueued() == 0, "a rejected request stores nothing")
        }
    }

    @Test func hugeListQueryNumbersAre400() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let cases: [(String, String)] = [
                ("page=1e30", "page must not be greater than 2147483647"),
                ("page=-1e30", "page must not be less than 1"),
                ("page=inf", "page must not be greater than 2147483647"),
                ("page=nan", "page must be an integer number"),
                ("pageSize=9223372036854775808", "pageSize must not be greater than 100"),
            ]
            for (query, message) in cases {
                let response = try await client.send(.get, "\(server.inferencesPath)?\(query)", key: server.keyA)
                #expect(response.status == .badRequest, "\(query)")
                let messages = try response.jsonObject()["message"] as? [String] ?? []
                #expect(messages.contains(message), "\(query): got \(messages)")
            }
        }
    }

    @Test func controlCharactersInTextFieldsAre400NamingTheField() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let cases: [(String, String)] = [
                (#"{"prompt":"abc\u0000def"}"#, "prompt must not contain control characters (found U+0000)"),
                (#"{"prompt":"abc\u001bdef"}"#, "prompt must not contain control characters (found U+001B)"),
                (#"{"prompt":"abc\u007fdef"}"#, "prompt must not contain control characters (found U+007F)"),
                (#"{"prompt":"abc\u0085def"}"#, "prompt must not contain control characters (found U+0085)"),
                (#"{"prompt":"ok","negativePrompt":"a\u0000"}"#,
                 "negativePrompt must not contain control characters (found U+0000)"),
                (#"{"prompt":"ok","webhookUrl":"http://example.com/\u0000x"}"#,
                 "webhookUrl must not contain control characters (found U+0000)"),
                (#"{"prompt":"ok","webhookUrl":"http://example.com/\nx"}"#,
                 "webhookUrl must not contain control characters (found U+000A)"),
            ]
            for (body, message) in cases {
                let response = try await client.send(.post, server.inferencesPath, key: server.keyA, rawBody: body)
                #expect(response.status == .badRequest, "\(body)")
                let messages = try response.jsonObject()["message"] as? [String] ?? []
                #expect(messages.contains(message), "\(body): got \(messages)")
            }
            #expect(try await server.store.countQueued() == 0)
        }
    }

    @Test func tabsAndLineBreaksInPromptsAreKeptIntact() async throws {
        let server = try await TestServer.make(generator: FakeGenerator(gate: Gate()))
        try await server.application().test(.router) { client in
            let prompt = "a lighthouse\n\tat dusk\r\nwith é and 漢字"
            let job = try await client.submit(server, ["prompt": prompt])
            #expect(job["prompt"] as? String == prompt)
            let id = try #require(job["id"] as? String)
            let stored = try await client.send(.get, "\(server.inferencesPath)/\(id)", key: server.keyA)
            #expect(try stored.jsonObject()["prompt"] as? String == prompt)
        }
    }

    @Test func duplicateKeysAre400AtAnyDepth() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            for body in [
                #"{"prompt":"x","width":64,"width":7}"#,
                #"{"prompt":"x","prompt":"y"}"#,
                #"{"prompt":"x","extra":{"a":1,"a":2}}"#,
                #"{"prompt":"x","extra":[{"a":1},{"b":[{"c":1,"c":1}]}]}"#,
                #"{"prompt":"x","w\u0069dth":64,"width":64}"#,
            ] {
                let response = try await client.send(.post, server.inferencesPath, key: server.keyA, rawBody: body)
                #expect(response.status == .badRequest, "\(body)")
                let messages = try response.jsonObject()["message"] as? [String] ?? []
                #expect(messages.contains { $0.hasPrefix("body must not repeat a key (duplicate key") }, "\(body): \(messages)")
            }
            #expect(try await server.store.countQueued() == 0)
        }
    }

    @Test func promptLengthCountsCodePointsNotGraphemes() async throws {
        let server = try await TestServer.make(generator: FakeGenerator(gate: Gate()))
        try await server.application().test(.router) { client in
            // One grapheme cluster, 10,001 code points.
            let zalgo = "a" + String(repeating: "\u{0301}", count: 10_000)
            #expect(zalgo.count == 1)
            let response = try await client.send(.post, server.inferencesPath, key: server.keyA, json: ["prompt": zalgo])
            #expect(response.status == .badRequest)
            let messages = try response.jsonObject()["message"] as? [String] ?? []
            #expect(messages.contains(
                "prompt must be shorter than or equal to 2000 characters (Unicode code points; this server's limit)"))
            // Exactly at the limit in code points is fine, whatever the grapheme count.
            let atLimit = "a" + String(repeating: "\u{0301}", count: 1999)
            let job = try await client.submit(server, ["prompt": atLimit])
            #expect(job["prompt"] as? String == atLimit)
            // Four-byte scalars count once each.
            let emoji = String(repeating: "🦊", count: 2001)
            let tooMany = try await client.send(.post, server.inferencesPath, key: server.keyA, json: ["prompt": emoji])
            #expect(tooMany.status == .badRequest)
        }
    }
}
