import EaselDiffusion
import EaselServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Live previews through the service: while a job runs its entity carries `preview`
/// (`{step, uri}`), the URI serves the PNG to the job's owner, the event stream announces
/// it, and when the job ends the preview goes (from the entity and the disk).
@Suite struct PreviewRoutesTests {
    @Test func aRunningJobShowsItsLatestPreviewUntilItEnds() async throws {
        let gate = Gate()
        let server = try await TestServer.make(generator: FakeGenerator(previewGate: gate))
        try await server.application().test(.router) { client in
            let id = try #require(try await client.submit(server, ["steps": 3])["id"] as? String)
            let path = "\(server.inferencesPath)/\(id)"
            var job: [String: Any] = [:]
            try await eventually("the job to show a preview") {
                job = try await client.send(.get, path, key: server.keyA).jsonObject()
                return job["preview"] != nil
            }
            let preview = try #require(job["preview"] as? [String: Any])
            #expect(preview["step"] as? Int == 1)
            let uri = try #require(preview["uri"] as? String)
            #expect(uri == "\(TestServer.publicURL)\(path)/preview.png")
            let png = try await client.send(.get, String(uri.dropFirst(TestServer.publicURL.count)), key: server.keyA)
            #expect(png.status == .ok && png.headers[.contentType] == "image/png")
            #expect(TestPNG.dimensions(png.bodyData).map { [$0.width, $0.height] } == [8, 8])
            // Another workspace's key does not see it.
            let foreign = try await client.send(.get, String(uri.dropFirst(TestServer.publicURL.count)), key: server.keyB)
            #expect(foreign.status == .notFound)

            // The event stream announces the stored preview, then follows the job to its end.
            async let stream = client.send(.get, "\(path)/events", key: server.keyA)
            try await eventually("the event stream to subscribe") {
                server.components.events.subscriberCount(jobId: id) >= 2
            }
            try await Task.sleep(for: .milliseconds(1500))  // at least one look at the store
            gate.open()
            let events = ProgressAndQueueTests.events(String(buffer: try await stream.body))
            let previews = events.filter { $0.event == "preview" }
            #expect(previews.count == 1 && previews.first?.data["step"] as? Int == 1 && previews.first?.data["uri"] as? String == uri)

            let ended = try await client.send(.get, path, key: server.keyA).jsonObject()
            #expect(ended["state"] as? String == "finished")
            #expect(ended["preview"] == nil)
            #expect(try await client.send(.get, String(uri.dropFirst(TestServer.publicURL.count)), key: server.keyA).status == .notFound)
            let left = (try? FileManager.default.contentsOfDirectory(
                atPath: server.components.configuration.dataDirectory.previewsFolder.path)) ?? []
            #expect(left.isEmpty, "previews left behind: \(left)")
        }
    }
}
