import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// The tiny diffusers models and reference outputs of scripts/make_tiny_models.py and
/// scripts/make_pipeline_fixtures.py (shared by the UNet and VAE tests).
enum UNetVAEFixtures {
    static let models = ["tiny-sd1", "tiny-sd2"]

    static var root: URL {
        get throws {
            try #require(Bundle.module.resourceURL).appendingPathComponent("Fixtures")
        }
    }

    /// A component folder of a fixture model (`unet`, `vae`).
    static func component(_ model: String, _ name: String) throws -> DiffusersComponent {
        DiffusersComponent(name: name, directory: try root.appendingPathComponent("models/\(model)/\(name)"))
    }

    /// A little-endian float32 file of `Fixtures/pipeline/`, shaped `shape`.
    static func tensor(_ file: String, shape: [Int]) throws -> Tensor {
        try FixtureTensors.load(try root.appendingPathComponent("pipeline/\(file)"), shape: shape)
    }

    /// Input `name` of the components fixture of `model`, with the shape its JSON records.
    static func input(_ model: String, _ name: String) throws -> Tensor {
        let json = try JSONSerialization.jsonObject(
            with: Data(contentsOf: try root.appendingPathComponent("pipeline/\(model).components.json"))) as? [String: Any]
        let inputs = try #require(json?["inputs"] as? [String: [Int]])
        return try tensor("\(model).input.\(name).f32", shape: try #require(inputs[name]))
    }

    /// max |actual - expected| / max |expected|, the tolerance measure of every parity test.
    static func relativeError(_ actual: Tensor, _ expected: Tensor) -> Float {
        precondition(actual.shape == expected.shape, "shape \(actual.shape) vs \(expected.shape)")
        let a = actual.scalars, e = expected.scalars
        let diff = zip(a, e).map { abs($0 - $1) }.max() ?? 0
        let scale = e.map { abs($0) }.max() ?? 0
        return diff / max(scale, .leastNormalMagnitude)
    }
}

/// The UNet against diffusers 0.42.1 on the tiny SD 1.x-like and SD 2.x-like models:
/// outputs agree to 1e-4 relative (max abs difference / max abs reference).
@Suite struct UNetParityTests {
    static let tolerance: Float = 1e-4

    @Test(arguments: UNetVAEFixtures.models)
    func matchesDiffusersAtEveryTimestep(model: String) throws {
        let unet = try UNet2DConditionModel.load(from: try UNetVAEFixtures.component(model, "unet"))
        let latents = try UNetVAEFixtures.input(model, "latents")
        let context = try UNetVAEFixtures.input(model, "context")
        for t in [999, 500, 1] {
            let expected = try UNetVAEFixtures.tensor("\(model).unet.t\(t).f32", shape: latents.shape)
            let clock = ContinuousClock()
            var output: Tensor?
            let elapsed = clock.measure { output = unet(latents, timestep: Float(t), encoderHiddenStates: context) }
            let error = UNetVAEFixtures.relativeError(try #require(output), expected)
            print("UNet parity \(model) t=\(t): relative error \(error), forward \(elapsed)")
            #expect(error < Self.tolerance, "\(model) t=\(t): relative error \(error)")
        }
    }

    /// A latent whose sides are not multiples of 2^levels (5x8): each upsampler is told the
    /// size of its skip connection (diffusers' `forward_upsample_size`).
    @Test(arguments: UNetVAEFixtures.models)
    func matchesDiffusersOnOddSizes(model: String) throws {
        let unet = try UNet2DConditionModel.load(from: try UNetVAEFixtures.component(model, "unet"))
        let latents = try UNetVAEFixtures.input(model, "odd_latents")
        let context = try UNetVAEFixtures.input(model, "odd_context")
        let expected = try UNetVAEFixtures.tensor("\(model).unet.odd.f32", shape: latents.shape)
        let output = unet(latents, timestep: 250, encoderHiddenStates: context)
        let error = UNetVAEFixtures.relativeError(output, expected)
        print("UNet parity \(model) odd 5x8 t=250: relative error \(error)")
        #expect(error < Self.tolerance, "\(model) odd size: relative error \(error)")
    }

    /// One timestep per batch element gives, row by row, what a shared timestep gives.
    @Test func perElementTimestepsMatchSharedOnes() throws {
        let model = "tiny-sd1"
        let unet = try UNet2DConditionModel.load(from: try UNetVAEFixtures.component(model, "unet"))
        let latents = try UNetVAEFixtures.input(model, "latents")
        let context = try UNetVAEFixtures.input(model, "context")
        let mixed = unet(latents, timesteps: [999, 1], encoderHiddenStates: context)
        let at999 = try UNetVAEFixtures.tensor("\(model).unet.t999.f32", shape: latents.shape)
        let at1 = try UNetVAEFixtures.tensor("\(model).unet.t1.f32", shape: latents.shape)
        #expect(UNetVAEFixtures.relativeError(mixed.sliced(axis: 0, 0..<1), at999.sliced(axis: 0, 0..<1)) < Self.tolerance)
        #expect(UNetVAEFixtures.relativeError(mixed.sliced(axis: 0, 1..<2), at1.sliced(axis: 0, 1..<2)) < Self.tolerance)
    }

    /// A memo keeps every cross-attention's keys and values of the context from the first
    /// step: later steps read them and give the bits they give without one; other tokens
    /// (another run's, or odd sizes) make it start over rather than serve stale ones.
    @Test(arguments: UNetVAEFixtures.models)
    func crossAttentionMemoGivesTheSameBits(model: String) throws {
        let unet = try UNet2DConditionModel.load(from: try UNetVAEFixtures.component(model, "unet"))
        let latents = try UNetVAEFixtures.input(model, "latents")
        let context = try UNetVAEFixtures.input(model, "context")
        let memo = CrossAttentionMemo()
        for t: Float in [999, 500, 1] {
            let remembered = unet(latents, timesteps: [t, t], encoderHiddenStates: context, memo: memo)
            #expect(memo.count > 0, "\(model): the first step fills the memo")
            let fresh = unet(latents, timesteps: [t, t], encoderHiddenStates: context)
            #expect(remembered.scalars == fresh.scalars, "\(model) t=\(t)")
        }
        let layers = memo.count
        let oddLatents = try UNetVAEFixtures.input(model, "odd_latents")
        let oddContext = try UNetVAEFixtures.input(model, "odd_context")
        let odd = unet(oddLatents, timesteps: Array(repeating: 250, count: oddLatents.shape[0]),
                       encoderHiddenStates: oddContext, memo: memo)
        #expect(odd.scalars == unet(oddLatents, timestep: 250, encoderHiddenStates: oddContext).scalars)
        #expect(memo.count == layers, "the other tokens' layers replaced the first ones'")
        // The first context's storage again, reshaped to one row of twice the tokens.
        let oneRow = latents.sliced(axis: 0, 0..<1)
        let joined = context.reshaped([1, 2 * context.shape[1], context.shape[2]])
        _ = unet(latents, timesteps: [1, 1], encoderHiddenStates: context, memo: memo)
        let reshaped = unet(oneRow, timesteps: [1], encoderHiddenStates: joined, memo: memo)
        #expect(reshaped.scalars == unet(oneRow, timesteps: [1], encoderHiddenStates: joined).scalars,
                "the same storage in another shape is other tokens")
    }
}
