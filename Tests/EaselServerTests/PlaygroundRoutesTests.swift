import EaselServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The playground page and its assets: served from the binary, with the right types and a
/// strict Content-Security-Policy, and the labels the page promises.
@Suite struct PlaygroundRoutesTests {
    static let assets = [
        ("/", "text/html; charset=utf-8"),
        ("/playground/app.js", "text/javascript; charset=utf-8"),
        ("/playground/style.css", "text/css; charset=utf-8"),
        ("/playground/icon.svg", "image/svg+xml"),
    ]

    @Test func pageAndAssetsAreServedWithTheirTypesAndAStrictPolicy() async throws {
        let server = try await TestServer.make { $0.workers = 0 }
        try await server.application().test(.router) { client in
            for (path, type) in Self.assets {
                let response = try await client.send(.get, path)
                #expect(response.status == .ok, "\(path)")
                #expect(response.headers[.contentType] == type, "\(path)")
                #expect(response.headers[.xContentTypeOptions] == "nosniff", "\(path)")
                #expect(!response.body.readableBytesView.isEmpty, "\(path)")
                let policy = try #require(response.headers[.contentSecurityPolicy], "\(path) has no CSP")
                let directives = Dictionary(
                    uniqueKeysWithValues: policy.split(separator: ";").map { part -> (String, String) in
                        let words = part.split(separator: " ", maxSplits: 1).map(String.init)
                        return (words[0], words.count > 1 ? words[1] : "")
                    })
                #expect(directives["default-src"] == "'none'")
                #expect(directives["script-src"] == "'self'")
                #expect(directives["style-src"] == "'self'")
                #expect(directives["connect-src"] == "'self'")
                #expect(directives["frame-ancestors"] == "'none'")
                // Nothing inline, nothing from another origin.
                #expect(!policy.contains("unsafe"))
                #expect(!policy.contains("http"))
                #expect(!policy.contains("*"))
            }
            // HEAD answers like GET.
            let head = try await client.send(.head, "/")
            #expect(head.status == .ok)
            #expect(head.headers[.contentSecurityPolicy] != nil)
            let missing = try await client.send(.get, "/playground/nothing.js")
            #expect(missing.status == .notFound)
        }
    }

    @Test func pageHasNoInlineCodeNoOtherOriginsAndLabelsEveryControl() async throws {
        let server = try await TestServer.make { $0.workers = 0 }
        try await server.application().test(.router) { client in
            let html = String(buffer: try await client.send(.get, "/").body)
            // Scripts only by src, no inline handlers or styles.
            #expect(html.range(of: #"<script(?![^>]*\bsrc=)"#, options: .regularExpression) == nil)
            #expect(html.range(of: #"\son[a-z]+="#, options: .regularExpression) == nil)
            #expect(html.range(of: #"<style|\sstyle="#, options: .regularExpression) == nil)
            #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"))
            for match in html.matches(of: /(?:src|href)="([^"]*)"/) {
                #expect(match.1.hasPrefix("/"), "\(match.1) is not this server's")
            }
            #expect(html.contains(#"src="/playground/app.js""#))
            #expect(html.contains(#"href="/playground/style.css""#))
            let labels = [
                "API key", "Model", "Prompt", "Negative prompt", "Width", "Height", "Steps", "Guidance", "Seed",
                "Number of images",
            ]
            for label in labels {
                let pattern = try Regex(#"<label for="([A-Za-z]+)">"# + label + "</label>")
                let match = try #require(html.firstMatch(of: pattern), "no label \(label)")
                let id = try #require(match.output[1].substring)
                #expect(html.contains(#"id="\#(id)""#), "label \(label) names no control")
            }
            #expect(html.contains(">Generate</button>"))
            #expect(html.contains(">Cancel</button>"))
            // The script uses only the public API, with the typed key.
            let script = String(buffer: try await client.send(.get, "/playground/app.js").body)
            #expect(script.contains("Authorization: `Bearer ${key()}`"))
            #expect(!script.contains("http://") && !script.contains("https://"))
        }
    }

    @Test func modelListCarriesTheDefaultsThePagePrefills() async throws {
        let server = try await TestServer.make { $0.workers = 0 }
        try await server.application().test(.router) { client in
            let body = try await client.send(.get, "/api/v2/images/models", key: server.keyA).jsonObject()
            let model = try #require((body["models"] as? [[String: Any]])?.first)
            let defaults = try #require(model["defaults"] as? [String: Any])
            #expect(defaults["steps"] as? Int == 50)
            #expect(defaults["width"] as? Int == 1024)
            #expect(defaults["promptStrength"] as? Double == 7)
            #expect(defaults["seed"] as? Int == 4_523_184)
            #expect(defaults["negativePrompt"] as? String == "asymmetric, watermarks")
            // The test model's folder has no readable configs: no native size claimed.
            #expect(model["nativeSize"] == nil)
        }
    }
}
