import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// Image to image against diffusers' StableDiffusionImg2ImgPipeline
/// (scripts/make_img2img_fixtures.py): five schedulers, strengths 0.3, 0.6 and 1.0, 1 and 3
/// images per prompt, guidance on and off, from one PNG. Bar: every pixel within 2/255.
@Suite struct ImageToImageParityTests {
    struct Case: Decodable {
        var scheduler: String
        var strength: Double
        var count: Int
        var steps: Int
        var seed: UInt64
        var guidance: Double
        var prompt: String
        var negative: String
        var file: String
    }

    static func fixture(_ file: String) throws -> URL {
        try #require(Bundle.module.url(forResource: file, withExtension: nil, subdirectory: "Fixtures/img2img"))
    }

    static func cases(_ model: String) throws -> [Case] {
        try JSONDecoder().decode([Case].self, from: Data(contentsOf: try fixture("\(model).cases.json")))
    }

    @Test(arguments: TinyModels.names)
    func imagesMatchDiffusers(model name: String) throws {
        let model = try StableDiffusionModel.load(from: try TinyModels.folder(name), withEncoder: true)
        let pipeline = StableDiffusionPipeline(model: model)
        let initImage = try ImageDecoder().decode(contentsOf: try Self.fixture("init.png"))
        for c in try Self.cases(name) {
            let request = GenerationRequest(
                prompt: c.prompt, negativePrompt: c.negative.isEmpty ? nil : c.negative, steps: c.steps,
                width: initImage.width, height: initImage.height, seed: c.seed, guidanceScale: c.guidance,
                count: c.count, scheduler: c.scheduler, initImage: InitImage(image: initImage, strength: c.strength))
            var progress: [GenerationProgress] = []
            let result = try pipeline.generate(request, onStep: { progress.append($0) })
            // diffusers runs timesteps[steps - int(steps * strength):]; PNDM's schedule has extra entries.
            let run = try #require(progress.last)
            #expect(progress.map(\.step) == Array(1...run.totalSteps), "\(name) \(c.file): steps reported")
            #expect(c.scheduler == "pndm" || run.totalSteps == Int(Double(c.steps) * c.strength), "\(name) \(c.file)")
            let worst = try FixtureImages.worstPixel(result.images, against: try Self.fixture(c.file))
            #expect(worst <= 2, "\(name) \(c.scheduler) strength \(c.strength) x\(c.count): worst pixel \(worst)/255")
            print("img2img parity \(name) \(c.scheduler) strength \(c.strength) x\(c.count): worst pixel \(worst)/255")
        }
    }

    @Test func jpegDecodesAsPillowDoes() throws {
        let image = try ImageDecoder().decode(contentsOf: try Self.fixture("init.jpg"))
        let expected = [UInt8](try Data(contentsOf: try Self.fixture("init.jpg.u8")))
        #expect(image.width == 64 && image.height == 64)
        let worst = zip(image.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? 255
        #expect(image.pixels.count == expected.count && worst <= 1, "worst JPEG pixel differs by \(worst)")
    }

    @Test func badInitImagesAreRefusedWithReasons() throws {
        let png = try Data(contentsOf: try Self.fixture("init.png"))
        let jpeg = try Data(contentsOf: try Self.fixture("init.jpg"))
        let decoder = ImageDecoder()
        #expect(throws: ImageDecodingError.unrecognised) { try decoder.decode(Data("GIF89a".utf8)) }
        #expect(throws: ImageDecodingError.unrecognised) { try decoder.decode(Data()) }
        for truncated in [png.prefix(png.count / 2), jpeg.prefix(jpeg.count / 2), png.prefix(20), jpeg.prefix(4)] {
            do {
                _ = try decoder.decode(Data(truncated))
                Issue.record("a truncated file of \(truncated.count) bytes decoded")
            } catch let error as ImageDecodingError {
                guard case .corrupt = error else { Issue.record("\(error)"); continue }
            }
        }
        #expect(throws: ImageDecodingError.tooLarge(width: 64, height: 64, maxPixels: 4095)) {
            try ImageDecoder(maxPixels: 4095).decode(png)
        }
    }

    @Test func requestsThatCannotRunAreRefused() throws {
        let initImage = try ImageDecoder().decode(contentsOf: try Self.fixture("init.png"))
        let withEncoder = StableDiffusionPipeline(
            model: try StableDiffusionModel.load(from: try TinyModels.folder("tiny-sd1"), withEncoder: true))
        func problems(_ pipeline: StableDiffusionPipeline, strength: Double, steps: Int = 10,
                      width: Int = 64) -> [String] {
            let request = GenerationRequest(prompt: "x", steps: steps, width: width, height: 64,
                                            initImage: InitImage(image: initImage, strength: strength))
            do {
                _ = try pipeline.generate(request)
                return []
            } catch let GenerationError.invalidRequest(problems) {
                return problems
            } catch {
                return ["\(error)"]
            }
        }
        #expect(problems(withEncoder, strength: 0).first?.contains("strength must be greater than 0") == true)
        #expect(problems(withEncoder, strength: 1.5).first?.contains("at most 1") == true)
        #expect(problems(withEncoder, strength: .nan).first?.contains("strength") == true)
        #expect(problems(withEncoder, strength: 0.05).first?.contains("runs no step") == true)
        #expect(problems(withEncoder, strength: 0.5, width: 72).first?.contains("init image is 64x64") == true)
        let decoderOnly = StableDiffusionPipeline(model: try StableDiffusionModel.load(from: try TinyModels.folder("tiny-sd1")))
        #expect(problems(decoderOnly, strength: 0.5).first?.contains("VAE encoder") == true)
    }
}
