@testable import EaselServer
import Foundation
import Testing

/// The webhook address guard against IANA's IPv4 and IPv6 Special-Purpose Address
/// Registries: every check here is a pure function of the address (or of the URL text at
/// submit time), so no test sends anything anywhere.
@Suite struct AddressGuardTests {
    /// Blocks that are not globally reachable, from
    /// https://www.iana.org/assignments/iana-ipv4-special-registry and
    /// https://www.iana.org/assignments/iana-ipv6-special-registry (plus multicast,
    /// reserved and the deprecated forms), written out independently of the guard's table:
    /// (block, first address, last address).
    static let ipv4Registry: [(String, String, String)] = [
        ("0.0.0.0/8", "0.0.0.0", "0.255.255.255"),
        ("10.0.0.0/8", "10.0.0.0", "10.255.255.255"),
        ("100.64.0.0/10", "100.64.0.0", "100.127.255.255"),
        ("127.0.0.0/8", "127.0.0.0", "127.255.255.255"),
        ("169.254.0.0/16", "169.254.0.0", "169.254.255.255"),
        ("172.16.0.0/12", "172.16.0.0", "172.31.255.255"),
        ("192.0.0.0/24", "192.0.0.0", "192.0.0.255"),
        ("192.0.0.0/29", "192.0.0.0", "192.0.0.7"),
        ("192.0.0.8/32", "192.0.0.8", "192.0.0.8"),
        ("192.0.0.9/32", "192.0.0.9", "192.0.0.9"),  // PCP anycast: global per IANA, refused by decision
        ("192.0.0.10/32", "192.0.0.10", "192.0.0.10"),  // TURN anycast: likewise
        ("192.0.0.170/31", "192.0.0.170", "192.0.0.171"),
        ("192.0.2.0/24", "192.0.2.0", "192.0.2.255"),
        ("192.88.99.0/24", "192.88.99.0", "192.88.99.255"),
        ("192.168.0.0/16", "192.168.0.0", "192.168.255.255"),
        ("198.18.0.0/15", "198.18.0.0", "198.19.255.255"),
        ("198.51.100.0/24", "198.51.100.0", "198.51.100.255"),
        ("203.0.113.0/24", "203.0.113.0", "203.0.113.255"),
        ("224.0.0.0/4", "224.0.0.0", "239.255.255.255"),
        ("240.0.0.0/4", "240.0.0.0", "255.255.255.255"),
        ("255.255.255.255/32", "255.255.255.255", "255.255.255.255"),
    ]

    static let ipv6Registry: [(String, String, String)] = [
        ("::/128", "::", "::"),
        ("::1/128", "::1", "::1"),
        ("::ffff:0:0/96", "::ffff:0.0.0.0", "::ffff:255.255.255.255"),
        ("::/96 (IPv4-compatible, deprecated)", "::0.0.0.2", "::255.255.255.255"),
        ("64:ff9b::/96", "64:ff9b::", "64:ff9b::ffff:ffff"),
        ("64:ff9b:1::/48", "64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"),
        ("100::/64", "100::", "100::ffff:ffff:ffff:ffff"),
        ("2001::/23", "2001::", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("2001::/32", "2001::", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("2001:1::1/128 to 2001:1::3/128", "2001:1::1", "2001:1::3"),
        ("2001:2::/48", "2001:2::", "2001:2:0:ffff:ffff:ffff:ffff:ffff"),
        ("2001:3::/32", "2001:3::", "2001:3:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("2001:10::/28", "2001:10::", "2001:1f:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("2001:4:112::/48", "2001:4:112::", "2001:4:112:ffff:ffff:ffff:ffff:ffff"),
        ("2001:20::/28", "2001:20::", "2001:2f:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("2001:30::/28", "2001:30::", "2001:3f:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("2001:db8::/32", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("2002::/16", "2002::", "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("3fff::/20", "3fff::", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("5f00::/16", "5f00::", "5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("fc00::/7", "fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("fe80::/10", "fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("fec0::/10", "fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("ff00::/8", "ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ]

    @Test(arguments: ipv4Registry + ipv6Registry)
    func firstAndLastAddressOfEverySpecialPurposeBlockAreRefused(block: String, first: String, last: String) {
        for address in [first, last] {
            #expect(AddressGuard.classify(address) != nil, "\(address) (in \(block)) must be refused")
            #expect(AddressGuard.literalRefusal(host: address.contains(":") ? "[\(address)]" : address) != nil)
        }
    }

    @Test func theIssuesExamplesAreRefusedNamingTheirBlock() {
        let cases: [(String, String)] = [
            ("192.0.2.1", "192.0.2.0/24"),
            ("198.51.100.7", "198.51.100.0/24"),
            ("203.0.113.200", "203.0.113.0/24"),
            ("0.0.0.0", "0.0.0.0/8"),
            ("::192.168.1.1", "192.168.0.0/16"),  // IPv4-compatible, private IPv4
            ("::127.0.0.1", "127.0.0.0/8"),
            ("::ffff:10.0.0.1", "10.0.0.0/8"),
            ("64:ff9b::169.254.169.254", "169.254.0.0/16"),  // NAT64 of the metadata address
            ("2002:c0a8:0101::1", "192.168.0.0/16"),  // 6to4 of 192.168.1.1
            ("2001::1", "2001::/32"),  // Teredo
            ("fec0::1", "fec0::/10"),
            ("2001:db8::1", "2001:db8::/32"),
            ("::ffff:0:7f00:1", "outside 2000::/3"),  // SIIT translated form: not global unicast
            ("4000::1", "outside 2000::/3"),
        ]
        for (address, range) in cases {
            let reason = AddressGuard.classify(address)
            #expect(reason?.range == range, "\(address): \(String(describing: reason))")
        }
        let embedded = AddressGuard.classify("::ffff:127.0.0.1")
        #expect(embedded?.name == "loopback")
        #expect(embedded?.description == "loopback address (127.0.0.0/8, RFC 1122), carried in IPv4-mapped ::ffff:0:0/96")
        let refusal = AddressRefusal.nonPublic(host: "hooks.example", "192.0.2.1", AddressGuard.classify("192.0.2.1")!)
        #expect(refusal.description.contains("documentation (TEST-NET-1) address (192.0.2.0/24, RFC 5737)"))
    }

    @Test func globalAddressesAreAccepted() {
        for address in [
            "8.8.8.8", "1.1.1.1", "93.184.216.34", "172.32.0.1", "100.128.0.1", "192.0.1.255", "192.0.3.0",
            "198.20.0.1", "223.255.255.255", "192.31.196.1", "2606:4700:4700::1111", "2001:4860:4860::8888",
            "::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1", "2001:200::1", "2c0f:ffff::1",
        ] {
            #expect(AddressGuard.classify(address) == nil, "\(address) is global")
            #expect(AddressGuard.literalRefusal(host: address.contains(":") ? "[\(address)]" : address) == nil)
        }
    }

    /// What `inet_aton` (and so the resolver) reads as an IPv4 address is judged as that
    /// address at submit time.
    @Test func numericHostFormsAreReadAsTheResolverReadsThem() {
        let cases: [(String, String?)] = [
            ("0", "unspecified ('this network')"), ("127.1", "loopback"), ("2130706433", "loopback"),
            ("0x7f000001", "loopback"), ("0X7F.1", "loopback"), ("0177.0.0.1", "loopback"), ("10.1", "private"),
            ("3232235777", "private"), ("169.254.43518", "link-local"), ("134744072", nil),  // 8.8.8.8
            ("example.com", nil), ("1e100.net", nil), ("localhost", "loopback"), ("api.LOCALHOST", "loopback"),
        ]
        for (host, kind) in cases {
            #expect(AddressGuard.literalRefusal(host: host) == kind, "\(host)")
        }
        #expect(IPAddressText.ipv4Numeric("127.1").map(IPAddressText.string) == "127.0.0.1")
        #expect(IPAddressText.ipv4Numeric("0x7f000001").map(IPAddressText.string) == "127.0.0.1")
    }

    @Test func submittingANumericPrivateWebhookHostIsABadRequest() async throws {
        let server = try await TestServer.make { $0.workers = 0 }
        try await server.application().test(.router) { client in
            for url in ["http://0/", "http://127.1/", "http://2130706433/", "http://0x7f000001/", "http://192.0.2.1/",
                "https://[::ffff:127.0.0.1]/", "http://[2002:c0a8:101::1]/", "http://[fec0::1]/"]
            {
                let response = try await client.send(
                    .post, server.inferencesPath, key: server.keyA, json: ["prompt": "x", "webhookUrl": url])
                #expect(response.status == .badRequest, "\(url) answered \(response.status)")
                let message = try response.jsonObject()["message"] as? [String]
                #expect(message?.first?.hasPrefix("webhookUrl must not point to a") == true, "\(url): \(message ?? [])")
            }
            let listed = try await client.send(.get, server.inferencesPath, key: server.keyA)
            #expect(try listed.jsonArray().isEmpty, "nothing was stored")
        }
    }

    /// Resolution happens before the check, and numeric hosts resolve to themselves
    /// without DNS: the guard refuses them at delivery too (no connection is made).
    @Test func vetRefusesNumericFormsWithoutConnecting() async throws {
        let guardOff = AddressGuard(allowPrivate: false)
        for url in ["http://127.1:9/x", "http://0x7f000001/", "http://0/", "https://192.0.2.1/", "http://[fec0::1]/"] {
            await #expect(throws: AddressRefusal.self, "\(url)") { _ = try await guardOff.vet(url) }
        }
        let allowed = try await AddressGuard(allowPrivate: true).vet("http://127.1:9/x")
        #expect(allowed.addresses == ["127.0.0.1"], "connected to in canonical form")
    }
}
