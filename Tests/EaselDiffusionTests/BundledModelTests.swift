import Foundation
import Testing
@testable import EaselDiffusion

/// The bundled model (`easel-shapes`, scripts/train_bundled_model.py) draws what held-out
/// captions ask for — (shape, colour, background) combinations it never saw in training — and
/// draws it as diffusers does from the same files.
@Suite(.serialized) struct BundledModelTests {
    struct Fixture: Decodable {
        var steps: Int
        var guidance: Double
        var palette: [String: [Int]]
        var referenceImages: Int
        var diffusersAccuracy: [String: Double]
        var cases: [Case]

        enum CodingKeys: String, CodingKey {
            case steps, guidance, palette, cases
            case referenceImages = "reference_images"
            case diffusersAccuracy = "diffusers_accuracy"
        }
    }

    struct Case: Decodable {
        var prompt: String
        var shape: String
        var colour: String
        var background: String
        var position: String
        var seed: UInt64
    }

    /// What the committed model reaches on the 48 held-out captions (colour 47/48, background and
    /// position 48/48), less one case: raise with the model, never lower.
    static let measuredFloor: [String: Double] = ["colour": 0.95, "background": 0.97, "position": 0.97]

    static func fixture() throws -> Fixture {
        let url = try #require(Bundle.module.url(forResource: "held_out_captions", withExtension: "json",
                                                 subdirectory: "Fixtures/bundled-model"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    static func request(_ c: Case, _ fixture: Fixture) -> GenerationRequest {
        GenerationRequest(prompt: c.prompt, negativePrompt: nil, steps: fixture.steps, width: 64, height: 64,
                          seed: c.seed, guidanceScale: fixture.guidance)
    }

    @Test func isACompleteDiffusersFolderAtItsNativeSize() throws {
        let folder = try BundledModel.folder()
        for file in ["model_index.json", "scheduler/scheduler_config.json", "tokenizer/vocab.json", "tokenizer/merges.txt",
                     "text_encoder/model.safetensors", "unet/diffusion_pytorch_model.safetensors",
                     "vae/diffusion_pytorch_model.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path), "\(file)")
        }
        let model = try StableDiffusionModel.load(from: folder)
        #expect(model.nativeSize.width == 64 && model.nativeSize.height == 64)
        #expect(model.schedulerConfiguration.className == "DDIMScheduler")
    }

    /// On captions of combinations held out of training, Easel's pictures read back as well as
    /// diffusers' pictures of the same files do (the fixture's `diffusers_accuracy`, one case of
    /// slack), not below what this model was measured to reach, and at least 90% right on each of
    /// shape colour, background and position (the bar). Shape is reported, not checked:
    /// the model draws rough shapes the reader often mistakes.
    @Test func drawsHeldOutCaptionsRight() throws {
        let fixture = try Self.fixture()
        let model = try StableDiffusionModel.load(from: try BundledModel.folder())
        let pipeline = StableDiffusionPipeline(model: model)
        let reader = ShapeReader(palette: fixture.palette)
        var right = ["colour": 0, "background": 0, "position": 0, "shape": 0]
        var perShape: [String: (right: Int, total: Int)] = [:]
        var seconds = 0.0
        for c in fixture.cases {
            let result = try pipeline.generate(Self.request(c, fixture))
            seconds += result.timings.total
            let seen = reader.read(result.images[0])
            right["colour"]! += seen.colour == c.colour ? 1 : 0
            right["background"]! += seen.background == c.background ? 1 : 0
            right["position"]! += seen.position == c.position ? 1 : 0
            right["shape"]! += seen.shape == c.shape ? 1 : 0
            perShape[c.shape, default: (0, 0)].right += seen.shape == c.shape ? 1 : 0
            perShape[c.shape, default: (0, 0)].total += 1
            if seen.colour != c.colour || seen.background != c.background || seen.position != c.position {
                print("bundled model: \"\(c.prompt)\" drew \(seen)")
            }
        }
        let n = Double(fixture.cases.count)
        let accuracy = right.mapValues { Double($0) / n }
        print(String(format: "bundled model, %d held-out captions: colour %.3f background %.3f position %.3f shape %.3f; %.2f s per 64x64 image (%d steps, guidance)",
                     fixture.cases.count, accuracy["colour"]!, accuracy["background"]!, accuracy["position"]!,
                     accuracy["shape"]!, seconds / n, fixture.steps))
        print("bundled model, shape right per shape: "
              + perShape.keys.sorted().map { "\($0) \(perShape[$0]!.right)/\(perShape[$0]!.total)" }.joined(separator: ", "))
        for attribute in ["colour", "background", "position"] {
            let reference = try #require(fixture.diffusersAccuracy[attribute])
            #expect(accuracy[attribute]! >= reference - 1.5 / n, "\(attribute): \(accuracy[attribute]!) vs diffusers \(reference)")
            #expect(accuracy[attribute]! >= Self.measuredFloor[attribute]!, "\(attribute) regressed")
            #expect(accuracy[attribute]! >= 0.9, "\(attribute): \(accuracy[attribute]!) is below the 90% bar")
        }
    }

    /// Easel and diffusers draw the same pictures from the committed float16 files (diffusers
    /// computing in float32): every pixel within 2/255.
    @Test func matchesDiffusers() throws {
        let fixture = try Self.fixture()
        let url = try #require(Bundle.module.url(forResource: "reference", withExtension: "u8",
                                                 subdirectory: "Fixtures/bundled-model"))
        let expected = [UInt8](try Data(contentsOf: url))
        let pipeline = StableDiffusionPipeline(model: try StableDiffusionModel.load(from: try BundledModel.folder()))
        let side = 64 * 64 * 3
        #expect(expected.count == fixture.referenceImages * side)
        var worst = 0
        for (index, c) in fixture.cases.prefix(fixture.referenceImages).enumerated() {
            let pixels = try pipeline.generate(Self.request(c, fixture)).images[0].pixels
            let reference = expected[(index * side)..<((index + 1) * side)]
            worst = max(worst, zip(pixels, reference).map { abs(Int($0) - Int($1)) }.max() ?? 0)
        }
        print("bundled model parity with diffusers, \(fixture.referenceImages) images: worst pixel \(worst)/255")
        #expect(worst <= 2)
    }

    /// The reader itself, on pictures whose content is known.
    @Test func readerReadsAPlainPicture() {
        let reader = ShapeReader(palette: ["red": [220, 30, 30], "blue": [30, 60, 220], "white": [245, 245, 245]])
        var pixels = [UInt8](repeating: 0, count: 64 * 64 * 3)
        for y in 0..<64 {
            for x in 0..<64 {
                let inside = (4..<20).contains(x) && (44..<60).contains(y)
                let c: [UInt8] = inside ? [225, 28, 35] : [28, 62, 215]
                pixels.replaceSubrange((3 * (y * 64 + x))..<(3 * (y * 64 + x) + 3), with: c)
            }
        }
        let reading = reader.read(RGBImage(width: 64, height: 64, pixels: pixels))
        #expect(reading == ShapeReader.Reading(background: "blue", colour: "red", position: "bottom left", shape: "square"))
        let empty = reader.read(RGBImage(width: 64, height: 64, pixels: [UInt8](repeating: 250, count: 64 * 64 * 3)))
        #expect(empty == ShapeReader.Reading(background: "white", colour: nil, position: nil, shape: nil))
    }
}
