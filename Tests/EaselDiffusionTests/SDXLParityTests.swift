import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion
import EaselTestSupport

/// SDXL against diffusers' `StableDiffusionXLPipeline` on a tiny random-weight model
/// (scripts/make_sdxl_fixtures.py): both text encoders' conditioning (an empty negative
/// prompt is zeros), the UNet with its `text_time` added embedding at three timesteps, and
/// whole images for four schedulers, batch 1 and 3, non-square sizes; the same model as an
/// SGM single file; LoRAs in PEFT and kohya-ss naming; image to image; the tiny autoencoder.
@Suite struct SDXLParityTests {
    static var root: URL {
        get throws { try #require(Bundle.module.url(forResource: "sdxl", withExtension: nil, subdirectory: "Fixtures")) }
    }

    /// The fixture model with CLIP's vocabulary in both tokenizer folders, in a fresh folder.
    static func model() throws -> URL {
        let destination = try TestScratch.folder("sdxl").appendingPathComponent("tiny-sdxl", isDirectory: true)
        try FileManager.default.copyItem(at: try root.appendingPathComponent("tiny-sdxl"), to: destination)
        let vocabulary = try CLIPTokenizer.builtinVocabularyFiles()
        for folder in ["tokenizer", "tokenizer_2"] {
            let tokenizer = destination.appendingPathComponent(folder, isDirectory: true)
            try FileManager.default.copyItem(at: vocabulary.vocab, to: tokenizer.appendingPathComponent("vocab.json"))
            try FileManager.default.copyItem(at: vocabulary.merges, to: tokenizer.appendingPathComponent("merges.txt"))
        }
        return destination
    }

    static func tensor(_ file: String, shape: [Int]) throws -> Tensor {
        try FixtureTensors.load(try root.appendingPathComponent(file), shape: shape)
    }

    static func maxAbs(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? .infinity
    }

    struct TextCase: Decodable {
        var prompt: String
        var negative: String
        /// The prompt embedding's and the pooled embedding's shapes.
        var shapes: [[Int]]
    }

    @Test func bothTextEncodersMatchDiffusers() throws {
        let model = try StableDiffusionModel.load(from: try Self.model())
        #expect(model.kind == "diffusers folder (SDXL)")
        let conditioner = try #require(model.conditioner as? SDXLTextConditioner)
        #expect(conditioner.zeroesEmptyNegativePrompt)
        let cases = try JSONDecoder().decode([TextCase].self, from: Data(contentsOf: try Self.root.appendingPathComponent("text.json")))
        let pipeline = StableDiffusionPipeline(model: model)
        for (i, c) in cases.enumerated() {
            var warnings: [String] = []
            let request = GenerationRequest(prompt: c.prompt, negativePrompt: c.negative.isEmpty ? nil : c.negative,
                                            width: 64, height: 64, guidanceScale: 5)
            let conditioning = try pipeline.condition(request, warnings: &warnings)
            let rows = conditioning.context.chunked(2, axis: 0)  // negative, prompt
            let pooled = try #require(conditioning.pooled).chunked(2, axis: 0)
            #expect(c.shapes[0] == [1, 77, conditioner.contextWidth])
            for (name, actual, shape) in [("negative", rows[0], c.shapes[0]), ("prompt", rows[1], c.shapes[0]),
                                          ("negative_pooled", pooled[0], c.shapes[1]), ("pooled", pooled[1], c.shapes[1])] {
                let expected = try Self.tensor("text\(i).\(name).f32", shape: shape)
                let error = Self.maxAbs(actual, expected)
                #expect(error < 2e-5, "case \(i) \(name): max abs error \(error)")
                print("SDXL text parity case \(i) \(name): max abs error \(error)")
            }
            if c.negative.isEmpty {
                #expect(rows[0].scalars.allSatisfy { $0 == 0 } && pooled[0].scalars.allSatisfy { $0 == 0 },
                        "an empty negative prompt is zeros (force_zeros_for_empty_prompt)")
            }
            let timeIds = try #require(conditioning.timeIds)
            #expect(timeIds.shape == [2, 6] && Array(timeIds.scalars.prefix(6)) == [64, 64, 0, 0, 64, 64])
        }
    }

    @Test func unetWithAddedConditioningMatchesDiffusers() throws {
        let unet = try UNet2DConditionModel.load(from: DiffusersComponent(
            name: "unet", directory: try Self.root.appendingPathComponent("tiny-sdxl/unet")))
        #expect(unet.config.addition == UNet2DConditionConfig.TextTimeAddition(timeEmbedDim: 8, inputDim: 80))
        #expect(unet.config.transformerLayersPerBlock == [1, 2])
        let latents = try Self.tensor("unet.input.latents.f32", shape: [2, 4, 8, 12])
        let context = try Self.tensor("unet.input.context.f32", shape: [2, 77, 40])  // the two encoders: 16 + 24
        let pooled = try Self.tensor("unet.input.pooled.f32", shape: [2, 32])
        let timeIds = try Self.tensor("unet.input.time_ids.f32", shape: [2, 6])
        for t in [999, 500, 1] {
            let expected = try Self.tensor("unet.t\(t).f32", shape: latents.shape)
            let output = unet(latents, timesteps: [Float(t), Float(t)], encoderHiddenStates: context,
                              pooled: pooled, timeIds: timeIds)
            let error = UNetVAEFixtures.relativeError(output, expected)
            print("SDXL UNet parity t=\(t): relative error \(error)")
            #expect(error < 1e-4, "t=\(t): relative error \(error)")
        }
    }

    struct Case: Decodable {
        var scheduler: String
        var steps: Int
        var guidance: Double
        var count: Int
        var seed: UInt64
        var prompt: String
        var negative: String
        var width: Int
        var height: Int
        var file: String

        var request: GenerationRequest {
            GenerationRequest(prompt: prompt, negativePrompt: negative.isEmpty ? nil : negative, steps: steps,
                              width: width, height: height, seed: seed, guidanceScale: guidance, count: count,
                              scheduler: scheduler == "default" ? nil : scheduler)
        }

        static func all() throws -> [Case] {
            try JSONDecoder().decode([Case].self, from: Data(contentsOf: try SDXLParityTests.root.appendingPathComponent("cases.json")))
        }
    }

    @Test func imagesMatchDiffusers() throws {
        try Self.checkImages(StableDiffusionPipeline(model: try StableDiffusionModel.load(from: try Self.model())), "folder")
    }

    /// The bf16 fast path on SDXL: every image case within 35 dB PSNR of diffusers' float32.
    @Test func bfloat16StaysWithin35dBOfDiffusersFloat32() throws {
        let model = try StableDiffusionModel.load(from: try Self.model(), precision: .bfloat16)
        let pipeline = StableDiffusionPipeline(model: model)
        var worst = Double.infinity
        for c in try Case.all() {
            let actual = try pipeline.generate(c.request).images.flatMap(\.pixels)
            let expected = [UInt8](try Data(contentsOf: try Self.root.appendingPathComponent(c.file)))
            #expect(actual.count == expected.count)
            let db = BFloat16ParityTests.psnr(actual, expected)
            worst = min(worst, db)
            #expect(db >= 35, "SDXL bf16 \(c.scheduler) x\(c.count): PSNR \(db) dB")
        }
        print("SDXL bf16 parity: worst PSNR against diffusers float32 \(String(format: "%.1f", worst)) dB")
    }

    static func checkImages(_ pipeline: StableDiffusionPipeline, _ form: String) throws {
        for c in try Case.all() {
            let result = try pipeline.generate(c.request)
            let worst = try FixtureImages.worstPixel(result.images, against: try Self.root.appendingPathComponent(c.file))
            #expect(worst <= 2, "\(c.scheduler) \(c.steps) steps x\(c.count) \(c.width)x\(c.height): worst pixel \(worst)/255")
            print("SDXL parity (\(form)) \(result.scheduler) \(c.steps) steps guidance \(c.guidance) x\(c.count) "
                  + "\(c.width)x\(c.height) (\(c.file)): worst pixel \(worst)/255")
        }
    }

    /// A refiner (one text encoder, the second) is refused as such, not with a missing folder.
    @Test func aRefinerIsRefusedClearly() throws {
        let folder = try Self.model()
        let indexURL = folder.appendingPathComponent("model_index.json")
        var index = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL)) as? [String: Any])
        index["text_encoder"] = [NSNull(), NSNull()]
        index["tokenizer"] = [NSNull(), NSNull()]
        try JSONSerialization.data(withJSONObject: index).write(to: indexURL)
        #expect(throws: ModelLoadingError.sdxlRefiner(folder.path)) { try StableDiffusionModel.load(from: folder) }
    }

    /// One generation and its image: lora.json (with the LoRA's scale), taesd.json.
    struct SingleCase: Decodable {
        var scale: Double?
        var steps: Int
        var guidance: Double
        var seed: UInt64
        var prompt: String
        var negative: String
        var width: Int
        var height: Int
        var file: String

        static func named(_ file: String) throws -> SingleCase {
            try JSONDecoder().decode(SingleCase.self, from: Data(contentsOf: try SDXLParityTests.root.appendingPathComponent(file)))
        }

        var request: GenerationRequest {
            GenerationRequest(prompt: prompt, negativePrompt: negative, steps: steps, width: width, height: height,
                              seed: seed, guidanceScale: guidance)
        }

        func lora(_ file: String) throws -> LoRAAdapter {
            LoRAAdapter(url: try SDXLParityTests.root.appendingPathComponent(file), scale: try #require(scale))
        }
    }

    /// A PEFT-named LoRA on the UNet and both text encoders (`text_encoder_2.` included),
    /// fused at 0.8 as diffusers' `fuse_lora(lora_scale=0.8)`.
    @Test func aLoRAOnBothTextEncodersMatchesDiffusers() throws {
        let c = try SingleCase.named("lora.json")
        let lora = try c.lora("lora.safetensors")
        let folder = try Self.model()
        let request = c.request
        let fused = try StableDiffusionPipeline(model: try StableDiffusionModel.load(from: folder, loras: [lora])).generate(request)
        let plain = try StableDiffusionPipeline(model: try StableDiffusionModel.load(from: folder)).generate(request)
        let worst = try FixtureImages.worstPixel(fused.images, against: try Self.root.appendingPathComponent(c.file))
        #expect(worst <= 2, "SDXL + LoRA: worst pixel \(worst)/255")
        #expect(plain.images.map(\.pixels) != fused.images.map(\.pixels), "the LoRA changes the image")
        print("SDXL LoRA parity: worst pixel \(worst)/255")
        // The same LoRA on SD 1.x: its second-text-encoder layers have nowhere to go.
        #expect {
            try StableDiffusionModel.load(from: try TinyModels.folder("tiny-sd1"), loras: [lora])
        } throws: { error in
            guard case let .absentComponent(_, component, _)? = error as? LoRAError else { return false }
            return component == .textEncoder2
        }
    }

    /// kohya-ss's SDXL naming: the UNet's layers by SGM's module paths
    /// (`lora_unet_input_blocks_4_1_transformer_blocks_1_attn2_to_k`), the encoders as
    /// `lora_te1_`/`lora_te2_`, alpha half the rank. The same LoRA as lora.safetensors, so the
    /// same image (diffusers draws it within 1/255 of the PEFT one: the script checks).
    @Test func aKohyaNamedSDXLLoRAMatchesDiffusers() throws {
        let c = try SingleCase.named("lora.json")
        let lora = try c.lora("lora-kohya.safetensors")
        let model = try StableDiffusionModel.load(from: try Self.model(), loras: [lora])
        let request = c.request
        let result = try StableDiffusionPipeline(model: model).generate(request)
        let worst = try FixtureImages.worstPixel(result.images, against: try Self.root.appendingPathComponent(c.file))
        #expect(worst <= 2, "SDXL + kohya LoRA: worst pixel \(worst)/255")
        print("SDXL kohya LoRA parity: worst pixel \(worst)/255")
    }

    /// The folder as one file in SGM's layout (tiny-sdxl.safetensors, checked by the script to
    /// load in diffusers' `from_single_file` to the folder's state dicts): the family is told
    /// from the tensors, every weight is the folder's, bit for bit, and the images are the same.
    @Test func theSGMSingleFileIsTheFolder() throws {
        let folder = try Self.model()
        let file = try Self.root.appendingPathComponent("tiny-sdxl.safetensors")
        let checkpoint = try SingleFileCheckpoint(url: file, configFolder: folder)
        #expect(checkpoint.family == .sdxl && checkpoint.detection?.family == .sdxl)
        #expect(checkpoint.skipped.contains(SingleFileSkippedTensor(name: "denoiser.sigmas", reason: .noiseSchedule)))
        for (component, weights) in [(SingleFileComponent.unet, "unet/diffusion_pytorch_model.safetensors"),
                                     (.vae, "vae/diffusion_pytorch_model.safetensors"),
                                     (.textEncoder, "text_encoder/model.safetensors"),
                                     (.textEncoder2, "text_encoder_2/model.safetensors")] {
            let reference = try SafetensorsFile(url: folder.appendingPathComponent(weights))
            let archive = checkpoint.archive(for: component)
            let stripped = { (name: String) in name.hasPrefix("text_model.") ? String(name.dropFirst(11)) : name }
            #expect(archive.names.sorted() == reference.names.map(stripped).sorted(), "\(component): names")
            for name in reference.names {
                let expected = try reference.loadTensor(name), actual = try archive.loadTensor(stripped(name))
                #expect(actual.shape == expected.shape && actual.scalars == expected.scalars, "\(component) \(name)")
            }
        }
        let model = try StableDiffusionModel.load(from: file, configFolder: folder)
        #expect(model.kind == "single file (SDXL)")
        #expect((model.conditioner as? SDXLTextConditioner)?.zeroesEmptyNegativePrompt == true)
        try Self.checkImages(StableDiffusionPipeline(model: model), "single file")
        // The kohya LoRA on the single file gives the folder's LoRA image too.
        let c = try SingleCase.named("lora.json")
        let lora = try c.lora("lora-kohya.safetensors")
        let request = c.request
        let fused = StableDiffusionPipeline(model: try StableDiffusionModel.load(from: file, configFolder: folder, loras: [lora]))
        let worst = try FixtureImages.worstPixel(try fused.generate(request).images, against: try Self.root.appendingPathComponent(c.file))
        #expect(worst <= 2, "SDXL single file + kohya LoRA: worst pixel \(worst)/255")
    }

    /// Without its config folder the tiny file is measured against SDXL base's published
    /// configs, which it does not fit: one clear message naming the field, not a crash.
    @Test func theTinySingleFileWithoutItsConfigsIsAClearError() throws {
        let file = try Self.root.appendingPathComponent("tiny-sdxl.safetensors")
        let error = #expect(throws: SingleFileError.self) { try StableDiffusionModel.load(from: file) }
        #expect(error?.description.contains("not a standard SDXL checkpoint") == true, "\(String(describing: error))")
    }

    /// `StableDiffusionXLImg2ImgPipeline` from Fixtures/img2img/init.png: Euler at 0.6, Euler a
    /// at 0.3 with two images and an empty negative prompt, DPM++ 2M at 1.0 unguided.
    @Test func imageToImageMatchesDiffusers() throws {
        let model = try StableDiffusionModel.load(from: try Self.model(), withEncoder: true)
        let pipeline = StableDiffusionPipeline(model: model)
        let initImage = try ImageDecoder().decode(contentsOf: try ImageToImageParityTests.fixture("init.png"))
        let cases = try JSONDecoder().decode([ImageToImageParityTests.Case].self,
                                             from: Data(contentsOf: try Self.root.appendingPathComponent("img2img.json")))
        for c in cases {
            let request = GenerationRequest(
                prompt: c.prompt, negativePrompt: c.negative.isEmpty ? nil : c.negative, steps: c.steps,
                width: initImage.width, height: initImage.height, seed: c.seed, guidanceScale: c.guidance, count: c.count,
                scheduler: c.scheduler == "default" ? nil : c.scheduler, initImage: InitImage(image: initImage, strength: c.strength))
            let result = try pipeline.generate(request)
            let worst = try FixtureImages.worstPixel(result.images, against: try Self.root.appendingPathComponent(c.file))
            #expect(worst <= 2, "SDXL img2img \(c.scheduler) strength \(c.strength) x\(c.count): worst pixel \(worst)/255")
            print("SDXL img2img parity \(result.scheduler) strength \(c.strength) x\(c.count): worst pixel \(worst)/255")
        }
    }

    /// The pipeline decoding with a tiny autoencoder (TAESD's architecture, as TAESD-XL is).
    @Test func theTinyAutoencoderDecodesAsInDiffusers() throws {
        let c = try SingleCase.named("taesd.json")
        let tinyRoot = try #require(Bundle.module.url(forResource: "tiny-autoencoder", withExtension: nil, subdirectory: "Fixtures"))
        let tiny = try AutoencoderTiny.load(from: tinyRoot.appendingPathComponent("diffusers"))
        let pipeline = StableDiffusionPipeline(model: try StableDiffusionModel.load(from: try Self.model()), tinyAutoencoder: tiny)
        let request = c.request
        let worst = try FixtureImages.worstPixel(try pipeline.generate(request).images,
                                                 against: try Self.root.appendingPathComponent(c.file))
        #expect(worst <= 2, "SDXL + tiny autoencoder: worst pixel \(worst)/255")
        print("SDXL tiny autoencoder parity: worst pixel \(worst)/255")
    }
}
