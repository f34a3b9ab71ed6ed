@testable import EaselServer
import Foundation
import HTTPTypes
import NIOCore
import Testing

/// DNS rebinding: a delivery connects to the address the guard checked, for https as for
/// http, while the URL (so the Host header, TLS's SNI and certificate validation) keeps
/// the name. Nothing here leaves loopback: https is checked on the client configuration,
/// and the one real connection goes to a loopback receiver.
@Suite struct WebhookPinningTests {
    static func delivery(url: String) -> WebhookDelivery {
        WebhookDelivery(
            id: "msg_1", jobId: "job", workspaceId: "ws", url: url, payload: Data("{}".utf8), state: .pending,
            attempts: 0, nextAttemptAt: Date(), createdAt: Date(), lastError: nil)
    }

    @Test func anHTTPSTargetIsPinnedToTheVettedAddressAndKeepsItsName() throws {
        let url = "https://hooks.example.com:8443/easel?x=1"
        let target = AddressGuard.Target(
            url: try #require(URL(string: url)), host: "hooks.example.com", addresses: ["93.184.216.34", "2606:2800::1"])
        let configuration = WebhookDispatcher.clientConfiguration(pinnedTo: target)
        #expect(configuration.dnsOverride == ["hooks.example.com": "93.184.216.34"], "connects to the checked address")
        // nil is the client's default TLS, which verifies the chain against the URL's host.
        #expect(
            configuration.tlsConfiguration == nil || configuration.tlsConfiguration?.certificateVerification == .fullVerification,
            "the certificate is still checked")

        let request = try WebhookDispatcher.request(for: Self.delivery(url: url), secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        #expect(request.url == url, "the request names the host: Host header, SNI and validation use it")
        #expect(request.headers["host"].isEmpty, "the client derives Host from the URL")
    }

    @Test func anIPv6VettedAddressIsPinnedToo() throws {
        let target = AddressGuard.Target(
            url: try #require(URL(string: "https://v6.example/")), host: "v6.example", addresses: ["2606:4700:4700::1111"])
        #expect(WebhookDispatcher.clientConfiguration(pinnedTo: target).dnsOverride == ["v6.example": "2606:4700:4700::1111"])
    }

    @Test func aLiteralHostNeedsNoPinning() throws {
        let target = AddressGuard.Target(
            url: try #require(URL(string: "https://8.8.8.8/")), host: "8.8.8.8", addresses: ["8.8.8.8"])
        #expect(WebhookDispatcher.clientConfiguration(pinnedTo: target).dnsOverride.isEmpty)
    }

    /// The receiver listens on 127.0.0.2 while the name `localhost` resolves (from
    /// /etc/hosts, no DNS) to 127.0.0.1: reaching the receiver proves the client connected
    /// to the pinned address instead of resolving the name, and the receiver saw the name
    /// in `Host`. Either way nothing leaves loopback. (Linux: all of 127/8 is on `lo`.)
    @Test(.enabled(if: Self.isLinux))
    func aDeliveryConnectsToThePinnedAddressNotTheName() async throws {
        let receiver = WebhookReceiver(address: "127.0.0.2")
        try await receiver.run { url in
            let port = try #require(URL(string: url)?.port)
            let named = "http://localhost:\(port)/hook"
            let target = AddressGuard.Target(
                url: try #require(URL(string: named)), host: "localhost", addresses: ["127.0.0.2"])
            let request = try WebhookDispatcher.request(for: Self.delivery(url: named), secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            // Generous: the whole suite shares two cores with the engine's tests.
            let status = try await WebhookDispatcher.send(request, pinnedTo: target, deadline: .now() + .seconds(60))
            #expect(status == 204)
            let received = try #require(receiver.received.current.first)
            #expect(received.authority == "localhost:\(port)")
        }
    }

    static var isLinux: Bool {
        #if os(Linux)
        true
        #else
        false
        #endif
    }
}
