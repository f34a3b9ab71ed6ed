import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keeps webhooks to globally routable destinations: a URL whose host is, or resolves to,
/// an address in one of IANA's special-purpose blocks (loopback, private, link-local,
/// documentation, ...; see `SpecialPurposeAddresses`) is refused unless the operator allows
/// private targets. Every resolved address is checked, and the caller connects to a
/// checked one (`Target.pinnedAddress`), so a second DNS answer cannot redirect it.
public struct AddressGuard: Sendable {
    public var allowPrivate: Bool

    public init(allowPrivate: Bool) { self.allowPrivate = allowPrivate }

    /// A vetted target: the URL and the addresses its host resolved to.
    public struct Target: Sendable {
        public var url: URL
        /// The host without IPv6 brackets, as the HTTP client reads it from the URL.
        public var host: String
        public var addresses: [String]

        public init(url: URL, host: String, addresses: [String]) {
            self.url = url
            self.host = host
            self.addresses = addresses
        }

        /// The checked address to connect to, when the host is a name (a literal host
        /// needs no pinning: no lookup happens).
        public var pinnedAddress: String? {
            guard let address = addresses.first, address != host else { return nil }
            return address
        }
    }

    /// Parses the URL (http or https only) and checks where it points.
    public func vet(_ urlString: String) async throws -> Target {
        guard let url = URL(string: urlString), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty
        else { throw AddressRefusal.invalidURL(urlString) }
        let bare = Self.withoutBrackets(host)
        let addresses = try await Self.resolve(bare)
        guard !addresses.isEmpty else { throw AddressRefusal.unresolvable(bare) }
        if !allowPrivate {
            for address in addresses {
                if let reason = Self.classify(address) { throw AddressRefusal.nonPublic(host: bare, address, reason) }
            }
        }
        return Target(url: url, host: bare, addresses: addresses)
    }

    /// The check that needs no DNS, used at submit time: `localhost` names and every
    /// numeric form (dotted, shortened, decimal, hex, octal IPv4; IPv6). Returns the name
    /// of the block the host falls in.
    public static func literalRefusal(host: String) -> String? {
        let bare = withoutBrackets(host).lowercased()
        if bare == "localhost" || bare.hasSuffix(".localhost") { return "loopback" }
        guard let bytes = IPAddressText.ipv4Numeric(bare) ?? IPAddressText.ipv6(bare) else { return nil }
        return SpecialPurposeAddresses.refusal(for: bytes)?.name
    }

    /// Why an address is not a global destination, or nil when it is.
    public static func classify(_ address: String) -> NonGlobalAddress? {
        guard let bytes = IPAddressText.ipv4Numeric(address) ?? IPAddressText.ipv6(address) else {
            return NonGlobalAddress(name: "unparseable", range: address, reference: "-", carrier: nil)
        }
        return SpecialPurposeAddresses.refusal(for: bytes)
    }

    /// The name of the block an address falls in (`loopback`, `private`, ...), or nil
    /// when it is global.
    public static func nonPublicKind(_ address: String) -> String? {
        classify(address)?.name
    }

    static func withoutBrackets(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    /// All addresses of `host` (itself when it is a literal), via getaddrinfo off the
    /// cooperative thread pool.
    static func resolve(_ host: String) async throws -> [String] {
        // A numeric host is connected to as is (in its canonical form): no lookup.
        if let bytes = IPAddressText.ipv4Numeric(host) ?? IPAddressText.ipv6(host) {
            return [IPAddressText.string(bytes)]
        }
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
            var bytes: [UInt8] = []
            if info.pointee.ai_family == AF_INET, let raw = info.pointee.ai_addr {
                raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var addr = sin.pointee.sin_addr
                    bytes = withUnsafeBytes(of: &addr) { Array($0) }
                }
            } else if info.pointee.ai_family == AF_INET6, let raw = info.pointee.ai_addr {
                raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var addr = sin6.pointee.sin6_addr
                    bytes = withUnsafeBytes(of: &addr) { Array($0) }
                }
            }
            let text = bytes.isEmpty ? "" : IPAddressText.string(bytes)
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
    case nonPublic(host: String, String, NonGlobalAddress)

    public var description: String {
        switch self {
        case .invalidURL(let url): "refused: '\(url)' is not an http(s) URL"
        case .unresolvable(let host): "host '\(host)' did not resolve"
        case .nonPublic(let host, let address, let reason):
            "refused: \(host) resolves to \(address), a \(reason) (start easel with --allow-private-webhooks to allow)"
        }
    }
}
