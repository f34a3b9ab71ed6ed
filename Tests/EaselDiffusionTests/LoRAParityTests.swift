import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion
import EaselTestSupport

/// LoRAs fused at load against diffusers' `load_lora_weights` + `fuse_lora` (scripts/make_lora_fixtures.py):
/// kohya-ss, PEFT and diffusers' older naming, linear and convolution (1x1 and 3x3) layers in
/// the UNet and the text encoder, one and two at once, scales 0.5 and 1. Bar: every pixel
/// within 2/255.
@Suite struct LoRAParityTests {
    struct Case: Decodable {
        var loras: [LoRASpec]
        var seed: UInt64
        var count: Int
        var prompt: String
        var negative: String
        var width: Int
        var height: Int
        var steps: Int
        var guidance: Double
        var file: String
    }

    /// `["kohya", 0.5]` in cases.json.
    struct LoRASpec: Decodable {
        var name: String
        var scale: Double

        init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            name = try container.decode(String.self)
            scale = try container.decode(Double.self)
        }
    }

    static var root: URL {
        get throws { try #require(Bundle.module.url(forResource: "lora", withExtension: nil, subdirectory: "Fixtures")) }
    }

    static func lora(_ name: String) throws -> URL { try root.appendingPathComponent("\(name).safetensors") }

    static func cases() throws -> [Case] {
        try JSONDecoder().decode([Case].self, from: Data(contentsOf: try root.appendingPathComponent("cases.json")))
    }

    static func request(_ c: Case) -> GenerationRequest {
        GenerationRequest(prompt: c.prompt, negativePrompt: c.negative.isEmpty ? nil : c.negative, steps: c.steps,
                          width: c.width, height: c.height, seed: c.seed, guidanceScale: c.guidance, count: c.count)
    }

    /// Worst pixel difference of the case's images from diffusers'.
    static func worstPixel(_ c: Case, model: StableDiffusionModel) throws -> Int {
        let result = try StableDiffusionPipeline(model: model).generate(request(c))
        return try FixtureImages.worstPixel(result.images, against: try root.appendingPathComponent(c.file))
    }

    @Test func imagesMatchDiffusers() throws {
        let folder = try TinyModels.folder("tiny-sd1")
        for c in try Self.cases() {
            let adapters = try c.loras.map { LoRAAdapter(url: try Self.lora($0.name), scale: $0.scale) }
            let worst = try Self.worstPixel(c, model: try StableDiffusionModel.load(from: folder, loras: adapters))
            let names = c.loras.map { "\($0.name):\($0.scale)" }.joined(separator: " + ")
            #expect(worst <= 2, "\(names) (\(c.file)): worst pixel differs by \(worst)/255")
            print("LoRA parity \(names) \(c.width)x\(c.height) x\(c.count): worst pixel \(worst)/255")
        }
    }

    /// The same LoRA on the same model as a single file: its UNet and text encoder arrive
    /// under diffusers' names through the single-file mapping and take the LoRA alike.
    @Test func singleFileTakesLoRAsLikeTheFolder() throws {
        let c = try #require(try Self.cases().first { $0.loras.count == 2 })
        let model = try StableDiffusionModel.load(
            from: try SingleFileFixtures.singleFile("tiny-sd1"), configFolder: try TinyModels.folder("tiny-sd1"),
            loras: try c.loras.map { LoRAAdapter(url: try Self.lora($0.name), scale: $0.scale) })
        let worst = try Self.worstPixel(c, model: model)
        #expect(worst <= 2, "single file + LoRAs: worst pixel \(worst)/255")
    }

    /// Scale 0 adds nothing: the weights are the stored ones, bit for bit.
    @Test func scaleZeroLeavesTheWeights() throws {
        let folder = try TinyModels.folder("tiny-sd1")
        let plain = try StableDiffusionModel.load(from: folder)
        let zero = try StableDiffusionModel.load(from: folder, loras: [LoRAAdapter(url: try Self.lora("peft"), scale: 0)])
        let request = GenerationRequest(prompt: "a red circle", steps: 2, width: 64, height: 64, seed: 3)
        let pipeline = { (model: StableDiffusionModel) in try StableDiffusionPipeline(model: model).generate(request) }
        #expect(try pipeline(plain).images.map(\.pixels) == pipeline(zero).images.map(\.pixels))
    }

    @Test func argumentsReadPathAndScale() {
        #expect(LoRAAdapter(argument: "/a/b.safetensors:0.75") == LoRAAdapter(url: URL(fileURLWithPath: "/a/b.safetensors"), scale: 0.75))
        #expect(LoRAAdapter(argument: "/a/b.safetensors") == LoRAAdapter(url: URL(fileURLWithPath: "/a/b.safetensors"), scale: 1))
        #expect(LoRAAdapter(argument: "/a:b/c.safetensors") == LoRAAdapter(url: URL(fileURLWithPath: "/a:b/c.safetensors"), scale: 1))
        #expect(LoRAAdapter(argument: "x.safetensors:-1") == LoRAAdapter(url: URL(fileURLWithPath: "x.safetensors"), scale: -1))
    }

    // MARK: - Bad LoRAs: refused with the offending names, never a crash

    static func loadError(_ lora: URL, model: String = "tiny-sd1") throws -> LoRAError {
        let folder = try TinyModels.folder(model)
        do {
            _ = try StableDiffusionModel.load(from: folder, loras: [LoRAAdapter(url: lora)])
        } catch let error as LoRAError {
            return error
        }
        Issue.record("\(lora.lastPathComponent) loaded")
        throw CancellationError()
    }

    @Test func wrongShapesAreRefusedWithTheLayer() throws {
        let error = try Self.loadError(try Self.lora("bad-shape"))
        guard case let .shapeMismatch(_, key, weight, weightShape, down, _) = error else {
            Issue.record("expected a shape mismatch, got \(error)")
            return
        }
        #expect(key == "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q")
        #expect(weight == "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight")
        #expect(weightShape == [32, 32] && down == [4, 33])
        #expect(error.description.contains("does not fit this model"))
    }

    @Test func keysThatMatchNothingAreNamed() throws {
        let error = try Self.loadError(try Self.lora("foreign"))
        guard case let .unmatched(_, component, keys) = error else {
            Issue.record("expected unmatched keys, got \(error)")
            return
        }
        #expect(component == .unet)
        #expect(keys.sorted() == ["lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_z",
                                  "lora_unet_down_blocks_7_attentions_0_proj_in"])
    }

    /// A LoRA made for SD 1.x does not fit SD 2.x's layers (other widths): named, not fused.
    @Test func aLoRAForAnotherArchitectureIsRefused() throws {
        let error = try Self.loadError(try Self.lora("peft"), model: "tiny-sd2")
        switch error {
        case .shapeMismatch, .unmatched: break
        default: Issue.record("unexpected \(error)")
        }
    }

    @Test func truncatedAndForeignFilesAreRefused() throws {
        let dir = try TestScratch.folder("lora")
        defer { try? FileManager.default.removeItem(at: dir) }
        let whole = try Data(contentsOf: try Self.lora("kohya"))
        let truncated = dir.appendingPathComponent("truncated.safetensors")
        try whole.prefix(whole.count - 100).write(to: truncated)
        guard case .unreadable = try Self.loadError(truncated) else {
            Issue.record("a truncated LoRA should be unreadable")
            return
        }
        // A checkpoint is not a LoRA: its tensors are not factors.
        let checkpoint = try SingleFileFixtures.singleFile("tiny-sd1")
        guard case let .unknownKeys(_, keys) = try Self.loadError(checkpoint) else {
            Issue.record("a checkpoint given as a LoRA should be refused")
            return
        }
        #expect(!keys.isEmpty)
        // Other adapter kinds are named as such.
        var file = try SafetensorsRewriter(copying: try SafetensorsFile(url: try Self.lora("kohya")), as: .f32)
        file.entries = []
        file.add("lora_unet_conv_in.hada_w1_a", shape: [2, 2])
        let loha = dir.appendingPathComponent("loha.safetensors")
        try file.write(to: loha)
        guard case let .unsupportedKind(_, kind, _) = try Self.loadError(loha) else {
            Issue.record("LoHa should be refused as such")
            return
        }
        #expect(kind == "LoHa")
    }
}
