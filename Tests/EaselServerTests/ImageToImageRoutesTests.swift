import EaselDiffusion
import EaselServer
import Foundation
import HummingbirdTesting
import Testing

/// Easel's image-to-image addition to the create-inference body: `initImage` (base64 or a
/// data: URL) and `strength`. Accepted images reach the engine pixel for pixel; every bad
/// one is a 400 naming the problem, and nothing is stored.
@Suite struct ImageToImageRoutesTests {
    /// A 72x64 PNG made by Easel's own encoder, and its pixels.
    static let picture = TestPNG.image(width: 72, height: 64, seed: 3)
    static var png: Data { (try? picture.pngData()) ?? Data() }

    @Test func anInitImageReachesTheEngineWithItsSizeAndStrength() async throws {
        let server = try await TestServer.make()
        try await server.application().test(.router) { client in
            let plain = try await client.submit(
                server, ["initImage": Self.png.base64EncodedString(), "strength": 0.5, "width": NSNull(), "height": NSNull()])
            #expect(plain["width"] as? Int == 72 && plain["height"] as? Int == 64, "the image's size is the default")
            #expect(plain["strength"] as? Double == 0.5)
            let dataURL = try await client.submit(
                server, ["initImage": "data:image/png;base64," + Self.png.base64EncodedString(), "width": 72, "height": 64])
            #expect(dataURL["strength"] as? Double == InitImage.defaultStrength)
            let text = try await client.submit(server, [:])
            #expect(text["strength"] == nil, "text to image has no strength")
            for job in [plain, dataURL, text] {
                let ended = try await client.waitForEnd(server, id: try #require(job["id"] as? String))
                #expect(ended["state"] as? String == "finished")
            }
            let calls = server.generator.calls.current
            #expect(calls.count == 3)
            let started = calls.compactMap(\.initImage)
            #expect(started.count == 2)
            #expect(started.allSatisfy { $0.image == Self.picture }, "the engine gets the uploaded pixels")
            #expect(Set(started.map(\.strength)) == [0.5, InitImage.defaultStrength])
        }
    }

    @Test func badInitImagesAre400AndStoreNothing() async throws {
        let server = try await TestServer.make {
            $0.limits.maxInitImageBytes = 4096
            $0.limits.maxPixelsPerImage = 128 * 128
        }
        let png = Self.png
        var state: UInt64 = 1
        let noise = (0..<(64 * 64 * 3)).map { _ -> UInt8 in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        let noisy = try RGBImage(width: 64, height: 64, pixels: noise).pngData()
        let odd = try TestPNG.image(width: 60, height: 64, seed: 1).pngData()
        nonisolated(unsafe) let cases: [([String: Any], String)] = [
            (["initImage": 5], "initImage must be a string (a base64 PNG or JPEG, or a data: URL)"),
            (["initImage": ""], "initImage should not be empty"),
            (["initImage": "not base64 at all!"], "initImage must be base64 (a PNG or JPEG file), or a data: URL"),
            (["initImage": Data("GIF89a....".utf8).base64EncodedString()], "initImage: not a PNG or JPEG image"),
            (["initImage": "data:image/gif;base64,R0lG"], "initImage must be a PNG or JPEG image (got image/gif)"),
            (["initImage": "data:image/png," + png.base64EncodedString()], "initImage must be a base64 data: URL (data:image/png;base64,...)"),
            (["initImage": png.prefix(png.count - 20).base64EncodedString()], "initImage: the image is damaged or truncated"),
            (["initImage": noisy.base64EncodedString()], "initImage must not be larger than 4096 bytes (this server's limit)"),
            (["initImage": odd.base64EncodedString()], "initImage is 60x64; its width and height must be multiples of 8, at least 64"),
            (["initImage": png.base64EncodedString(), "width": 64, "height": 64], "width and height must match the initImage's size (72x64), or be left out"),
            (["initImage": png.base64EncodedString(), "strength": 0], "strength must be greater than 0"),
            (["initImage": png.base64EncodedString(), "strength": 1.5], "strength must not be greater than 1"),
            (["initImage": png.base64EncodedString(), "strength": "high"], "strength must be a number conforming to the specified constraints"),
            (["initImage": png.base64EncodedString(), "strength": 0.1, "steps": 5], "steps x strength must be at least 1 (5 x 0.1 runs no step)"),
            (["strength": 0.5], "strength is only allowed with an initImage"),
        ]
        try await server.application().test(.router) { client in
            for (body, message) in cases {
                var payload: [String: Any] = ["prompt": "p", "steps": 10, "width": NSNull(), "height": NSNull()]
                payload.merge(body) { $1 }
                let response = try await client.send(.post, server.inferencesPath, key: server.keyA, json: payload)
                #expect(response.status == .badRequest, "\(message)")
                let messages = try response.jsonObject()["message"] as? [String] ?? []
                #expect(messages.contains { $0.hasPrefix(message) }, "expected \(message), got \(messages)")
            }
            #expect(try await server.store.countQueued() == 0, "a rejected request stores nothing")
        }
    }

    @Test func tooManyPixelsAreRefusedBeforeDecoding() async throws {
        let server = try await TestServer.make { $0.limits.maxPixelsPerImage = 128 * 128 }
        let big = try TestPNG.image(width: 136, height: 136, seed: 1).pngData()
        try await server.application().test(.router) { client in
            let response = try await client.send(
                .post, server.inferencesPath, key: server.keyA, json: ["prompt": "p", "initImage": big.base64EncodedString()])
            #expect(response.status == .badRequest)
            let messages = try response.jsonObject()["message"] as? [String] ?? []
            #expect(messages.contains("initImage: the image is 136x136, more than the 16384 pixels allowed"), "\(messages)")
            #expect(try await server.store.countQueued() == 0)
        }
    }

    @Test func theInitImageSurvivesInTheStore() async throws {
        let folder = TestServer.makeTemporaryFolder()
        let server = try await TestServer.make(generator: FakeGenerator(gate: Gate()), folder: folder)
        let id = try await server.application().test(.router) { client in
            let job = try await client.submit(server, ["initImage": Self.png.base64EncodedString(), "strength": 0.75,
                                                       "width": NSNull(), "height": NSNull()])
            return try #require(job["id"] as? String)
        }
        let store = try SQLiteStore(path: folder.appendingPathComponent("easel.sqlite").path)
        #expect(try await store.initImage(jobId: id) == Self.picture)
        #expect(try await store.initImage(jobId: "no-such-job") == nil)
    }
}
