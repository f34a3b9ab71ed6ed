import EaselServer
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A TCP relay on 127.0.0.1 to a loopback port (the test PostgreSQL), that a test can cut
/// (every relayed connection is closed, new ones are closed on arrival: the database is
/// "gone") and restore, without disturbing the server other tests use. Blocking sockets on
/// threads of its own, so the cooperative pool is never held.
final class CuttableProxy: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let upstreamPort: Int
    private struct State {
        var relayed: [Int32] = []
        var isCut = false
        var isClosed = false
    }

    private let state = Locked(State())

    init(upstreamPort: Int) throws {
        (listener, port) = try SilentListener.bind(listen: true)
        self.upstreamPort = upstreamPort
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Closes every relayed connection and refuses new ones until `restore()`.
    func cut() {
        state.withLock { state in
            state.isCut = true
            for descriptor in state.relayed { Glibc.shutdown(descriptor, Int32(SHUT_RDWR)) }
        }
    }

    func restore() { state.withLock { $0.isCut = false } }

    func close() {
        cut()
        state.withLock { $0.isClosed = true }
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if state.current.isClosed { return }
                continue
            }
            guard !state.current.isCut, let upstream = Self.connectLoopback(port: upstreamPort) else {
                Glibc.close(client)
                continue
            }
            // Checked again with the registration, so a cut in between cannot miss this pair.
            let relayed = state.withLock { state -> Bool in
                if state.isCut { return false }
                state.relayed += [client, upstream]
                return true
            }
            guard relayed else {
                Glibc.close(client)
                Glibc.close(upstream)
                continue
            }
            let ends = Locked(0)
            let finish: @Sendable () -> Void = { [self] in
                // The second direction to end closes both sockets.
                guard ends.withLock({ $0 += 1; return $0 }) == 2 else {
                    Glibc.shutdown(client, Int32(SHUT_RDWR))
                    Glibc.shutdown(upstream, Int32(SHUT_RDWR))
                    return
                }
                state.withLock { $0.relayed.removeAll { $0 == client || $0 == upstream } }
                Glibc.close(client)
                Glibc.close(upstream)
            }
            Thread.detachNewThread { Self.pump(from: client, to: upstream); finish() }
            Thread.detachNewThread { Self.pump(from: upstream, to: client); finish() }
        }
    }

    private static func pump(from source: Int32, to target: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return }
            var offset = 0
            while offset < count {
                let sent = buffer[offset..<count].withUnsafeBytes {
                    Glibc.send(target, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                guard sent > 0 else { return }
                offset += sent
            }
        }
    }

    private static func connectLoopback(port: Int) -> Int32? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            Glibc.close(descriptor)
            return nil
        }
        return descriptor
    }
}
