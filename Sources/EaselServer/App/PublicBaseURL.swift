import Foundation
import NIOCore

/// The base of every URI Easel hands out (images, the OpenAPI `servers` entry). Either
/// what the operator configured (`--public-url`), or the listening socket's address once
/// it is bound (so port 0 in tests still gives working URIs).
public final class PublicBaseURL: Sendable {
    private let configured: String?
    private let bound = Locked<String?>(nil)
    private let fallback: String

    public init(configured: String?, host: String, port: Int) {
        self.configured = configured.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        fallback = "http://\(Self.hostPart(host)):\(port)"
    }

    /// Without trailing slash.
    public var value: String { configured ?? bound.current ?? fallback }

    /// Records the address the server actually listens on.
    func bind(_ address: SocketAddress?) {
        guard let address, let port = address.port, let ip = address.ipAddress else { return }
        let host = (ip == "0.0.0.0" || ip == "::") ? "127.0.0.1" : ip
        bound.withLock { $0 = "http://\(Self.hostPart(host)):\(port)" }
    }

    static func hostPart(_ host: String) -> String {
        host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    }
}
