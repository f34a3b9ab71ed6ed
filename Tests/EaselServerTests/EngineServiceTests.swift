import EaselDiffusion
import EaselServer
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The service with the real engine (`DiffusionEngineGenerator`) on the tiny random-weight
/// models the diffusion tests use: a job really runs the pipeline, warm models are reused,
/// the same seed gives the same image, and cancel stops the real denoising loop.
@Suite struct EngineServiceTests {
    static let fixtures = SDKAcceptanceTests.repositoryRoot.appendingPathComponent("Tests/EaselDiffusionTests/Fixtures")
    static let tinyFolder = fixtures.appendingPathComponent("models/tiny-sd1")
    static let tinySingleFile = fixtures.appendingPathComponent("single_file/tiny-sd1.safetensors")

    /// The committed fixture leaves out CLIP's vocabulary (Easel ships it); a real diffusers
    /// folder has it, so a copy gets the built-in files.
    static func completeTinyFolder() throws -> URL {
        let copy = TestServer.makeTemporaryFolder().appendingPathComponent("tiny-sd1")
        try FileManager.default.copyItem(at: tinyFolder, to: copy)
        let clip = SDKAcceptanceTests.repositoryRoot.appendingPathComponent("Sources/EaselDiffusion/Resources/clip")
        for file in ["vocab.json", "merges.txt"] {
            try FileManager.default.copyItem(
                at: clip.appendingPathComponent(file), to: copy.appendingPathComponent("tokenizer/\(file)"))
        }
        return copy
    }

    /// `base` with the production generator instead of the stand-in, and `model` as its model.
    static func withEngine(_ base: TestServer, model: ModelRecord) -> TestServer {
        let components = ServerComponents(
            configuration: base.components.configuration, store: base.store, images: base.components.images,
            generator: DiffusionEngineGenerator(memoryBudgetBytes: 1 << 30), logger: base.components.logger)
        return TestServer(
            folder: base.folder, components: components, generator: base.generator, model: model, keyA: base.keyA,
            keyB: base.keyB, workspaceA: base.workspaceA, workspaceB: base.workspaceB)
    }

    static func installer(_ base: TestServer) -> ModelInstaller {
        ModelInstaller(dataDirectory: base.components.configuration.dataDirectory, store: base.store)
    }

    /// A server whose generator is the production one, with both tiny models installed.
    static func engineServer(configure: (inout ServerConfiguration) -> Void = { _ in }) async throws
        -> (TestServer, folder: ModelRecord, single: ModelRecord)
    {
        let base = try await TestServer.make(configure: configure)
        let installer = Self.installer(base)
        let folder = try await installer.install(
            source: try completeTinyFolder(), name: "tiny-sd1", workspaceId: nil, link: false)
        // The tiny file is no standard SD 1.x checkpoint: it takes its configs from the folder.
        let single = try await installer.install(
            source: tinySingleFile, name: "tiny-sd1-single", workspaceId: nil, link: true, configFolder: tinyFolder)
        return (withEngine(base, model: folder), folder, single)
    }

    /// Submits `body` as workspace A, waits for the job to end, expects it finished with a
    /// 64x64 PNG, and returns the job and that PNG.
    static func finishedJob(
        _ client: some TestClientProtocol, _ server: TestServer, model: ModelRecord, label: String, body: [String: Any]
    ) async throws -> (job: [String: Any], png: Data) {
        let response = try await client.send(
            .post, "/api/v1/images/models/\(model.id)/inferences", key: server.keyA, json: body)
        #expect(response.status == .created)
        let id = try #require(try response.jsonObject()["id"] as? String)
        let path = "/api/v1/images/models/\(model.id)/inferences/\(id)"
        var job: [String: Any] = [:]
        try await eventually(timeout: .seconds(120), "job \(label) to end") {
            job = try await client.send(.get, path, key: server.keyA).jsonObject()
            return ["finished", "failed"].contains(job["state"] as? String)
        }
        #expect(job["state"] as? String == "finished", "\(label): \(job["errorReason"] ?? "")")
        let uri = try #require((job["images"] as? [[String: Any]])?.first?["uri"] as? String)
        let png = try await client.send(.get, String(uri.dropFirst(TestServer.publicURL.count))).bodyData
        let size = try #require(TestPNG.dimensions(png))
        #expect(size.width == 64 && size.height == 64)
        return (job, png)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: tinyFolder.path), "needs the tiny model fixtures"))
    func realPipelineJobsFinishWithImagesOfTheAskedSize() async throws {
        let (server, folder, single) = try await Self.engineServer()
        try await server.application().test(.router) { client in
            var pngs: [String: Data] = [:]
            for (label, model, seed) in [("a", folder, 7), ("b", folder, 7), ("c", folder, 8), ("d", single, 7)] {
                let (job, png) = try await Self.finishedJob(
                    client, server, model: model, label: label,
                    body: ["prompt": "a tiny test", "width": 64, "height": 64, "steps": 3, "seed": seed])
                let timings = try #require(job["timings"] as? [String: Any])
                #expect(timings["secondsPerStep"] is Double)
                pngs[label] = png
            }
            #expect(pngs["a"] == pngs["b"], "same model, same seed: the same image")
            #expect(pngs["a"] != pngs["c"], "another seed: another image")
        }
    }

    /// Three workers run identical jobs side by side (more generations at once than this
    /// machine has cores): every one gives the same PNG, byte for byte.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: tinyFolder.path), "needs the tiny model fixtures"))
    func identicalJobsOnThreeWorkersGiveOnePNG() async throws {
        let (server, folder, _) = try await Self.engineServer { $0.workers = 3 }
        try await server.application().test(.router) { client in
            let path = "/api/v1/images/models/\(folder.id)/inferences"
            let body: [String: Any] = ["prompt": "a tiny test", "width": 64, "height": 64, "steps": 3, "seed": 7]
            var ids: [String] = []
            for _ in 0..<6 {
                let response = try await client.send(.post, path, key: server.keyA, json: body)
                ids.append(try #require(try response.jsonObject()["id"] as? String))
            }
            var pngs: Set<Data> = []
            for id in ids {
                var job: [String: Any] = [:]
                try await eventually(timeout: .seconds(120), "job \(id) to end") {
                    job = try await client.send(.get, "\(path)/\(id)", key: server.keyA).jsonObject()
                    return ["finished", "failed"].contains(job["state"] as? String)
                }
                #expect(job["state"] as? String == "finished", "\(job["errorReason"] ?? "")")
                let uri = try #require((job["images"] as? [[String: Any]])?.first?["uri"] as? String)
                pngs.insert(try await client.send(.get, String(uri.dropFirst(TestServer.publicURL.count))).bodyData)
            }
            #expect(pngs.count == 1, "6 identical jobs on 3 workers gave \(pngs.count) different PNGs")
        }
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: tinyFolder.path), "needs the tiny model fixtures"))
    func cancelStopsTheRealDenoisingLoop() async throws {
        let (server, folder, _) = try await Self.engineServer()
        try await server.application().test(.router) { client in
            let path = "/api/v1/images/models/\(folder.id)/inferences"
            let response = try await client.send(
                .post, path, key: server.keyA, json: ["prompt": "long", "width": 256, "height": 256, "steps": 150])
            let id = try #require(try response.jsonObject()["id"] as? String)
            var job: [String: Any] = [:]
            try await eventually(timeout: .seconds(120), "the job to make progress") {
                job = try await client.send(.get, "\(path)/\(id)", key: server.keyA).jsonObject()
                return (job["currentStep"] as? Int ?? 0) >= 1 || ["finished", "failed"].contains(job["state"] as? String)
            }
            try #require(job["state"] as? String == "processing", "the job ran too fast to cancel")
            _ = try await client.send(.post, "\(path)/\(id)/cancel", key: server.keyA)
            try await eventually(timeout: .seconds(60), "the job to stop") {
                job = try await client.send(.get, "\(path)/\(id)", key: server.keyA).jsonObject()
                return job["state"] as? String == "failed"
            }
            #expect(job["errorReason"] as? String == "cancelled")
            let stored = try #require(try await server.store.job(id: id, workspaceId: server.workspaceA.id))
            #expect((stored.job.currentStep ?? 0) < 150)
        }
    }

    /// What `easel serve` does on start: the bundled model becomes a public model under the id
    /// the README shows, and a Leap job on it draws a picture at its native size.
    @Test func bundledModelIsInstalledAndServesJobs() async throws {
        let base = try await TestServer.make()
        let (model, installed) = try await Self.installer(base).ensurePublicModel(
            source: try BundledModel.folder(), name: BundledModel.name)
        #expect(installed)
        #expect(model.id == "1185eeaf-da6a-56d7-859c-ef1fe41c4a9a", "the id README.md shows")
        let server = Self.withEngine(base, model: model)
        try await server.application().test(.router) { client in
            let listed = try await client.send(.get, "/api/v2/images/models", key: server.keyB).jsonObject()
            let ids = (listed["models"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
            #expect(ids.contains(model.id), "public: every workspace sees it")
            _ = try await Self.finishedJob(
                client, server, model: model, label: "bundled",
                body: ["prompt": "a red circle in the centre on a blue background", "width": 64, "height": 64, "steps": 20])
        }
    }
}
