import EaselServer
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// What a workspace can see of its webhooks: the deliveries route (its own jobs only), and
/// a rotated signing secret taking effect for the next attempt.
@Suite struct WebhookVisibilityTests {
    @Test func theDeliveriesRouteListsEveryAttemptOfTheCallersJobOnly() async throws {
        let receiver = WebhookReceiver(script: [.status(.internalServerError)])
        let server = try await TestServer.make { $0.webhooks.allowPrivateAddresses = true }
        try await receiver.run { url in
            try await server.application().test(.router) { client in
                let id = try #require(try await client.submit(server, ["webhookUrl": url])["id"] as? String)
                _ = try await client.waitForEnd(server, id: id)
                try await eventually("the delivery to succeed on its second attempt") {
                    try await server.store.deliveries(jobId: id).first?.state == .delivered
                }
                let path = "\(server.inferencesPath)/\(id)/webhooks"
                let response = try await client.send(.get, path, key: server.keyA)
                #expect(response.status == .ok)
                let deliveries = try #require(try response.jsonObject()["deliveries"] as? [[String: Any]])
                #expect(deliveries.count == 1)
                let delivery = try #require(deliveries.first)
                let stored = try #require(try await server.store.deliveries(jobId: id).first)
                #expect(delivery["id"] as? String == stored.id)
                #expect(delivery["url"] as? String == url)
                #expect(delivery["state"] as? String == "delivered")
                #expect(delivery["nextAttemptAt"] == nil, "only pending deliveries have a next attempt")
                let attempts = try #require(delivery["attempts"] as? [[String: Any]])
                #expect(attempts.map { $0["number"] as? Int } == [1, 2])
                #expect(attempts[0]["statusCode"] as? Int == 500)
                #expect(attempts[0]["error"] as? String == "answered HTTP 500")
                #expect(attempts[1]["statusCode"] as? Int == 204)
                #expect(attempts[1]["error"] is NSNull, "error is present, null on success")
                for attempt in attempts {
                    #expect((attempt["at"] as? String)?.hasSuffix("Z") == true)
                    #expect((attempt["durationMs"] as? Double).map { $0 >= 0 } == true)
                }

                let other = try await client.send(.get, path, key: server.keyB)
                #expect(other.status == .notFound, "another workspace's job does not exist for it")
                #expect(try other.jsonObject()["statusCode"] as? Int == 404)
                let anonymous = try await client.send(.get, path)
                #expect(anonymous.status == .unauthorized)
                #expect(try anonymous.jsonObject()["statusCode"] as? Int == 401)
            }
        }
    }

    @Test func aJobWithoutAWebhookHasNoDeliveries() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let id = try #require(try await client.submit(server)["id"] as? String)
            let response = try await client.send(.get, "\(server.inferencesPath)/\(id)/webhooks", key: server.keyA)
            #expect(response.status == .ok)
            #expect(String(buffer: response.body) == #"{"deliveries":[]}"#)
            let unknown = try await client.send(.get, "\(server.inferencesPath)/no-such-job/webhooks", key: server.keyA)
            #expect(unknown.status == .notFound)

            let document = try await client.send(.get, "/openapi.json").jsonObject()
            let paths = try #require(document["paths"] as? [String: Any])
            #expect(paths["/api/v1/images/models/{modelId}/inferences/{inferenceId}/webhooks"] != nil)
            let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
            #expect(schemas["WebhookDeliveries"] != nil && schemas["WebhookAttempt"] != nil)
        }
    }

    @Test func rotatingTheSecretSignsTheNextAttemptWithTheNewOne() async throws {
        let receiver = WebhookReceiver(script: [.status(.internalServerError)])
        let server = try await TestServer.make {
            $0.webhooks.allowPrivateAddresses = true
            $0.webhooks.initialBackoff = .milliseconds(500)
        }
        let old = server.workspaceA.webhookSecret
        try await receiver.run { url in
            try await server.application().test(.router) { client in
                let id = try #require(try await client.submit(server, ["webhookUrl": url])["id"] as? String)
                _ = try await client.waitForEnd(server, id: id)
                try await eventually("the first attempt") { receiver.received.current.count >= 1 }
                let rotated = try #require(try await server.store.rotateWebhookSecret(workspaceId: server.workspaceA.id))
                #expect(rotated.webhookSecret != old)
                #expect(rotated.webhookSecret.hasPrefix("whsec_"))
                #expect(try await server.store.workspace(id: server.workspaceA.id)?.webhookSecret == rotated.webhookSecret)
                #expect(
                    try await server.store.workspace(id: server.workspaceB.id)?.webhookSecret
                        == server.workspaceB.webhookSecret, "other workspaces keep theirs")
                try await eventually("the retry") { receiver.received.current.count >= 2 }

                let received = receiver.received.current
                func verifies(_ delivery: WebhookReceiver.Delivery, _ secret: String) -> Bool {
                    guard let messageId = delivery.headers[HTTPField.Name("webhook-id")!],
                        let timestamp = Int(delivery.headers[HTTPField.Name("webhook-timestamp")!] ?? ""),
                        let signature = delivery.headers[HTTPField.Name("webhook-signature")!]
                    else { return false }
                    return WebhookSigner.verify(
                        secret: secret, messageId: messageId, timestamp: timestamp, payload: delivery.body,
                        signatureHeader: signature)
                }
                #expect(verifies(received[0], old) && !verifies(received[0], rotated.webhookSecret))
                #expect(verifies(received[1], rotated.webhookSecret), "the retry is signed with the new secret")
                #expect(!verifies(received[1], old), "the old secret no longer verifies")
            }
        }
        #expect(try await server.store.rotateWebhookSecret(workspaceId: "no-such-workspace") == nil)
    }
}
