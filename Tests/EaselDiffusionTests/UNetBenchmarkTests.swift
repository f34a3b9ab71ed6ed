import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// Weights of any requested name and shape, drawn from a seeded generator, for timing
/// full-size models without a checkpoint. Each tensor depends only on the seed and its
/// name, so the order blocks load in does not matter.
///
/// Matrices and kernels are uniform in ±1/sqrt(fan-in) (PyTorch's default init scale, so
/// activations stay O(1) and no time is lost to denormals); norm scales are 1 and biases
/// small.
struct RandomWeights: WeightSource {
    let seed: UInt64

    var location: String { "<random weights, seed \(seed)>" }

    func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        var state = name.utf8.reduce(seed ^ 0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
        let bound: Float
        if shape.count >= 2 {
            bound = 1 / Float(shape.dropFirst().reduce(1, *)).squareRoot()
        } else if name.hasSuffix("weight") {
            return Tensor(repeating: 1, shape: shape)
        } else {
            bound = 0.02
        }
        var out = Tensor(uninitializedShape: shape)
        out.withUnsafeMutableBufferPointer { buffer in
            for i in buffer.indices {
                // SplitMix64, top 24 bits to a float in [0, 1).
                state &+= 0x9e37_79b9_7f4a_7c15
                var z = state
                z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
                z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
                z ^= z >> 31
                buffer[i] = (Float(z >> 40) / Float(1 << 24) * 2 - 1) * bound
            }
        }
        return out
    }

    func shape(of name: String) -> [Int]? { nil }
}

/// Timing of one UNet forward at SD 1.5's full size (batch 2, 64x64 latents, 77 tokens of
/// 768) and of one VAE decode to 512x512, with random weights. Not part of the normal suite: run with
/// `EASEL_BENCH=1 swift test -c release --filter UNetBenchmarkTests`.
/// `scripts/bench_unet_diffusers.py [--vae]` times diffusers on the same shapes.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["EASEL_BENCH"] != nil))
struct UNetBenchmarkTests {
    /// runwayml/stable-diffusion-v1-5's unet/config.json (UNetLoadingTests.sd15Config).
    static func sd15Config() throws -> UNet2DConditionConfig {
        try ConfigFile.decode(UNet2DConditionConfig.self, from: Data(UNetLoadingTests.sd15Config.utf8),
                              path: "sd15/unet/config.json")
    }

    @Test func sd15UNetForward() throws {
        let clock = ContinuousClock()
        var unet: UNet2DConditionModel?
        let loadTime = try clock.measure { unet = try UNet2DConditionModel(config: Self.sd15Config(), weights: RandomWeights(seed: 1)) }
        let model = try #require(unet)
        let noise = RandomWeights(seed: 2)
        let latents = try noise.tensor("latents.weight.x", shape: [2, 4, 64, 64]) * 10
        let context = try noise.tensor("context.weight.x", shape: [2, 77, 768]) * 10
        print("SD 1.5 UNet built with random weights in \(loadTime)")
        var output: Tensor?
        for run in 0..<3 {
            let elapsed = clock.measure { output = model(latents, timestep: 999, encoderHiddenStates: context) }
            print("SD 1.5 UNet forward, batch 2, 64x64 latents (run \(run)\(run == 0 ? ", warm-up" : "")): \(elapsed)")
        }
        let result = try #require(output)
        #expect(result.shape == [2, 4, 64, 64])
        #expect(result.scalars.allSatisfy { $0.isFinite })
    }

    /// The tiny fixture UNets (batch 2, 8x8 latents): median of 20 forwards after a warm-up.
    @Test(arguments: UNetVAEFixtures.models)
    func tinyUNetForward(model: String) throws {
        let unet = try UNet2DConditionModel.load(from: try UNetVAEFixtures.component(model, "unet"))
        let latents = try UNetVAEFixtures.input(model, "latents")
        let context = try UNetVAEFixtures.input(model, "context")
        _ = unet(latents, timestep: 500, encoderHiddenStates: context)
        let clock = ContinuousClock()
        let times = (0..<20).map { _ in clock.measure { _ = unet(latents, timestep: 500, encoderHiddenStates: context) } }
        print("\(model) UNet forward, batch 2, 8x8 latents: median \(times.sorted()[10])")
    }

    /// The SD VAE's decode of one 64x64 latent to a 512x512 image.
    @Test func sdVAEDecode() throws {
        let clock = ContinuousClock()
        let vae = try AutoencoderKL(config: .stableDiffusion, weights: RandomWeights(seed: 3), parts: .decoderOnly)
        let latents = try RandomWeights(seed: 4).tensor("latents.weight.x", shape: [1, 4, 64, 64]) * 10
        var output: Tensor?
        for run in 0..<2 {
            let elapsed = clock.measure { output = vae.decode(latents) }
            print("SD VAE decode, 1 x 64x64 latents -> 512x512 (run \(run)\(run == 0 ? ", warm-up" : "")): \(elapsed)")
        }
        let image = try #require(output)
        #expect(image.shape == [1, 3, 512, 512])
        #expect(image.scalars.allSatisfy { $0.isFinite })
    }
}
