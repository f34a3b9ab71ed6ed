import EaselServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Issue 10: HEAD answers like GET without a body on every GET route (load balancers probe
/// `/health` with HEAD), and a 401 carries the Bearer challenge of RFC 6750.
@Suite(.timeLimit(.minutes(2))) struct HeadAndChallengeTests {
    @Test func headHealthIs200WithGETsHeadersAndNoBodyOnTheWire() async throws {
        let server = try await TestServer.make { $0.publicURL = nil }
        try await server.application().test(.live) { client in
            let address = try #require(LoopbackAddress(server))
            let get = await offPool { RawConnection.exchange(address, "GET /health HTTP/1.1\r\nHost: easel.test\r\n") }
            let head = await offPool { RawConnection.exchange(address, "HEAD /health HTTP/1.1\r\nHost: easel.test\r\n") }
            let getResponse = try #require(get)
            let headResponse = try #require(head)
            #expect(headResponse.statusLine == "HTTP/1.1 200 OK")
            #expect(headResponse.body.isEmpty, "no body after a HEAD answer")
            #expect(headResponse.headers["content-type"] == getResponse.headers["content-type"])
            #expect(headResponse.headers["content-length"] == String(getResponse.body.count))
            // The connection is still usable by the test client afterwards.
            #expect(try await client.send(.get, "/health").status == .ok)
        }
    }

    @Test func headOnAnImageGivesItsHeaders() async throws {
        let server = try await TestServer.make { $0.publicURL = nil }
        try await server.application().test(.live) { client in
            let address = try #require(LoopbackAddress(server))
            let id = try #require(try await client.submit(server)["id"] as? String)
            let job = try await client.waitForEnd(server, id: id)
            let uri = try #require((job["images"] as? [[String: Any]])?.first?["uri"] as? String)
            let path = try #require(URL(string: uri)?.path)
            let image = try await client.send(.get, path)
            #expect(image.status == .ok)
            let head = try #require(
                await offPool { RawConnection.exchange(address, "HEAD \(path) HTTP/1.1\r\nHost: easel.test\r\n") })
            #expect(head.statusLine == "HTTP/1.1 200 OK")
            #expect(head.headers["content-type"] == "image/png")
            #expect(head.headers["content-length"] == String(image.body.readableBytes))
            #expect(head.body.isEmpty)
            let missing = try #require(
                await offPool { RawConnection.exchange(address, "HEAD /images/00ff.png HTTP/1.1\r\nHost: easel.test\r\n") })
            #expect(missing.statusLine.hasPrefix("HTTP/1.1 404"))
            #expect(missing.body.isEmpty)
        }
    }

    @Test func headWorksOnEveryGETRoute() async throws {
        let server = try await TestServer.make(generator: FakeGenerator(gate: Gate()))
        try await server.application().test(.router) { client in
            let id = try #require(try await client.submit(server)["id"] as? String)
            let authenticated = [
                server.inferencesPath, "\(server.inferencesPath)/\(id)", "/api/v2/images/models",
                "/api/v2/images/models/\(server.model.id)",
            ]
            for path in ["/health", "/openapi.json"] + authenticated {
                let key = authenticated.contains(path) ? server.keyA : nil
                let get = try await client.send(.get, path, key: key)
                let head = try await client.send(.head, path, key: key)
                #expect(head.status == get.status, "\(path)")
                #expect(head.status == .ok, "\(path)")
                #expect(head.body.readableBytes == 0, "\(path)")
                #expect(head.headers[.contentType] == get.headers[.contentType], "\(path)")
            }
            // The event stream (which GET would keep open while the job waits): its headers only.
            let events = try await client.send(.head, "\(server.inferencesPath)/\(id)/events", key: server.keyA)
            #expect(events.status == .ok)
            #expect(events.headers[.contentType] == "text/event-stream")
            #expect(events.body.readableBytes == 0)
            // HEAD is authenticated as GET is.
            let refused = try await client.send(.head, server.inferencesPath)
            #expect(refused.status == .unauthorized)
            #expect(refused.body.readableBytes == 0)
        }
    }

    @Test func unauthorizedCarriesTheBearerChallenge() async throws {
        let server = try await TestServer.make { $0.imagesRequireKey = true }
        try await server.application().test(.router) { client in
            let missing = try await client.send(.get, server.inferencesPath)
            #expect(missing.status == .unauthorized)
            #expect(missing.headers[.wwwAuthenticate] == #"Bearer realm="easel""#)
            #expect(try missing.jsonObject()["statusCode"] as? Int == 401)

            let wrong = try await client.send(.get, server.inferencesPath, key: "not-a-key")
            #expect(wrong.status == .unauthorized)
            #expect(wrong.headers[.wwwAuthenticate] == #"Bearer realm="easel", error="invalid_token""#)

            let image = try await client.send(.get, "/images/00ff.png")
            #expect(image.status == .unauthorized)
            #expect(image.headers[.wwwAuthenticate]?.hasPrefix("Bearer realm=") == true)
        }
    }
}
