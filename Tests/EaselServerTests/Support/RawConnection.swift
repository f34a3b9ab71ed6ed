import EaselServer
import Foundation
import Hummingbird
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP connection to the server under test on 127.0.0.1 (never anywhere else), for
/// what an HTTP client library hides: half-sent requests, trickled bodies, watching the
/// server close a connection, the exact bytes of a HEAD answer. Its calls block, so tests
/// call them through `offPool` to keep the cooperative pool free for the server.
final class RawConnection: @unchecked Sendable {
    private let fd: Int32

    /// Connects to `host` (127.0.0.1 or ::1 only: tests never reach off this machine).
    init(host: String = "127.0.0.1", port: Int) throws {
        precondition(host == "127.0.0.1" || host == "::1", "tests connect to loopback only")
        let family = host.contains(":") ? AF_INET6 : AF_INET
        fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        let result: Int32
        if family == AF_INET6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET6, host, &address.sin6_addr)
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &address.sin_addr)
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .ECONNREFUSED)
        }
    }

    deinit { Glibc.close(fd) }

    /// Sends all of `text`; false when the server has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    /// What the connection brought within `timeout` seconds: the bytes read, and whether
    /// the server closed it (EOF or reset) — reading stops at the close, or earlier once
    /// `until` holds for the bytes read so far.
    func read(timeout: Double, until done: (Data) -> Bool = { _ in false }) -> (data: Data, closed: Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        var data = Data()
        while true {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return (data, false) }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(left * 1000, 1000).rounded(.up)))
            if ready < 0 && errno != EINTR { return (data, true) }
            if ready <= 0 { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { return (data, true) }
            data.append(contentsOf: buffer[0..<count])
            if done(data) { return (data, false) }
        }
    }

    /// Closes our side now (the server sees EOF).
    func shutdownBoth() { shutdown(fd, Int32(SHUT_RDWR)) }
}

extension RawConnection {
    /// Sends one request (`head` without its final blank line; `Connection: close` is added)
    /// on a new connection and reads the answer to the close.
    static func exchange(
        _ address: LoopbackAddress, _ head: String, body: String = "", timeout: Double = 10
    ) -> RawHTTPResponse? {
        guard let connection = try? RawConnection(host: address.host, port: address.port) else { return nil }
        connection.send(head + "Connection: close\r\n\r\n" + body)
        return RawHTTPResponse(connection.read(timeout: timeout).data)
    }
}

/// Where a server under test listens: its bound address, read from the base URL it
/// reports (so configure it with `publicURL = nil`).
struct LoopbackAddress: Sendable {
    var host: String
    var port: Int

    init?(_ server: TestServer) {
        guard let url = URL(string: server.components.publicURL.value), let port = url.port, port != 0,
            var host = url.host
        else { return nil }
        if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
        self.host = host == "localhost" ? "127.0.0.1" : host
        self.port = port
    }

    func connect() throws -> RawConnection { try RawConnection(host: host, port: port) }
}

/// Runs `body` against the app exactly as `easel serve` runs it (its own configuration:
/// HummingbirdTesting's `.live` keeps the address but drops the connection bound),
/// listening on 127.0.0.1 with an ephemeral port. `server` must be made with
/// `port = 0` and `publicURL = nil`.
func withRunningServer(_ server: TestServer, _ body: @escaping @Sendable (LoopbackAddress) async throws -> Void)
    async throws
{
    let app = try await server.application()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.runService(gracefulShutdownSignals: []) }
        // Generous: engine tests running beside this one can hold the cooperative pool for
        // seconds, and the bound address is published from it.
        let deadline = ContinuousClock.now + .seconds(90)
        var address = LoopbackAddress(server)
        while address == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
            address = LoopbackAddress(server)
        }
        guard let address else {
            group.cancelAll()
            Issue.record("the server did not start listening")
            return
        }
        do {
            try await body(address)
        } catch {
            group.cancelAll()
            throw error
        }
        group.cancelAll()
    }
}

extension TestServer {
    /// A server for `withRunningServer`: 127.0.0.1, any free port, URIs from the bound address.
    static func listening(configure: @escaping (inout ServerConfiguration) -> Void = { _ in }) async throws -> TestServer {
        try await make {
            $0.host = "127.0.0.1"
            $0.port = 0
            $0.publicURL = nil
            configure(&$0)
        }
    }
}

/// Runs blocking work on a thread of its own, off Swift's cooperative pool.
func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: work()) }
    }
}

/// A raw HTTP/1.1 answer split into its head and body.
struct RawHTTPResponse {
    var statusLine: String
    var headers: [String: String]
    var body: Data

    /// Parses `data` (everything read until the server closed the connection).
    init?(_ data: Data) {
        guard let split = data.range(of: Data("\r\n\r\n".utf8)) else { return nil }
        let head = String(decoding: data[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        statusLine = head.first ?? ""
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        self.headers = headers
        body = Data(data[split.upperBound...])
    }
}
