import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// The VAE against diffusers 0.42.1 on the tiny models' VAE: decode (including
/// `post_quant_conv`) and encode (including `quant_conv`, mean and std of the latent
/// distribution) agree to 1e-4 relative.
@Suite struct VAEParityTests {
    static let tolerance: Float = 1e-4

    @Test(arguments: UNetVAEFixtures.models)
    func decodeMatchesDiffusers(model: String) throws {
        let vae = try AutoencoderKL.load(from: try UNetVAEFixtures.component(model, "vae"), parts: .decoderOnly)
        #expect(!vae.hasEncoder)
        let latents = try UNetVAEFixtures.input(model, "latents").sliced(axis: 0, 0..<1)
        // As the pipeline does (and the fixture script): latents / scaling_factor.
        let image = vae.decode(latents / Float(vae.config.scalingFactor))
        let expected = try UNetVAEFixtures.tensor("\(model).vae.decode.f32", shape: [1, 3, 64, 64])
        let error = UNetVAEFixtures.relativeError(image, expected)
        print("VAE decode parity \(model): relative error \(error)")
        #expect(error < Self.tolerance, "\(model) decode: relative error \(error)")
    }

    @Test(arguments: UNetVAEFixtures.models)
    func encodeMatchesDiffusers(model: String) throws {
        let vae = try AutoencoderKL.load(from: try UNetVAEFixtures.component(model, "vae"))
        let image = try UNetVAEFixtures.input(model, "image")
        let distribution = vae.encode(image)
        let mean = try UNetVAEFixtures.tensor("\(model).vae.encode.mean.f32", shape: [1, 4, 8, 8])
        let std = try UNetVAEFixtures.tensor("\(model).vae.encode.std.f32", shape: [1, 4, 8, 8])
        let meanError = UNetVAEFixtures.relativeError(distribution.mean, mean)
        let stdError = UNetVAEFixtures.relativeError(distribution.std, std)
        print("VAE encode parity \(model): mean relative error \(meanError), std relative error \(stdError)")
        #expect(meanError < Self.tolerance, "\(model) encode mean: relative error \(meanError)")
        #expect(stdError < Self.tolerance, "\(model) encode std: relative error \(stdError)")
    }
}
