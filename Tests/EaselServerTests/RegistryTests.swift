import EaselDiffusion
import EaselServer
import Foundation
import Testing

/// Installing models (what `easel models add` does) and the warm-model cache.
@Suite struct RegistryTests {
    /// The engine's test checkpoints (Tests/EaselDiffusionTests/Fixtures), read in place.
    static let engineFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EaselDiffusionTests/Fixtures")

    /// A copy of the tiny SD 1.x single file, or (`valid: false`) a file with a broken header.
    static func safetensorsFile(named name: String = "model.safetensors", valid: Bool = true) throws -> URL {
        let url = TestServer.makeTemporaryFolder().appendingPathComponent(name)
        if valid {
            try FileManager.default.copyItem(
                at: engineFixtures.appendingPathComponent("single_file/tiny-sd1.safetensors"), to: url)
            return url
        }
        var data = Data()
        var length = UInt64(19).littleEndian
        data.append(Data(bytes: &length, count: 8))
        data.append(Data("not json at all....".utf8))
        try data.write(to: url)
        return url
    }

    /// A copy of the tiny SD 1.x diffusers folder (configs and weights, no vocabulary).
    static func tinyFolder() throws -> URL {
        let url = TestServer.makeTemporaryFolder().appendingPathComponent("tiny-sd1")
        try FileManager.default.copyItem(at: engineFixtures.appendingPathComponent("models/tiny-sd1"), to: url)
        return url
    }

    /// A real copy of the bundled model's folder, to break.
    static func bundledCopy() throws -> URL {
        let url = TestServer.makeTemporaryFolder().appendingPathComponent("shapes")
        try FileManager.default.copyItem(at: try BundledModel.folder(), to: url)
        return url
    }

    static func installer() throws -> (ModelInstaller, SQLiteStore, DataDirectory) {
        let directory = DataDirectory(path: TestServer.makeTemporaryFolder().path)
        let store = try directory.openStore()
        return (ModelInstaller(dataDirectory: directory, store: store), store, directory)
    }

    /// A model installed with bf16 precision keeps it across a reopened store, and its jobs
    /// load it so: the engine's images of it are within the bf16 bar (35 dB) of fp32's.
    @Test func precisionIsStoredWithTheModelAndUsedToLoadIt() async throws {
        let (installer, _, directory) = try Self.installer()
        let source = try TestServer.makeModelFolder()
        let fp32 = try await installer.install(source: source, name: "Tiny fp32", workspaceId: nil, link: true)
        let bf16 = try await installer.install(source: source, name: "Tiny bf16", workspaceId: nil, link: true,
                                               precision: .bfloat16)
        #expect(fp32.precision == .float32)
        let reopened = try directory.openStore()
        let stored = try #require(try await reopened.model(id: bf16.id))
        #expect(stored.precision == .bfloat16)
        let generator = DiffusionEngineGenerator(memoryBudgetBytes: 1 << 30)
        let request = GenerationRequest(prompt: "a red circle", steps: 4, width: 64, height: 64, seed: 3)
        var pixels: [[UInt8]] = []
        for record in [fp32, stored] {
            let model = InstalledModel(record: record, dataDirectory: directory.root)
            #expect(model.precision == record.precision)
            let result = try await generator.generate(model: model, request: request, onStep: { _, _ in }, isCancelled: { false })
            pixels.append(try #require(result.images.first).pixels)
        }
        let mse = zip(pixels[0], pixels[1]).reduce(0.0) { $0 + pow(Double(Int($1.0) - Int($1.1)), 2) } / Double(pixels[0].count)
        #expect(mse == 0 || 10 * log10(255 * 255 / mse) >= 35, "bf16 against fp32: MSE \(mse)")
    }

    @Test func installsADiffusersFolderByCopyWithAStableId() async throws {
        let (installer, store, directory) = try Self.installer()
        let source = try TestServer.makeModelFolder()
        let model = try await installer.install(source: source, name: "Tiny SD", workspaceId: nil, link: false)
        #expect(model.format == .diffusers)
        #expect(model.id == ModelInstaller.stableId(name: "Tiny SD", workspaceId: nil))
        #expect(UUID(uuidString: model.id) != nil)
        #expect(!model.linked)
        let copied = directory.root.appendingPathComponent(model.path)
        #expect(FileManager.default.fileExists(atPath: copied.appendingPathComponent("model_index.json").path))
        #expect(copied.resolvingSymlinksInPath().path != source.resolvingSymlinksInPath().path)
        #expect(try await store.model(id: model.id)?.name == "Tiny SD")

        await #expect(throws: ModelInstallError.alreadyInstalled(name: "Tiny SD", id: model.id)) {
            _ = try await installer.install(source: source, name: "Tiny SD", workspaceId: nil, link: false)
        }
        // Removing and re-adding gives the same id: clients keep working.
        try await installer.remove(id: model.id)
        #expect(!FileManager.default.fileExists(atPath: copied.path))
        let again = try await installer.install(source: source, name: "Tiny SD", workspaceId: nil, link: true)
        #expect(again.id == model.id)
        #expect(again.linked)
        try await installer.remove(id: again.id)
        #expect(FileManager.default.fileExists(atPath: source.appendingPathComponent("model_index.json").path),
            "removing a linked model leaves the operator's files alone")
    }

    @Test func ensurePublicModelInstallsOnceAndThenLeavesItAlone() async throws {
        let (installer, store, directory) = try Self.installer()
        let source = try TestServer.makeModelFolder()
        let first = try await installer.ensurePublicModel(source: source, name: "bundled")
        #expect(first.installed)
        #expect(first.record.workspaceId == nil)
        #expect(first.record.id == ModelInstaller.stableId(name: "bundled", workspaceId: nil))
        #expect(!first.record.linked, "a copy: the model outlives the binary's resource folder")
        let second = try await installer.ensurePublicModel(source: source, name: "bundled")
        #expect(!second.installed)
        #expect(second.record.id == first.record.id && second.record.path == first.record.path)
        #expect(try await store.models(visibleTo: "anyone").map(\.id).contains(first.record.id))
        #expect(FileManager.default.fileExists(atPath: directory.root.appendingPathComponent(first.record.path).path))
    }

    /// Processes starting together on a fresh database each ensure the bundled model: one
    /// installs it, the others find it (none fails, none copies over another's files).
    @Test(arguments: StoreKind.available) func processesEnsuringTheSameModelAtOnceInstallItOnce(_ kind: StoreKind) async throws {
        let opened = try await kind.makeStore()
        let directory = DataDirectory(path: TestServer.makeTemporaryFolder().path)
        let source = try TestServer.makeModelFolder()
        var stores: [any EaselStore] = [opened.store]
        for _ in 0..<3 { stores.append(try await opened.reopen()) }
        let outcomes = try await withThrowingTaskGroup(of: (record: ModelRecord, installed: Bool).self) { group in
            for store in stores {
                group.addTask {
                    try await ModelInstaller(dataDirectory: directory, store: store).ensurePublicModel(
                        source: source, name: "bundled")
                }
            }
            return try await group.reduce(into: [(record: ModelRecord, installed: Bool)]()) { $0.append($1) }
        }
        #expect(outcomes.count == 4)
        #expect(outcomes.filter(\.installed).count == 1)
        #expect(Set(outcomes.map(\.record.id)).count == 1)
        let record = try #require(try await opened.store.model(id: ModelInstaller.stableId(name: "bundled", workspaceId: nil)))
        let installed = directory.root.appendingPathComponent(record.path)
        #expect(FileManager.default.fileExists(atPath: installed.appendingPathComponent("model_index.json").path))
        #expect(try await opened.store.models(visibleTo: nil).filter { $0.name == "bundled" }.count == 1)
    }

    @Test func installsASingleFileCheckpoint() async throws {
        let (installer, _, directory) = try Self.installer()
        // The tiny file is not a standard SD 1.x checkpoint: it takes its own configs.
        let model = try await installer.install(
            source: try Self.safetensorsFile(), name: "single", workspaceId: nil, link: false,
            configFolder: try Self.tinyFolder())
        #expect(model.format == .singleFile)
        #expect(model.path.hasSuffix(".safetensors"))
        #expect(FileManager.default.fileExists(atPath: directory.root.appendingPathComponent(model.path).path))
    }

    @Test func singleFileTakesTheConfigsOfADiffusersFolder() async throws {
        let (installer, store, directory) = try Self.installer()
        let configs = try Self.tinyFolder()
        let model = try await installer.install(
            source: try Self.safetensorsFile(), name: "odd", workspaceId: nil, link: false, configFolder: configs)
        let configPath = try #require(model.configPath)
        let copied = directory.root.appendingPathComponent(configPath)
        #expect(FileManager.default.fileExists(atPath: copied.appendingPathComponent("unet/config.json").path))
        #expect(!FileManager.default.fileExists(
            atPath: copied.appendingPathComponent("unet/diffusion_pytorch_model.safetensors").path), "configs, not weights")
        #expect(try await store.model(id: model.id)?.configPath == configPath)
        let installed = InstalledModel(record: model, dataDirectory: directory.root)
        #expect(installed.configFolder?.path == copied.path)
        try await installer.remove(id: model.id)
        #expect(!FileManager.default.fileExists(atPath: copied.path))
        await #expect(throws: ModelInstallError.configForFolder) {
            _ = try await installer.install(
                source: try TestServer.makeModelFolder(), name: "folder", workspaceId: nil, link: false,
                configFolder: configs)
        }
    }

    @Test func refusesWhatDoesNotLookLikeAModel() async throws {
        let (installer, store, _) = try Self.installer()
        let emptyFolder = TestServer.makeTemporaryFolder()
        let badIndex = TestServer.makeTemporaryFolder()
        try Data("[1]".utf8).write(to: badIndex.appendingPathComponent("model_index.json"))
        let text = TestServer.makeTemporaryFolder().appendingPathComponent("notes.txt")
        try Data("hello".utf8).write(to: text)
        let sources = [
            emptyFolder, badIndex, text, try Self.safetensorsFile(valid: false),
            URL(fileURLWithPath: "/no/such/model"),
        ]
        for source in sources {
            await #expect(throws: ModelInstallError.self, "\(source.path)") {
                _ = try await installer.install(source: source, name: "bad-\(UUID())", workspaceId: nil, link: false)
            }
        }
        // Checkpoints that look right but that no job could load: refused at install with the
        // loader's own message (the one a job would fail with).
        let truncated = try Self.safetensorsFile(named: "truncated.safetensors")
        let whole = try Data(contentsOf: truncated)
        try whole.prefix(whole.count - 1000).write(to: truncated)
        let wrongShape = try Self.bundledCopy()
        let unetConfig = wrongShape.appendingPathComponent("unet/config.json")
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: unetConfig)) as? [String: Any])
        config["cross_attention_dim"] = 48
        try JSONSerialization.data(withJSONObject: config).write(to: unetConfig)
        let missingVAE = try Self.bundledCopy()
        try FileManager.default.removeItem(at: missingVAE.appendingPathComponent("vae/diffusion_pytorch_model.safetensors"))
        for (source, engine) in [(truncated, "truncated"), (wrongShape, "shape"), (missingVAE, "vae")] {
            do {
                _ = try await installer.install(source: source, name: "broken-\(UUID())", workspaceId: nil, link: false)
                Issue.record("\(source.path) installed")
            } catch let error as ModelInstallError {
                let message = "\(error)"
                #expect(message.contains("is not a model Easel can load"), "\(message)")
                #expect(message.lowercased().contains(engine), "\(message)")
                // The same words as the engine's own refusal.
                do {
                    _ = try StableDiffusionModel.load(from: source, withEncoder: true)
                } catch let engineError {
                    #expect(message.hasSuffix("\(engineError)"), "\(message) vs \(engineError)")
                }
            }
        }
        await #expect(throws: ModelInstallError.emptyName) {
            _ = try await installer.install(source: try TestServer.makeModelFolder(), name: "  ", workspaceId: nil, link: false)
        }
        #expect(try await store.models(visibleTo: nil).isEmpty)
    }

    /// A loader whose models weigh what the test says, counting loads.
    final class CountingLoader: ModelLoader {
        let sizes: [String: Int]
        let loads = Locked<[String]>([])
        let delay: Duration

        init(sizes: [String: Int], delay: Duration = .zero) {
            self.sizes = sizes
            self.delay = delay
        }

        func estimatedBytes(for model: InstalledModel) throws -> Int { sizes[model.id] ?? 0 }

        func load(_ model: InstalledModel) async throws -> String {
            loads.withLock { $0.append(model.id) }
            if delay > .zero { try await Task.sleep(for: delay) }
            return "loaded \(model.id)"
        }
    }

    static func model(_ id: String) -> InstalledModel {
        InstalledModel(id: id, name: id, format: .diffusers, location: URL(fileURLWithPath: "/m/\(id)"), cacheKey: id)
    }

    @Test func cacheKeepsModelsWarmAndEvictsLeastRecentlyUsedWithinBudget() async throws {
        let loader = CountingLoader(sizes: ["a": 40, "b": 40, "c": 40, "huge": 500])
        let cache = ModelCache(loader: loader, budgetBytes: 100)
        _ = try await cache.model(for: Self.model("a"))
        _ = try await cache.model(for: Self.model("b"))
        _ = try await cache.model(for: Self.model("a"))  // warm: no load, and now most recent
        #expect(loader.loads.current == ["a", "b"])
        _ = try await cache.model(for: Self.model("c"))  // 120 > 100: b (least recent) goes
        #expect(await cache.residentKeys == ["c", "a"])
        #expect(await cache.residentBytes == 80)
        _ = try await cache.model(for: Self.model("a"))
        #expect(loader.loads.current == ["a", "b", "c"])
        // A model over the whole budget still loads, alone.
        #expect(try await cache.model(for: Self.model("huge")) == "loaded huge")
        #expect(await cache.residentKeys == ["huge"])
    }

    @Test func concurrentRequestsForOneModelShareOneLoad() async throws {
        let loader = CountingLoader(sizes: ["a": 1], delay: .milliseconds(50))
        let cache = ModelCache(loader: loader, budgetBytes: 100)
        try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<5 { group.addTask { try await cache.model(for: Self.model("a")) } }
            for try await value in group { #expect(value == "loaded a") }
        }
        #expect(loader.loads.current == ["a"])
    }

    @Test func productionGeneratorNeverMakesStandInImages() async throws {
        // The shipped binary has no fake path: without a real model (and, until the pipeline
        // is plugged in, without an engine) a job fails with a reason instead of producing images.
        let generator = DiffusionEngineGenerator(memoryBudgetBytes: 1 << 30)
        let parameters = GenerationRequest(prompt: "p", negativePrompt: "", steps: 1, width: 64, height: 64, seed: 1)
        await #expect(throws: (any Error).self) {
            _ = try await generator.generate(
                model: Self.model("a"), request: parameters, onStep: { _, _ in }, isCancelled: { false })
        }
    }
}
