import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// `Precision.bfloat16` against diffusers' float32 images (the pipeline fixtures): bfloat16
/// rounds every linear and convolution product's operands, so pixels move; the bar is a
/// PSNR of at least 35 dB per image set. Each case is also checked against Easel's own
/// float32 image, and the bfloat16 weights really are bfloat16.
@Suite struct BFloat16ParityTests {
    /// Peak signal-to-noise ratio of two 8-bit images, in dB (infinite when equal).
    static func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
        let squared = zip(a, b).reduce(0.0) { $0 + pow(Double(Int($1.0) - Int($1.1)), 2) }
        let mse = squared / Double(max(a.count, 1))
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }

    @Test(arguments: TinyModels.names)
    func bfloat16ImagesStayWithin35dBOfDiffusersFloat32(model name: String) throws {
        let model = try StableDiffusionModel.load(from: try TinyModels.folder(name), precision: .bfloat16)
        let pipeline = StableDiffusionPipeline(model: model)
        var worst = Double.infinity
        for c in try PipelineParityTests.cases(name) {
            let request = GenerationRequest(
                prompt: c.prompt, negativePrompt: c.negative.isEmpty ? nil : c.negative, steps: c.steps,
                width: c.width, height: c.height, seed: c.seed, guidanceScale: c.guidance, count: c.count,
                scheduler: c.scheduler == "default" ? nil : c.scheduler)
            let actual = try pipeline.generate(request).images.flatMap(\.pixels)
            let expected = try PipelineParityTests.expectedPixels(c.file)
            #expect(actual.count == expected.count)
            let db = Self.psnr(actual, expected)
            worst = min(worst, db)
            #expect(db >= 35, "\(name) \(c.scheduler) x\(c.count): PSNR \(db) dB")
        }
        print("bf16 parity \(name): worst PSNR against diffusers float32 \(String(format: "%.1f", worst)) dB (kernels: \(Kernels.current))")
    }

    @Test func bfloat16ModelsKeepMatrixWeightsInBFloat16() throws {
        let folder = try TinyModels.folder("tiny-sd1")
        let unet = try UNet2DConditionModel.load(from: try DiffusersFolder(url: folder).component("unet"), matrixType: .bfloat16)
        let float = try UNet2DConditionModel.load(from: try DiffusersFolder(url: folder).component("unet"))
        #expect(unet.convIn.weight.elementType == .bfloat16)
        #expect(float.convIn.weight.elementType == .float32)
        #expect(unet.convIn.bias?.elementType == .float32)
        // conv_in's 4 input channels do not start a tile, so it stays a tensor even with AMX.
        #expect(unet.convIn.weight.tensor?.scalars == float.convIn.weight.tensor?.converted(to: .bfloat16).scalars)
        #expect(!float.convIn.weight.isPacked)
    }
}
