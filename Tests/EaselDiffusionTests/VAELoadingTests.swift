import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// How a VAE config is read and what it refuses; strict loading of its weights.
@Suite struct VAELoadingTests {
    private func decode(_ json: String) throws -> AutoencoderKLConfig {
        try ConfigFile.decode(AutoencoderKLConfig.self, from: Data(json.utf8), path: "vae/config.json")
    }

    @Test func defaultsAndFixtureConfig() throws {
        let minimal = try decode(#"{"block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"], "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"], "layers_per_block": 2, "sample_size": 512}"#)
        #expect(minimal.scalingFactor == 0.18215 && minimal.latentChannels == 4 && minimal.normNumGroups == 32)
        #expect(minimal.useQuantConv && minimal.usePostQuantConv && minimal.midBlockAddAttention)
        #expect(minimal == AutoencoderKLConfig.stableDiffusion)
        let tiny = try UNetVAEFixtures.component("tiny-sd1", "vae").config(AutoencoderKLConfig.self)
        #expect(tiny.blockOutChannels == [16, 32, 32, 32] && tiny.normNumGroups == 8 && tiny.scalingFactor == 0.18215)
    }

    @Test func refusesUnsupportedBlocksAndActivations() {
        #expect {
            try decode(#"{"down_block_types": ["AttnDownEncoderBlock2D"], "up_block_types": ["UpDecoderBlock2D"]}"#)
        } throws: { error in
            guard case let .invalidConfig(_, field, reason) = error as? CheckpointError else { return false }
            return field == "down_block_types" && reason.contains("AttnDownEncoderBlock2D")
        }
        #expect {
            try decode(#"{"act_fn": "gelu"}"#)
        } throws: { error in
            guard case let .invalidConfig(_, field, _) = error as? CheckpointError else { return false }
            return field == "act_fn"
        }
    }

    @Test func decoderOnlyLeavesEncoderUnreadAndAllowed() throws {
        let component = try UNetVAEFixtures.component("tiny-sd1", "vae")
        let config = try component.config(AutoencoderKLConfig.self)
        let weights = try component.weights()
        _ = try AutoencoderKL(config: config, weights: weights, parts: .decoderOnly)
        let unused = weights.unusedNames
        #expect(!unused.isEmpty && unused.allSatisfy { $0.hasPrefix("encoder.") || $0.hasPrefix("quant_conv.") })
        #expect(throws: CheckpointError.self) { try weights.checkAllConsumed() }
    }

    @Test func missingAndMisshapenTensorsAreNamed() throws {
        let component = try UNetVAEFixtures.component("tiny-sd1", "vae")
        let config = try component.config(AutoencoderKLConfig.self)
        let archive = try component.weightFiles().open()
        var tensors: [String: Tensor] = [:]
        for name in archive.names { tensors[name] = try archive.loadTensor(name) }

        var missing = tensors
        missing.removeValue(forKey: "decoder.mid_block.attentions.0.to_v.bias")
        #expect {
            try AutoencoderKL(config: config, weights: StrictWeights(tensors: missing))
        } throws: { error in
            guard case let .missingTensor(name, _, _) = error as? CheckpointError else { return false }
            return name == "decoder.mid_block.attentions.0.to_v.bias"
        }

        var misshapen = tensors
        misshapen["encoder.down_blocks.0.downsamplers.0.conv.weight"] = Tensor(zeros: [16, 16, 1, 1])
        #expect {
            try AutoencoderKL(config: config, weights: StrictWeights(tensors: misshapen))
        } throws: { error in
            guard case let .shapeMismatch(name, expected, found, _) = error as? CheckpointError else { return false }
            return name == "encoder.down_blocks.0.downsamplers.0.conv.weight" && expected == [16, 16, 3, 3] && found == [16, 16, 1, 1]
        }
    }
}
