import EaselServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Issue 10: a client that sends half a request, or trickles one, loses its connection
/// after the configured time, and only so many connections are served at once. Real
/// sockets on 127.0.0.1 against the app as `easel serve` runs it, with timeouts of a
/// second or two.
@Suite(.timeLimit(.minutes(2))) struct ConnectionLimitTests {
    static let healthRequest = "GET /health HTTP/1.1\r\nHost: easel.test\r\n\r\n"

    /// Whether `connection` is answered 200 within `seconds` (reading only that answer).
    static func answered(_ connection: RawConnection, within seconds: Double) -> Bool {
        let result = connection.read(timeout: seconds) { String(decoding: $0, as: UTF8.self).contains("\"status\"") }
        return String(decoding: result.data, as: UTF8.self).hasPrefix("HTTP/1.1 200")
    }

    @Test func halfSentRequestIsClosedAfterTheIdleTimeout() async throws {
        let server = try await TestServer.listening { $0.connections.idleTimeout = .seconds(1) }
        try await withRunningServer(server) { address in
            let (closed, elapsed) = await offPool { () -> (Bool, Double) in
                guard let connection = try? address.connect() else { return (false, 0) }
                let start = Date()
                connection.send("GET /health HTTP/1.1\r\nHost: easel.test\r\nX-Half: ")
                let result = connection.read(timeout: 10)
                return (result.closed && result.data.isEmpty, Date().timeIntervalSince(start))
            }
            #expect(closed, "the server closed the half-sent request without answering")
            #expect(elapsed >= 0.8 && elapsed < 5, "closed after \(elapsed) s (idle timeout 1 s)")

            // A connection that sends nothing at all is closed too, and the server still serves.
            let silent = await offPool { () -> Bool in
                guard let connection = try? address.connect() else { return false }
                return connection.read(timeout: 10).closed
            }
            #expect(silent)
            let health = await offPool { RawConnection.exchange(address, "GET /health HTTP/1.1\r\nHost: easel.test\r\n") }
            #expect(health?.statusLine == "HTTP/1.1 200 OK")
        }
    }

    @Test func idleKeepAliveConnectionIsClosedAfterTheTimeout() async throws {
        let server = try await TestServer.listening { $0.connections.idleTimeout = .seconds(1) }
        try await withRunningServer(server) { address in
            let (answered, closed) = await offPool { () -> (Bool, Bool) in
                guard let connection = try? address.connect() else { return (false, false) }
                connection.send(Self.healthRequest)
                let answered = Self.answered(connection, within: 5)
                return (answered, connection.read(timeout: 10).closed)
            }
            #expect(answered)
            #expect(closed, "an idle keep-alive connection is closed")
        }
    }

    @Test func trickledBodyIsCutOffAtTheRequestReadTimeout() async throws {
        let server = try await TestServer.listening {
            $0.connections.idleTimeout = .seconds(1)
            $0.connections.requestReadTimeout = .seconds(2)
        }
        let key = server.keyA
        let path = server.inferencesPath
        try await withRunningServer(server) { address in
            let (closed, elapsed) = await offPool { () -> (Bool, Double) in
                guard let connection = try? address.connect() else { return (false, 0) }
                let start = Date()
                connection.send(
                    "POST \(path) HTTP/1.1\r\nHost: easel.test\r\nAuthorization: Bearer \(key)\r\n"
                        + "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
                // A byte every 0.4 s keeps the idle timeout (1 s) from ever firing.
                while Date().timeIntervalSince(start) < 15 {
                    if connection.read(timeout: 0.4).closed || !connection.send(" ") {
                        return (true, Date().timeIntervalSince(start))
                    }
                }
                return (false, Date().timeIntervalSince(start))
            }
            #expect(closed, "a trickled body is cut off")
            #expect(elapsed >= 1.5 && elapsed < 6, "closed after \(elapsed) s (request read timeout 2 s)")
        }
        #expect(try await server.store.countQueued() == 0)
    }

    @Test func connectionsOverTheBoundAreNotServedUntilOneCloses() async throws {
        let server = try await TestServer.listening {
            $0.connections.maxConnections = 2
            $0.connections.idleTimeout = .seconds(30)
        }
        try await withRunningServer(server) { address in
            let outcome = await offPool { () -> (held: Bool, servedOverBound: Bool, servedAfterClose: Bool) in
                // Two connections, each proven accepted by an answer, kept open (keep-alive).
                var held: [RawConnection] = []
                for _ in 0..<2 {
                    guard let connection = try? address.connect() else { return (false, false, false) }
                    connection.send(Self.healthRequest)
                    guard Self.answered(connection, within: 5) else { return (false, false, false) }
                    held.append(connection)
                }
                // A third completes the TCP handshake (the kernel's listen backlog) but the
                // server does not accept it, so its request waits unanswered...
                guard let third = try? address.connect() else { return (true, false, false) }
                third.send(Self.healthRequest)
                let servedOverBound = Self.answered(third, within: 1.5)
                // ...until a slot frees up.
                held[0].shutdownBoth()
                let servedAfterClose = Self.answered(third, within: 5)
                return (true, servedOverBound, servedAfterClose)
            }
            #expect(outcome.held)
            #expect(!outcome.servedOverBound, "a connection over the bound is not served")
            #expect(outcome.servedAfterClose, "it is served once a slot frees up")
        }
    }
}
