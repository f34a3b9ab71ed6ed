import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keeps webhooks from reaching into the server's own network: a URL whose host is, or
/// resolves to, a loopback, private, link-local (or otherwise non-public) address is
/// refused unless the operator allows it. Every resolved address is checked.
public struct AddressGuard: Sendable {
    public var allowPrivate: Bool

    public init(allowPrivate: Bool) { self.allowPrivate = allowPrivate }

    /// A vetted target: the URL and the addresses its host resolved to.
    public struct Target: Sendable {
        public var url: URL
        public var host: String
        public var addresses: [String]
    }

    /// Parses the URL (http or https only) and checks where it points.
    public func vet(_ urlString: String) async throws -> Target {
        guard let url = URL(string: urlString), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty
        else { throw AddressRefusal.invalidURL(urlString) }
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        let addresses = try await Self.resolve(bare)
        guard !addresses.isEmpty else { throw AddressRefusal.unresolvable(bare) }
        if !allowPrivate {
            for address in addresses {
                if let kind = Self.nonPublicKind(address) { throw AddressRefusal.nonPublic(host: bare, address, kind) }
            }
        }
        return Target(url: url, host: bare, addresses: addresses)
    }

    /// The check that needs no DNS: literal addresses and `localhost`. Used at submit time.
    public static func literalRefusal(host: String) -> String? {
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        if bare.lowercased() == "localhost" || bare.lowercased().hasSuffix(".localhost") { return "loopback" }
        guard parseIPv4(bare) != nil || parseIPv6(bare) != nil else { return nil }
        return nonPublicKind(bare)
    }

    /// Why an address is not public, or nil when it is.
    public static func nonPublicKind(_ address: String) -> String? {
        if let v4 = parseIPv4(address) { return classifyIPv4(v4) }
        if let v6 = parseIPv6(address) { return classifyIPv6(v6) }
        return "unparseable"
    }

    static func classifyIPv4(_ b: [UInt8]) -> String? {
        switch (b[0], b[1]) {
        case (127, _): return "loopback"
        case (10, _), (192, 168): return "private"
        case (172, 16...31): return "private"
        case (169, 254): return "link-local"
        case (0, _): return "unspecified"
        case (100, 64...127): return "shared (carrier-grade NAT)"
        case (198, 18...19): return "benchmarking"
        case (224...239, _): return "multicast"
        case (240...255, _): return "reserved"
        case (192, 0) where b[2] == 0: return "IETF protocol assignments"
        default: return nil
        }
    }

    static func classifyIPv6(_ b: [UInt8]) -> String? {
        if b[0..<15].allSatisfy({ $0 == 0 }) { return b[15] == 1 ? "loopback" : (b[15] == 0 ? "unspecified" : "reserved") }
        // IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) carry an IPv4 address.
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff { return classifyIPv4(Array(b[12...])) }
        if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b { return classifyIPv4(Array(b[12...])) }
        if b[0] == 0xfe && (b[1] & 0xc0) == 0x80 { return "link-local" }
        if (b[0] & 0xfe) == 0xfc { return "private (unique local)" }
        if b[0] == 0xff { return "multicast" }
        return nil
    }

    static func parseIPv4(_ s: String) -> [UInt8]? {
        var addr = in_addr()
        guard inet_pton(AF_INET, s, &addr) == 1 else { return nil }
        return withUnsafeBytes(of: &addr) { Array($0) }
    }

    static func parseIPv6(_ s: String) -> [UInt8]? {
        var addr = in6_addr()
        guard inet_pton(AF_INET6, s, &addr) == 1 else { return nil }
        return withUnsafeBytes(of: &addr) { Array($0) }
    }

    /// All addresses of `host` (itself when it is a literal), via getaddrinfo off the
    /// cooperative thread pool.
    static func resolve(_ host: String) async throws -> [String] {
        if parseIPv4(host) != nil || parseIPv6(host) != nil { return [host] }
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try resolveBlocking(host) })
            }
        }
    }

    static func resolveBlocking(_ host: String) throws -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let first = list else {
            throw AddressRefusal.unresolvable(host)
        }
        defer { freeaddrinfo(first) }
        var result: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            if info.pointee.ai_family == AF_INET, let raw = info.pointee.ai_addr {
                raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var addr = sin.pointee.sin_addr
                    _ = inet_ntop(AF_INET, &addr, &buffer, socklen_t(buffer.count))
                }
            } else if info.pointee.ai_family == AF_INET6, let raw = info.pointee.ai_addr {
                raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var addr = sin6.pointee.sin6_addr
                    _ = inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count))
                }
            }
            let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !text.isEmpty && !result.contains(text) { result.append(text) }
            cursor = info.pointee.ai_next
        }
        return result
    }
}

/// Why a webhook target was not contacted.
public enum AddressRefusal: Error, CustomStringConvertible, Equatable {
    case invalidURL(String)
    case unresolvable(String)
    case nonPublic(host: String, String, String)

    public var description: String {
        switch self {
        case .invalidURL(let url): "refused: '\(url)' is not an http(s) URL"
        case .unresolvable(let host): "host '\(host)' did not resolve"
        case .nonPublic(let host, let address, let kind):
            "refused: \(host) resolves to \(address), a \(kind) address (start easel with --allow-private-webhooks to allow)"
        }
    }
}
