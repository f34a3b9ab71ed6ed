import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// The tiny autoencoder (TAESD) against diffusers' `AutoencoderTiny` on the random model of
/// scripts/make_tiny_autoencoder_fixtures.py, loaded from a diffusers folder and from
/// madebyollin's original file naming: decode and encode within 1e-4 relative, and
/// tiny-sd1 through it (text to image, and image to image encoding with it) within 2/255
/// per pixel of diffusers' pipelines.
@Suite struct TinyAutoencoderTests {
    static var root: URL {
        get throws {
            try #require(Bundle.module.url(forResource: "tiny-autoencoder", withExtension: nil, subdirectory: "Fixtures"))
        }
    }

    /// The two namings: the diffusers folder, and the original decoder file (encoder beside it).
    static let namings = ["diffusers", "original/taesd_decoder.safetensors"]

    static func tensor(_ file: String, shape: [Int]) throws -> Tensor {
        try FixtureTensors.load(try root.appendingPathComponent(file), shape: shape)
    }

    @Test(arguments: namings)
    func decodeAndEncodeMatchDiffusers(naming: String) throws {
        let tiny = try AutoencoderTiny.load(from: try Self.root.appendingPathComponent(naming))
        #expect(tiny.hasEncoder)
        let decoded = tiny.decode(try Self.tensor("input.latents.f32", shape: [1, 4, 8, 8]))
        let decodeError = UNetVAEFixtures.relativeError(decoded, try Self.tensor("decode.f32", shape: [1, 3, 64, 64]))
        let encoded = tiny.encode(try Self.tensor("input.image.f32", shape: [1, 3, 64, 64]))
        let encodeError = UNetVAEFixtures.relativeError(encoded, try Self.tensor("encode.f32", shape: [1, 4, 8, 8]))
        print("tiny autoencoder parity (\(naming)): decode relative error \(decodeError), encode \(encodeError)")
        #expect(decodeError < 1e-4 && encodeError < 1e-4, "\(naming): decode \(decodeError), encode \(encodeError)")
    }

    /// The original files carry no config: the architecture read from their keys is the
    /// diffusers config's.
    @Test func originalLayoutIsReadFromTheWeights() throws {
        let folder = try AutoencoderTiny.load(from: try Self.root.appendingPathComponent("diffusers"))
        let original = try AutoencoderTiny.load(from: try Self.root.appendingPathComponent("original"))
        #expect(original.config == folder.config)
        #expect(folder.config.numDecoderBlocks == [2, 1, 1, 1] && folder.config.numEncoderBlocks == [1, 2, 1, 1])
    }

    @Test(arguments: namings)
    func pipelineDecodesWithIt(naming: String) throws {
        struct Case: Decodable {
            var scheduler: String, steps: Int, guidance: Double, count: Int, seed: UInt64
            var prompt: String, negative: String, width: Int, height: Int, file: String
        }
        let c = try JSONDecoder().decode(Case.self, from: Data(contentsOf: try Self.root.appendingPathComponent("case.json")))
        let model = try StableDiffusionModel.load(from: try TinyModels.folder("tiny-sd1"))
        let tiny = try AutoencoderTiny.load(from: try Self.root.appendingPathComponent(naming))
        let pipeline = StableDiffusionPipeline(model: model, tinyAutoencoder: tiny)
        let request = GenerationRequest(prompt: c.prompt, negativePrompt: c.negative, steps: c.steps, width: c.width,
                                        height: c.height, seed: c.seed, guidanceScale: c.guidance, count: c.count,
                                        scheduler: c.scheduler)
        let worst = try FixtureImages.worstPixel(try pipeline.generate(request).images, against: try Self.root.appendingPathComponent(c.file))
        print("tiny autoencoder pipeline parity (\(naming)): worst pixel \(worst)/255")
        #expect(worst <= 2, "\(naming): worst pixel \(worst)/255")
    }

    /// Under bf16 (the model's precision), the tiny autoencoder's convolutions keep bfloat16
    /// weights too; its pictures stay within the bf16 bar (35 dB PSNR) of diffusers' float32.
    @Test(arguments: namings)
    func bfloat16DecodingStaysWithinTheBar(naming: String) throws {
        struct Case: Decodable {
            var scheduler: String, steps: Int, guidance: Double, count: Int, seed: UInt64
            var prompt: String, negative: String, width: Int, height: Int, file: String
        }
        let c = try JSONDecoder().decode(Case.self, from: Data(contentsOf: try Self.root.appendingPathComponent("case.json")))
        let model = try StableDiffusionModel.load(from: try TinyModels.folder("tiny-sd1"), precision: .bfloat16)
        let tiny = try AutoencoderTiny.load(from: try Self.root.appendingPathComponent(naming), precision: .bfloat16)
        let request = GenerationRequest(prompt: c.prompt, negativePrompt: c.negative, steps: c.steps, width: c.width,
                                        height: c.height, seed: c.seed, guidanceScale: c.guidance, count: c.count,
                                        scheduler: c.scheduler)
        let actual = try StableDiffusionPipeline(model: model, tinyAutoencoder: tiny).generate(request).images.flatMap(\.pixels)
        let expected = [UInt8](try Data(contentsOf: try Self.root.appendingPathComponent(c.file)))
        let db = BFloat16ParityTests.psnr(actual, expected)
        print("tiny autoencoder bf16 (\(naming)): PSNR \(String(format: "%.1f", db)) dB against diffusers float32")
        #expect(db >= 35, "\(naming): PSNR \(db) dB")
    }

    /// Image to image encodes with the tiny autoencoder too (its latents as they are, nothing
    /// drawn), as StableDiffusionImg2ImgPipeline with it as `vae`; without its encoder file
    /// the request is refused.
    @Test(arguments: namings)
    func imageToImageEncodesWithIt(naming: String) throws {
        struct Case: Decodable {
            var scheduler: String, steps: Int, guidance: Double, count: Int, seed: UInt64, strength: Double
            var prompt: String, negative: String, width: Int, height: Int, file: String
        }
        let c = try JSONDecoder().decode(Case.self, from: Data(contentsOf: try Self.root.appendingPathComponent("img2img.json")))
        let initURL = try #require(Bundle.module.url(forResource: "init", withExtension: "png", subdirectory: "Fixtures/img2img"))
        let initImage = InitImage(image: try ImageDecoder().decode(contentsOf: initURL), strength: c.strength)
        let model = try StableDiffusionModel.load(from: try TinyModels.folder("tiny-sd1"))
        let tiny = try AutoencoderTiny.load(from: try Self.root.appendingPathComponent(naming))
        let request = GenerationRequest(prompt: c.prompt, negativePrompt: c.negative, steps: c.steps, width: c.width,
                                        height: c.height, seed: c.seed, guidanceScale: c.guidance, count: c.count,
                                        scheduler: c.scheduler, initImage: initImage)
        let images = try StableDiffusionPipeline(model: model, tinyAutoencoder: tiny).generate(request).images
        let worst = try FixtureImages.worstPixel(images, against: try Self.root.appendingPathComponent(c.file))
        print("tiny autoencoder image-to-image parity (\(naming)): worst pixel \(worst)/255")
        #expect(worst <= 2, "\(naming): worst pixel \(worst)/255")

        let scratch = try SingleFileScratch()
        try FileManager.default.copyItem(at: try Self.root.appendingPathComponent("original/taesd_decoder.safetensors"),
                                         to: scratch.url("taesd_decoder.safetensors"))
        let decoderOnly = try AutoencoderTiny.load(from: scratch.url("taesd_decoder.safetensors"))
        #expect(!decoderOnly.hasEncoder)
        let error = #expect(throws: GenerationError.self) {
            _ = try StableDiffusionPipeline(model: model, tinyAutoencoder: decoderOnly).generate(request)
        }
        #expect("\(error!)".contains("has no encoder"), "\(error!)")
    }

    /// A file with a tensor missing is refused, naming the tensor.
    @Test func missingTensorIsNamed() throws {
        let scratch = try SingleFileScratch()
        let folder = scratch.url("taesd")
        try FileManager.default.copyItem(at: try Self.root.appendingPathComponent("diffusers"), to: folder)
        let file = folder.appendingPathComponent("diffusion_pytorch_model.safetensors")
        var rewriter = try SafetensorsRewriter(copying: try SafetensorsFile(url: file), as: .f16)
        rewriter.entries.removeAll { $0.name == "decoder.layers.2.conv.2.weight" }
        try rewriter.write(to: file)
        let error = #expect(throws: (any Error).self) { try AutoencoderTiny.load(from: folder) }
        #expect("\(error!)".contains("decoder.layers.2.conv.2.weight"), "\(error!)")

        // The original naming: a block missing a convolution no longer reads as TAESD.
        let original = scratch.url("original")
        try FileManager.default.copyItem(at: try Self.root.appendingPathComponent("original"), to: original)
        let decoder = original.appendingPathComponent("taesd_decoder.safetensors")
        var decoderRewriter = try SafetensorsRewriter(copying: try SafetensorsFile(url: decoder), as: .f16)
        decoderRewriter.entries.removeAll { $0.name == "3.conv.2.weight" }
        try decoderRewriter.write(to: decoder)
        let originalError = #expect(throws: (any Error).self) { try AutoencoderTiny.load(from: original) }
        #expect("\(originalError!)".contains("layers.2.conv.2.weight"), "\(originalError!)")
    }

    /// A tiny autoencoder for other latents (16 channels, as TAESD3's) is refused by the pipeline.
    @Test func wrongLatentChannelsAreRefused() throws {
        let scratch = try SingleFileScratch()
        let folder = scratch.url("taesd")
        try FileManager.default.copyItem(at: try Self.root.appendingPathComponent("diffusers"), to: folder)
        let file = folder.appendingPathComponent("diffusion_pytorch_model.safetensors")
        var rewriter = try SafetensorsRewriter(copying: try SafetensorsFile(url: file), as: .f32)
        for i in rewriter.entries.indices where rewriter.entries[i].name == "decoder.layers.0.weight" {
            rewriter.entries[i].shape = [8, 16, 3, 3]
            rewriter.entries[i].bytes = [UInt8](repeating: 0, count: 8 * 16 * 9 * 4)
        }
        for i in rewriter.entries.indices where rewriter.entries[i].name.hasPrefix("encoder.layers.9.") {
            let isWeight = rewriter.entries[i].name.hasSuffix("weight")
            rewriter.entries[i].shape = isWeight ? [16, 8, 3, 3] : [16]
            rewriter.entries[i].bytes = [UInt8](repeating: 0, count: (isWeight ? 16 * 8 * 9 : 16) * 4)
        }
        try rewriter.write(to: file)
        let config = folder.appendingPathComponent("config.json")
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: config)) as? [String: Any])
        json["latent_channels"] = 16
        try JSONSerialization.data(withJSONObject: json).write(to: config)
        let tiny = try AutoencoderTiny.load(from: folder)
        let pipeline = StableDiffusionPipeline(model: try StableDiffusionModel.load(from: try TinyModels.folder("tiny-sd1")),
                                               tinyAutoencoder: tiny)
        let error = #expect(throws: GenerationError.self) {
            _ = try pipeline.generate(GenerationRequest(prompt: "x", steps: 1, width: 64, height: 64))
        }
        #expect("\(error!)".contains("16 latent channels"), "\(error!)")
    }
}
