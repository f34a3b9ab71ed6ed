import EaselDiffusion
import EaselServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Installed models carry their recipe (`easel models add BASE --lora ... --steps ...`): the
/// LoRAs are checked against the base and copied with it, a Leap job that leaves fields out
/// gets the model's defaults (and its native size rather than 1024x1024), the job shows the
/// values used, and the model entity lists its base and LoRAs.
@Suite struct ModelRecipeTests {
    static let loraFixtures = EngineServiceTests.fixtures.appendingPathComponent("lora")

    static func lora(_ name: String, _ scale: Double) -> LoRAAdapter {
        LoRAAdapter(url: loraFixtures.appendingPathComponent("\(name).safetensors"), scale: scale)
    }

    struct Case: Sendable {
        var prompt: String
        var negative: String
        var seed: Int
        var steps: Int
        var guidance: Double
        var pixels: [UInt8]
    }

    /// The fixture case with two LoRAs (kohya 0.5 + PEFT 1.0): its settings and diffusers' pixels.
    static func twoLoRACase() throws -> Case {
        let cases = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: loraFixtures.appendingPathComponent("cases.json"))) as? [[String: Any]])
        let c = try #require(cases.first { ($0["loras"] as? [[Any]])?.count == 2 && ($0["loras"] as? [[Any]])?.first?.first as? String == "kohya" })
        let file = try #require(c["file"] as? String)
        return Case(prompt: try #require(c["prompt"] as? String), negative: try #require(c["negative"] as? String),
                    seed: try #require(c["seed"] as? Int), steps: try #require(c["steps"] as? Int),
                    guidance: try #require(c["guidance"] as? Double),
                    pixels: [UInt8](try Data(contentsOf: loraFixtures.appendingPathComponent(file))))
    }

    @Test func aRecipeModelsJobsUseItsLoRAsAndDefaults() async throws {
        let base = try await TestServer.make()
        let c = try Self.twoLoRACase()
        let expected = c.pixels
        let installer = EngineServiceTests.installer(base)
        let record = try await installer.install(
            source: try EngineServiceTests.completeTinyFolder(), name: "tiny-sd1 + loras", workspaceId: nil, link: false,
            recipe: ModelRecipeOptions(loras: [Self.lora("kohya", 0.5), Self.lora("peft", 1.0)],
                                       steps: c.steps, guidance: c.guidance))
        #expect(record.recipe.loras.map(\.name) == ["kohya.safetensors", "peft.safetensors"])
        #expect(record.recipe.base == "tiny-sd1")
        #expect(record.recipe.nativeWidth == 64 && record.recipe.nativeHeight == 64)
        // The LoRAs are copies in the data directory, not the operator's files.
        let data = base.components.configuration.dataDirectory.root
        for lora in record.recipe.loras {
            #expect(!lora.path.hasPrefix("/") && FileManager.default.fileExists(atPath: data.appendingPathComponent(lora.path).path))
        }
        #expect(try await base.store.model(id: record.id)?.recipe == record.recipe, "stored as installed")

        let server = EngineServiceTests.withEngine(base, model: record)
        try await server.application().test(.router) { client in
            let model = try await client.send(.get, "/api/v2/images/models/\(record.id)", key: server.keyA).jsonObject()
            #expect(model["base"] as? String == "tiny-sd1")
            let loras = try #require(model["loras"] as? [[String: Any]])
            #expect(loras.map { $0["name"] as? String } == ["kohya.safetensors", "peft.safetensors"])
            #expect(loras.map { $0["scale"] as? Double } == [0.5, 1.0])
            let defaults = try #require(model["defaults"] as? [String: Any])
            #expect(defaults["steps"] as? Int == c.steps && defaults["width"] as? Int == 64)
            #expect(defaults["promptStrength"] as? Double == c.guidance)

            // Only prompt, negative prompt and seed: steps, strength and size are the model's.
            let (job, png) = try await EngineServiceTests.finishedJob(
                client, server, model: record, label: "recipe",
                body: ["prompt": c.prompt, "negativePrompt": c.negative, "seed": c.seed])
            #expect(job["steps"] as? Int == c.steps)
            #expect(job["promptStrength"] as? Double == c.guidance)
            #expect(job["width"] as? Int == 64 && job["height"] as? Int == 64)
            let image = try ImageDecoder().decode(png)
            let worst = zip(image.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? 255
            #expect(image.pixels.count == expected.count && worst <= 2, "the job's image against diffusers': worst \(worst)/255")
        }

        // Removing the model removes its LoRA copies too.
        try await installer.remove(id: record.id)
        for lora in record.recipe.loras {
            #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent(lora.path).path))
        }
    }

    /// A model without a recipe still defaults to its native size: a 64x64 model's job is
    /// 64x64 when the request leaves the size out, not Leap's 1024x1024.
    @Test func jobsDefaultToTheModelsNativeSize() async throws {
        let (installer, _, directory) = try RegistryTests.installer()
        let record = try await installer.install(
            source: try EngineServiceTests.completeTinyFolder(), name: "tiny", workspaceId: nil, link: true)
        let defaults = InstalledModel(record: record, dataDirectory: directory.root).defaults
        #expect(defaults == JobDefaults(steps: LeapDefaults.steps, guidance: LeapDefaults.guidanceScale, width: 64, height: 64))
        // A single file knows its size only by loading it: measured at install.
        let single = try await installer.install(
            source: EngineServiceTests.tinySingleFile, name: "tiny single", workspaceId: nil, link: true,
            configFolder: EngineServiceTests.tinyFolder, recipe: ModelRecipeOptions(steps: 3))
        let singleDefaults = InstalledModel(record: single, dataDirectory: directory.root).defaults
        #expect(singleDefaults == JobDefaults(steps: 3, guidance: LeapDefaults.guidanceScale, width: 64, height: 64))
    }

    @Test func aLoRAThatDoesNotFitInstallsNothing() async throws {
        let (installer, store, directory) = try RegistryTests.installer()
        let source = try EngineServiceTests.completeTinyFolder()
        for (lora, words) in [("foreign", "lora_unet_down_blocks_7_attentions_0_proj_in"), ("bad-shape", "attn1_to_q")] {
            do {
                _ = try await installer.install(source: source, name: "with \(lora)", workspaceId: nil, link: false,
                                                recipe: ModelRecipeOptions(loras: [Self.lora(lora, 1)]))
                Issue.record("\(lora) was installed")
            } catch let error as ModelInstallError {
                guard case .recipeDoesNotFit = error else {
                    Issue.record("\(lora): \(error)")
                    continue
                }
                #expect(error.description.contains(words), "\(error)")
            }
        }
        #expect(try await store.models(visibleTo: nil).isEmpty)
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: directory.modelsFolder.path)) ?? []
        #expect(leftovers.isEmpty, "files left behind: \(leftovers)")
    }

    @Test func badRecipeValuesAreRefusedBeforeAnythingLoads() async throws {
        let (installer, _, _) = try RegistryTests.installer()
        let source = try EngineServiceTests.completeTinyFolder()
        let bad = ModelRecipeOptions(scheduler: "bogus", steps: 0, guidance: 31, width: 65)
        do {
            _ = try await installer.install(source: source, name: "bad", workspaceId: nil, link: true, recipe: bad)
            Issue.record("installed")
        } catch let error as ModelInstallError {
            guard case let .badRecipe(problems) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(problems.count == 4, "\(problems)")
        }
        // A tiny autoencoder that is not one.
        do {
            _ = try await installer.install(
                source: source, name: "bad tiny", workspaceId: nil, link: true,
                recipe: ModelRecipeOptions(tinyAutoencoder: Self.loraFixtures.appendingPathComponent("kohya.safetensors")))
            Issue.record("installed")
        } catch let error as ModelInstallError {
            guard case .recipeDoesNotFit = error else {
                Issue.record("\(error)")
                return
            }
            #expect(error.description.contains("tiny autoencoder"))
        }
    }
}
