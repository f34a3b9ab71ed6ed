import EaselServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Easel's additions: event stream, cancel, queue place and estimates, idempotent
/// submits, the per-workspace waiting limit.
@Suite struct ProgressAndQueueTests {
    /// Parses `event: X\ndata: Y\n\n` blocks (comments skipped).
    static func events(_ body: String) -> [(event: String, data: [String: Any])] {
        body.components(separatedBy: "\n\n").compactMap { block in
            var event = "message"
            var data = ""
            for line in block.split(separator: "\n") {
                if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data += line.dropFirst(6) }
            }
            guard !data.isEmpty,
                let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any]
            else { return nil }
            return (event, object)
        }
    }

    @Test func eventStreamDeliversEveryStepInOrderAndEndsWithTheFinalState() async throws {
        let gate = Gate()
        let server = try await TestServer.make(generator: FakeGenerator(stepDelay: .milliseconds(2), gate: gate))
        try await server.application().test(.router) { client in
            let id = try #require(try await client.submit(server, ["steps": 12])["id"] as? String)
            async let stream = client.send(.get, "\(server.inferencesPath)/\(id)/events", key: server.keyA)
            // The worker follows the job too; wait until the stream is subscribed as well.
            try await eventually("the event stream to subscribe") {
                server.components.events.subscriberCount(jobId: id) >= 2
            }
            gate.open()
            let response = try await stream
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/event-stream")
            let events = Self.events(String(buffer: response.body))
            let steps = events.filter { $0.event == "step" }.compactMap { $0.data["step"] as? Int }
            #expect(steps == Array(1...12))
            #expect(events.filter { $0.event == "step" }.allSatisfy { $0.data["totalSteps"] as? Int == 12 })
            let last = try #require(events.last)
            #expect(last.event == "state")
            #expect(last.data["state"] as? String == "finished")
            #expect((last.data["images"] as? [Any])?.count == 1)
            let states = events.filter { $0.event == "state" }.compactMap { $0.data["state"] as? String }
            #expect(states.first == "queued" || states.first == "processing")
            #expect(states.contains("processing"))
        }
    }

    @Test func streamOfAnEndedJobIsItsFinalState() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let id = try #require(try await client.submit(server)["id"] as? String)
            _ = try await client.waitForEnd(server, id: id)
            let response = try await client.send(.get, "\(server.inferencesPath)/\(id)/events", key: server.keyA)
            let events = Self.events(String(buffer: response.body))
            #expect(events.count == 1)
            #expect(events.first?.data["state"] as? String == "finished")
        }
    }

    @Test func cancellingAQueuedJobFailsItAtOnce() async throws {
        let server = try await TestServer.make(generator: FakeGenerator(gate: Gate()))
        try await server.application().test(.router) { client in
            _ = try await client.submit(server)  // holds the worker
            let id = try #require(try await client.submit(server)["id"] as? String)
            let response = try await client.send(.post, "\(server.inferencesPath)/\(id)/cancel", key: server.keyA)
            #expect(response.status == .ok)
            let job = try response.jsonObject()
            #expect(job["state"] as? String == "failed")
            #expect(job["errorReason"] as? String == "cancelled")
            let again = try await client.send(.post, "\(server.inferencesPath)/\(id)/cancel", key: server.keyA)
            #expect(again.status == .ok, "cancelling a cancelled job is idempotent")
        }
    }

    @Test func cancellingARunningJobStopsItBetweenSteps() async throws {
        let server = try await TestServer.make(generator: FakeGenerator(stepDelay: .milliseconds(20)))
        try await server.application().test(.router) { client in
            let id = try #require(try await client.submit(server, ["steps": 100])["id"] as? String)
            let running = try await client.waitFor(server, id: id) { ($0["currentStep"] as? Int ?? 0) >= 2 }
            #expect(running["state"] as? String == "processing")
            #expect(running["totalSteps"] as? Int == 100)
            #expect(running["estimatedSecondsLeft"] is Double)
            let response = try await client.send(.post, "\(server.inferencesPath)/\(id)/cancel", key: server.keyA)
            #expect(response.status == .accepted)
            #expect(try response.jsonObject()["cancelRequested"] as? Bool == true)
            let ended = try await client.waitForEnd(server, id: id)
            #expect(ended["state"] as? String == "failed")
            #expect(ended["errorReason"] as? String == "cancelled")
            #expect((ended["images"] as? [Any])?.isEmpty == true)
            let steps = try #require(try await server.store.job(id: id, workspaceId: server.workspaceA.id)?.job.currentStep)
            #expect(steps < 100)
        }
    }

    @Test func cancellingAFinishedJobIsAConflict() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let id = try #require(try await client.submit(server)["id"] as? String)
            _ = try await client.waitForEnd(server, id: id)
            let response = try await client.send(.post, "\(server.inferencesPath)/\(id)/cancel", key: server.keyA)
            #expect(response.status == .conflict)
            #expect(try response.jsonObject()["statusCode"] as? Int == 409)
        }
    }

    @Test func queuedJobsShowTheirPlaceAndRoundRobinAcrossWorkspaces() async throws {
        let server = try await TestServer.make(generator: FakeGenerator(gate: Gate()))
        try await server.application().test(.router) { client in
            let running = try #require(try await client.submit(server)["id"] as? String)
            _ = try await client.waitFor(server, id: running) { $0["state"] as? String == "processing" }
            var a: [String] = []
            for _ in 0..<3 { a.append(try #require(try await client.submit(server)["id"] as? String)) }
            let b = try #require(try await client.submit(server, key: server.keyB)["id"] as? String)
            // alpha was just served, so beta's job goes first: b, a0, a1, a2.
            let placeB = try await client.send(.get, "\(server.inferencesPath)/\(b)", key: server.keyB).jsonObject()
            #expect(placeB["queuePosition"] as? Int == 1)
            var places: [Int] = []
            for id in a {
                let job = try await client.send(.get, "\(server.inferencesPath)/\(id)", key: server.keyA).jsonObject()
                places.append(job["queuePosition"] as? Int ?? -1)
            }
            #expect(places == [2, 3, 4])
        }
    }

    @Test func repeatedIdempotencyKeyReturnsTheFirstJob() async throws {
        let server = try await TestServer.make(generator: FakeGenerator(gate: Gate()))
        try await server.application().test(.router) { client in
            let body: [String: Any] = ["prompt": "once", "width": 64, "height": 64, "steps": 2]
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "retry-123"]
            let first = try await client.send(.post, server.inferencesPath, key: server.keyA, json: body, headers: key)
            let second = try await client.send(.post, server.inferencesPath, key: server.keyA, json: body, headers: key)
            #expect(first.status == .created)
            #expect(second.status == .created)
            #expect(second.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(try first.jsonObject()["id"] as? String == second.jsonObject()["id"] as? String)
            let all = try await client.send(.get, server.inferencesPath, key: server.keyA).jsonArray()
            #expect(all.count == 1, "generated once")

            let different = try await client.send(
                .post, server.inferencesPath, key: server.keyA, json: ["prompt": "other"], headers: key)
            #expect(different.status == .unprocessableContent)
            // Another workspace's identical key is its own.
            let other = try await client.send(.post, server.inferencesPath, key: server.keyB, json: body, headers: key)
            #expect(other.status == .created)
            #expect(try other.jsonObject()["id"] as? String != first.jsonObject()["id"] as? String)
            let bad = try await client.send(
                .post, server.inferencesPath, key: server.keyA, json: body,
                headers: [HTTPField.Name("Idempotency-Key")!: String(repeating: "k", count: 300)])
            #expect(bad.status == .badRequest)
        }
    }

    @Test func tooManyWaitingJobsIs429WithRetryAfter() async throws {
        let server = try await TestServer.make(generator: FakeGenerator(gate: Gate())) {
            $0.limits.maxQueuedPerWorkspace = 2
        }
        try await server.application().test(.router) { client in
            let running = try #require(try await client.submit(server)["id"] as? String)
            _ = try await client.waitFor(server, id: running) { $0["state"] as? String == "processing" }
            _ = try await client.submit(server)
            _ = try await client.submit(server)
            let refused = try await client.send(
                .post, server.inferencesPath, key: server.keyA, json: ["prompt": "x", "width": 64, "height": 64])
            #expect(refused.status == .tooManyRequests)
            #expect(Int(refused.headers[.retryAfter] ?? "") ?? 0 >= 1)
            let body = try refused.jsonObject()
            #expect(body["statusCode"] as? Int == 429)
            #expect(body["error"] as? String == "Too Many Requests")
            // Other workspaces are not held back by alpha's queue.
            _ = try await client.submit(server, key: server.keyB)
        }
    }
}
