import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// Live previews from the engine: every few steps (never after the last), of the first image,
/// at latent size by the linear projection or full size through the tiny autoencoder; asking
/// for them changes no pixel of the result.
@Suite struct LatentPreviewTests {
    final class Collected: @unchecked Sendable {
        let lock = NSLock()
        var previews: [(step: Int, image: RGBImage)] = []
        func add(_ step: Int, _ image: RGBImage) { lock.withLock { previews.append((step, image)) } }
    }

    @Test func previewsComeEveryFewStepsAndLeaveTheImageAlone() throws {
        let pipeline = StableDiffusionPipeline(model: try StableDiffusionModel.load(from: try TinyModels.folder("tiny-sd1")))
        let request = GenerationRequest(prompt: "a red circle", steps: 7, width: 64, height: 48, seed: 5, count: 2)
        let collected = Collected()
        let with = try pipeline.generate(request, previews: PreviewOptions(every: 2, deliver: collected.add))
        let without = try pipeline.generate(request)
        #expect(with.images.map(\.pixels) == without.images.map(\.pixels))
        // PNDM runs 8 evaluations for 7 steps: previews after evaluations 2, 4, 6 (not 8, the last).
        #expect(collected.previews.map(\.step) == [2, 4, 6])
        #expect(collected.previews.allSatisfy { ($0.image.width, $0.image.height) == (8, 6) })
        // The estimate moves toward the final image: the last preview differs from the first.
        #expect(collected.previews.first?.image.pixels != collected.previews.last?.image.pixels)
        #expect(PreviewOptions.every(ofSteps: 50) == 5 && PreviewOptions.every(ofSteps: 4) == 1)
    }

    @Test func theTinyAutoencoderDrawsFullSizePreviews() throws {
        let root = try #require(Bundle.module.url(forResource: "tiny-autoencoder", withExtension: nil, subdirectory: "Fixtures"))
        let tiny = try AutoencoderTiny.load(from: root.appendingPathComponent("diffusers"))
        let pipeline = StableDiffusionPipeline(model: try StableDiffusionModel.load(from: try TinyModels.folder("tiny-sd1")),
                                               tinyAutoencoder: tiny)
        let collected = Collected()
        _ = try pipeline.generate(GenerationRequest(prompt: "x", steps: 3, width: 64, height: 64, seed: 1),
                                  previews: PreviewOptions(every: 1, deliver: collected.add))
        #expect(collected.previews.map(\.step) == [1, 2, 3])  // 4 PNDM evaluations for 3 steps
        #expect(collected.previews.allSatisfy { ($0.image.width, $0.image.height) == (64, 64) })
    }

    @Test func largeLatentsAreHalvedBeforeTheTinyDecode() {
        let small = Tensor(shape: [1, 4, 8, 8], scalars: (0..<256).map(Float.init))
        #expect(LatentPreviewer.halvedWhenLarge(small).shape == [1, 4, 8, 8])
        let large = Tensor(shape: [1, 1, 64, 64], scalars: (0..<4096).map(Float.init))
        let halved = LatentPreviewer.halvedWhenLarge(large)
        #expect(halved.shape == [1, 1, 32, 32])
        #expect(halved.scalars[0] == Float(0 + 1 + 64 + 65) / 4)
    }

    @Test func theLinearProjectionMapsSDLatentsToColours() {
        // One latent pixel with only channel 0 set to 1: (0.3512, 0.2297, 0.3227) in [-1, 1].
        let latents = Tensor(shape: [1, 4, 1, 1], scalars: [1, 0, 0, 0])
        let image = LatentPreviewer.project(latents, palette: .sd)
        #expect(image.pixels == [172, 157, 169])
    }

    @Test func sdxlLatentsHaveTheirOwnColours() throws {
        // Channel 0 at 1 under SDXL's factors and bias: (0.3651 + 0.1084, 0.4232 - 0.0175, 0.4341 - 0.0011).
        let latents = Tensor(shape: [1, 4, 1, 1], scalars: [1, 0, 0, 0])
        #expect(LatentPreviewer.project(latents, palette: .sdxl).pixels == [188, 179, 183])
        // The pipeline picks the palette from the model: an SDXL model's previews use SDXL's.
        let model = try StableDiffusionModel.load(from: try SDXLParityTests.model())
        #expect(LatentPreviewer.Palette.of(model) == .sdxl)
        #expect(LatentPreviewer.Palette.of(try StableDiffusionModel.load(from: try TinyModels.folder("tiny-sd1"))) == .sd)
        let collected = Collected()
        let request = GenerationRequest(prompt: "a kite", steps: 4, width: 64, height: 64, seed: 3, guidanceScale: 5)
        _ = try StableDiffusionPipeline(model: model).generate(
            request, previews: PreviewOptions(every: 1, deliver: collected.add))
        #expect(collected.previews.map(\.step) == [1, 2, 3])
        #expect(collected.previews.allSatisfy { ($0.image.width, $0.image.height) == (8, 8) })
    }
}
