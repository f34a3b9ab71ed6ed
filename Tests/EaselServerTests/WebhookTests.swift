import EaselDiffusion
import EaselServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Webhook delivery: retries with backoff, body equal to GET, Standard Webhooks signature,
/// every attempt recorded, private addresses refused by default.
@Suite struct WebhookTests {
    @Test func receiverThatFailsTwiceGetsTheJobExactlyAsGetReturnsItSigned() async throws {
        // The timeout leaves room for a loaded machine (the whole suite runs beside this test):
        // the first answer (500) must arrive within it, the hang must outlast it.
        let receiver = WebhookReceiver(script: [.status(.internalServerError), .hang(.seconds(4))])
        let server = try await TestServer.make {
            $0.webhooks.allowPrivateAddresses = true
            $0.webhooks.timeout = .milliseconds(1500)
        }
        try await receiver.run { url in
            try await server.application().test(.router) { client in
                let id = try #require(try await client.submit(server, ["webhookUrl": url])["id"] as? String)
                _ = try await client.waitForEnd(server, id: id)
                try await eventually("three delivery attempts") { receiver.received.current.count >= 3 }
                try await eventually("the delivery to be recorded as delivered") {
                    try await server.store.deliveries(jobId: id).first?.state == .delivered
                }
                let deliveries = receiver.received.current
                #expect(deliveries.count == 3)
                let get = try await client.send(.get, "\(server.inferencesPath)/\(id)", key: server.keyA)
                let last = try #require(deliveries.last)
                #expect(last.body == get.bodyData, "the webhook body is the job exactly as GET returns it")
                #expect(last.headers[.contentType] == "application/json")

                let messageId = try #require(last.headers[HTTPField.Name("webhook-id")!])
                #expect(deliveries.allSatisfy { $0.headers[HTTPField.Name("webhook-id")!] == messageId })
                let timestamp = try #require(Int(last.headers[HTTPField.Name("webhook-timestamp")!] ?? ""))
                #expect(abs(Double(timestamp) - Date().timeIntervalSince1970) < 60)
                let signature = try #require(last.headers[HTTPField.Name("webhook-signature")!])
                #expect(signature.hasPrefix("v1,"))
                #expect(
                    WebhookSigner.verify(
                        secret: server.workspaceA.webhookSecret, messageId: messageId, timestamp: timestamp,
                        payload: last.body, signatureHeader: signature))
                #expect(
                    !WebhookSigner.verify(
                        secret: server.workspaceB.webhookSecret, messageId: messageId, timestamp: timestamp,
                        payload: last.body, signatureHeader: signature))

                let delivery = try #require(try await server.store.deliveries(jobId: id).first)
                let attempts = try await server.store.attempts(deliveryId: delivery.id)
                #expect(attempts.map(\.number) == [1, 2, 3])
                #expect(attempts[0].statusCode == 500)
                #expect(attempts[1].statusCode == nil && attempts[1].error != nil, "the second attempt timed out")
                #expect(attempts[2].statusCode == 204 && attempts[2].error == nil)
                #expect(attempts[2].at.timeIntervalSince(attempts[1].at) >= 1.55, "1.5 s timeout, then the doubled 100 ms backoff")
            }
        }
    }

    @Test func failedJobsAreDeliveredToo() async throws {
        let receiver = WebhookReceiver()
        let server = try await TestServer.make { $0.webhooks.allowPrivateAddresses = true }
        server.generator.failure.withLock { $0 = ImageGenerationError.badOutput("boom") }
        try await receiver.run { url in
            try await server.application().test(.router) { client in
                let id = try #require(try await client.submit(server, ["webhookUrl": url])["id"] as? String)
                _ = try await client.waitForEnd(server, id: id)
                try await eventually("the delivery") { receiver.received.current.count == 1 }
                let body = try #require(
                    try JSONSerialization.jsonObject(with: receiver.received.current[0].body) as? [String: Any])
                #expect(body["state"] as? String == "failed")
                #expect(body["id"] as? String == id)
            }
        }
    }

    @Test func deliveryToAPrivateAddressIsRefusedAndRecorded() async throws {
        let receiver = WebhookReceiver()
        let server = try await TestServer.make()
        try await receiver.run { url in
            try await server.application().test(.router) { client in
                // The submit check refuses literal private addresses; one slipped in some other
                // way (here: straight into the store) is refused again at delivery.
                let parameters = GenerationRequest(prompt: "x", negativePrompt: "", steps: 1, width: 64, height: 64, seed: 1)
                let job = NewJob(
                    workspaceId: server.workspaceA.id, modelId: server.model.id, parameters: parameters, webhookUrl: url)
                _ = try await server.store.enqueue(job, idempotency: nil, maxQueued: 10)
                server.components.workSignal.signal()
                _ = try await client.waitForEnd(server, id: job.id)
                try await eventually("the refusal to be recorded") {
                    try await server.store.deliveries(jobId: job.id).first?.state == .refused
                }
                let delivery = try #require(try await server.store.deliveries(jobId: job.id).first)
                let attempts = try await server.store.attempts(deliveryId: delivery.id)
                #expect(attempts.count == 1)
                #expect(attempts.first?.error?.contains("loopback") == true)
                #expect(receiver.received.current.isEmpty, "nothing was sent")
            }
        }
    }

    @Test func givesUpAfterMaxAttempts() async throws {
        let receiver = WebhookReceiver(script: Array(repeating: .status(.badGateway), count: 10))
        let server = try await TestServer.make {
            $0.webhooks.allowPrivateAddresses = true
            $0.webhooks.maxAttempts = 3
            $0.webhooks.initialBackoff = .milliseconds(10)
        }
        try await receiver.run { url in
            try await server.application().test(.router) { client in
                let id = try #require(try await client.submit(server, ["webhookUrl": url])["id"] as? String)
                _ = try await client.waitForEnd(server, id: id)
                try await eventually("the delivery to be given up") {
                    try await server.store.deliveries(jobId: id).first?.state == .failed
                }
                #expect(receiver.received.current.count == 3)
            }
        }
    }

    @Test func signatureMatchesTheStandardWebhooksReferenceVector() throws {
        // The example from the Standard Webhooks specification.
        let signature = try WebhookSigner.signature(
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", messageId: "msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp: 1_614_265_330, payload: Data(#"{"test": 2432232314}"#.utf8))
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func addressGuardClassifiesEveryAddress() async throws {
        let cases: [(String, String?)] = [
            ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("10.0.0.1", "private"), ("172.16.0.1", "private"),
            ("172.31.255.255", "private"), ("172.32.0.1", nil), ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"), ("0.0.0.0", "unspecified ('this network')"), ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("224.0.0.1", "multicast"), ("8.8.8.8", nil), ("93.184.216.34", nil), ("::1", "loopback"),
            ("::", "unspecified"), ("fe80::1", "link-local"), ("fd00::1", "private (unique local)"),
            ("::ffff:127.0.0.1", "loopback"), ("::ffff:8.8.8.8", nil), ("2001:4860:4860::8888", nil),
            ("ff02::1", "multicast"),
        ]
        for (address, kind) in cases {
            #expect(AddressGuard.nonPublicKind(address) == kind, "\(address)")
        }
        await #expect(throws: AddressRefusal.self) { _ = try await AddressGuard(allowPrivate: false).vet("http://localhost:1/x") }
        await #expect(throws: AddressRefusal.self) { _ = try await AddressGuard(allowPrivate: false).vet("http://[::1]/x") }
        await #expect(throws: AddressRefusal.self) { _ = try await AddressGuard(allowPrivate: false).vet("file:///etc/passwd") }
        let allowed = try await AddressGuard(allowPrivate: true).vet("http://localhost:1/x")
        #expect(!allowed.addresses.isEmpty)
    }
}
