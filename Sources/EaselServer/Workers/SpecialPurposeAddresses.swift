import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An address block such as `10.0.0.0/8` or `2001:db8::/32`: network bytes (4 or 16) and
/// a prefix length.
struct IPNetwork: Sendable, CustomStringConvertible {
    let bytes: [UInt8]
    let prefixLength: Int
    let description: String

    /// Parses `address/prefix`. The table below is constant, so a typo in it is a
    /// programming error caught by the first test that touches the guard.
    init(_ cidr: String) {
        let parts = cidr.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let prefix = Int(parts[1]),
            let bytes = IPAddressText.ipv4(parts[0]) ?? IPAddressText.ipv6(parts[0]), (0...bytes.count * 8).contains(prefix)
        else { preconditionFailure("bad CIDR in the special-purpose table: \(cidr)") }
        self.bytes = bytes
        self.prefixLength = prefix
        self.description = cidr
    }

    func contains(_ address: [UInt8]) -> Bool {
        guard address.count == bytes.count else { return false }
        var remaining = prefixLength
        for index in bytes.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask: UInt8 = bits == 8 ? 0xff : ~(0xff >> UInt8(bits))
            if address[index] & mask != bytes[index] & mask { return false }
            remaining -= bits
        }
        return true
    }
}

/// One entry of IANA's IPv4 or IPv6 Special-Purpose Address Registry (RFC 6890 and its
/// updates), or an IPv6 block that carries an IPv4 address and is judged by it.
struct SpecialPurposeBlock: Sendable {
    enum Treatment: Sendable {
        /// Never a webhook destination.
        case refuse
        /// The IPv4 address at this byte offset decides (IPv4-mapped, -compatible, NAT64, 6to4).
        case embedsIPv4(at: Int)
    }

    let network: IPNetwork
    let name: String
    let reference: String
    let treatment: Treatment

    init(_ cidr: String, _ name: String, _ reference: String, _ treatment: Treatment = .refuse) {
        network = IPNetwork(cidr)
        self.name = name
        self.reference = reference
        self.treatment = treatment
    }
}

/// The blocks a webhook may not reach, as data. The first matching row names the
/// refusal, so a more specific block comes before the block containing it.
///
/// Decisions beyond the registry's "Globally Reachable" column:
/// - IANA marks a few anycast service addresses inside the IETF protocol-assignment blocks
///   as global (192.0.0.9/32 PCP, 192.0.0.10/32 TURN; 2001:1::1-3, 2001:3::/32 AMT,
///   2001:4:112::/48 AS112, 2001:20::/28 ORCHIDv2, 2001:30::/28 drone ID). No webhook
///   receiver lives on a protocol's anycast address, so the whole of 192.0.0.0/24 and
///   2001::/23 is refused: one rule, no carve-outs to get wrong.
/// - The deprecated IPv4-compatible form (`::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::/48`)
///   are judged by the IPv4 address they carry, as IPv4-mapped and NAT64 addresses are.
/// - Teredo (2001::/32) hides its client address (XORed), so it is refused outright.
/// - IPv6 outside 2000::/3 (the only block IANA allocates for global unicast) is refused
///   even when no row names it.
enum SpecialPurposeAddresses {
    static let ipv4: [SpecialPurposeBlock] = [
        .init("0.0.0.0/8", "unspecified ('this network')", "RFC 791"),
        .init("10.0.0.0/8", "private", "RFC 1918"),
        .init("100.64.0.0/10", "shared (carrier-grade NAT)", "RFC 6598"),
        .init("127.0.0.0/8", "loopback", "RFC 1122"),
        .init("169.254.0.0/16", "link-local", "RFC 3927"),
        .init("172.16.0.0/12", "private", "RFC 1918"),
        .init("192.0.0.0/24", "IETF protocol assignments", "RFC 6890"),
        .init("192.0.2.0/24", "documentation (TEST-NET-1)", "RFC 5737"),
        .init("192.88.99.0/24", "6to4 relay anycast (deprecated)", "RFC 7526"),
        .init("192.168.0.0/16", "private", "RFC 1918"),
        .init("198.18.0.0/15", "benchmarking", "RFC 2544"),
        .init("198.51.100.0/24", "documentation (TEST-NET-2)", "RFC 5737"),
        .init("203.0.113.0/24", "documentation (TEST-NET-3)", "RFC 5737"),
        .init("224.0.0.0/4", "multicast", "RFC 5771"),
        .init("255.255.255.255/32", "limited broadcast", "RFC 919"),
        .init("240.0.0.0/4", "reserved", "RFC 1112"),
    ]

    static let ipv6: [SpecialPurposeBlock] = [
        .init("::/128", "unspecified", "RFC 4291"),
        .init("::1/128", "loopback", "RFC 4291"),
        .init("::ffff:0:0/96", "IPv4-mapped", "RFC 4291", .embedsIPv4(at: 12)),
        .init("::/96", "IPv4-compatible (deprecated)", "RFC 4291", .embedsIPv4(at: 12)),
        .init("64:ff9b::/96", "IPv4/IPv6 translation (NAT64)", "RFC 6052", .embedsIPv4(at: 12)),
        .init("64:ff9b:1::/48", "local-use IPv4/IPv6 translation", "RFC 8215"),
        .init("100::/64", "discard-only", "RFC 6666"),
        .init("2001::/32", "Teredo", "RFC 4380"),
        .init("2001:2::/48", "benchmarking", "RFC 5180"),
        .init("2001::/23", "IETF protocol assignments", "RFC 2928"),
        .init("2001:db8::/32", "documentation", "RFC 3849"),
        .init("2002::/16", "6to4", "RFC 3056", .embedsIPv4(at: 2)),
        .init("3fff::/20", "documentation", "RFC 9637"),
        .init("5f00::/16", "segment routing (SRv6) SIDs", "RFC 9602"),
        .init("fc00::/7", "private (unique local)", "RFC 4193"),
        .init("fe80::/10", "link-local", "RFC 4291"),
        .init("fec0::/10", "site-local (deprecated)", "RFC 3879"),
        .init("ff00::/8", "multicast", "RFC 4291"),
    ]

    /// Global unicast: every other IPv6 address is refused.
    static let ipv6GlobalUnicast = SpecialPurposeBlock("2000::/3", "non-global-unicast", "RFC 4291")

    /// Why `address` (4 or 16 bytes) is not a global destination, or nil when it is.
    static func refusal(for address: [UInt8]) -> NonGlobalAddress? {
        address.count == 4 ? refusal(ipv4: address) : refusal(ipv6: address)
    }

    static func refusal(ipv4 address: [UInt8]) -> NonGlobalAddress? {
        ipv4.first { $0.network.contains(address) }.map { NonGlobalAddress(block: $0) }
    }

    static func refusal(ipv6 address: [UInt8]) -> NonGlobalAddress? {
        if let block = ipv6.first(where: { $0.network.contains(address) }) {
            switch block.treatment {
            case .refuse:
                return NonGlobalAddress(block: block)
            case .embedsIPv4(let offset):
                let embedded = Array(address[offset..<offset + 4])
                return refusal(ipv4: embedded).map { $0.embedded(in: block) }
            }
        }
        guard ipv6GlobalUnicast.network.contains(address) else {
            return NonGlobalAddress(
                name: "reserved (not global unicast)", range: "outside \(ipv6GlobalUnicast.network)",
                reference: ipv6GlobalUnicast.reference, carrier: nil)
        }
        return nil
    }
}

/// Why an address is not a webhook destination: the special-purpose block it falls in,
/// and the IPv6 form that carried it when the deciding address was an embedded IPv4 one.
public struct NonGlobalAddress: Sendable, Equatable, CustomStringConvertible {
    /// The block's name, e.g. `loopback` or `documentation (TEST-NET-1)`.
    public let name: String
    /// The block, e.g. `127.0.0.0/8`.
    public let range: String
    public let reference: String
    /// E.g. `IPv4-mapped ::ffff:0:0/96` when the IPv4 address came inside an IPv6 one.
    public let carrier: String?

    init(name: String, range: String, reference: String, carrier: String?) {
        self.name = name
        self.range = range
        self.reference = reference
        self.carrier = carrier
    }

    init(block: SpecialPurposeBlock) {
        self.init(name: block.name, range: "\(block.network)", reference: block.reference, carrier: nil)
    }

    func embedded(in block: SpecialPurposeBlock) -> NonGlobalAddress {
        NonGlobalAddress(name: name, range: range, reference: reference, carrier: "\(block.name) \(block.network)")
    }

    /// `loopback address (127.0.0.0/8, RFC 1122), carried in IPv4-mapped ::ffff:0:0/96`.
    public var description: String {
        "\(name) address (\(range), \(reference))" + (carrier.map { ", carried in \($0)" } ?? "")
    }
}

/// Text to address bytes, with the C library's parsers.
enum IPAddressText {
    /// Strict dotted quad (`inet_pton`).
    static func ipv4(_ text: String) -> [UInt8]? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    static func ipv6(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    /// Every numeric IPv4 form the resolver accepts (`inet_aton`): `127.1`, `2130706433`,
    /// `0x7f000001`, `0177.0.0.1`, `0`. A URL host in one of these forms connects to that
    /// address without any DNS lookup, so it must be judged as that address.
    static func ipv4Numeric(_ text: String) -> [UInt8]? {
        // inet_aton stops at whitespace and ignores what follows; a host never has any.
        guard !text.isEmpty, !text.contains(where: \.isWhitespace) else { return nil }
        var address = in_addr()
        guard inet_aton(text, &address) != 0 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    /// Canonical text of 4 or 16 address bytes.
    static func string(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
