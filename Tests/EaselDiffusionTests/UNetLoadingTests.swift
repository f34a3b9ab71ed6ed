import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// How a UNet config is read (defaults, int-or-list fields, diffusers' head-count quirk),
/// what it refuses, and strict weight loading: every failure names the file, the field or
/// the tensor.
@Suite struct UNetLoadingTests {
    private func decode(_ json: String) throws -> UNet2DConditionConfig {
        try ConfigFile.decode(UNet2DConditionConfig.self, from: Data(json.utf8), path: "unet/config.json")
    }

    /// Expects decoding `json` to fail naming `field`, with `fragments` in the message.
    private func expectRefused(_ json: String, field: String, mentioning fragments: [String]) {
        do {
            _ = try decode(json)
            Issue.record("config accepted: \(json)")
        } catch let error as CheckpointError {
            guard case let .invalidConfig(path, reportedField, _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(path == "unet/config.json")
            #expect(reportedField == field)
            for fragment in fragments {
                #expect(error.description.contains(fragment), "'\(error.description)' lacks '\(fragment)'")
            }
        } catch {
            Issue.record("unexpected error type \(error)")
        }
    }

    /// runwayml/stable-diffusion-v1-5's unet/config.json, which predates most keys.
    static let sd15Config = """
    {"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.6.0", "act_fn": "silu",
     "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": false,
     "cross_attention_dim": 768, "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
     "CrossAttnDownBlock2D", "DownBlock2D"], "downsample_padding": 1, "flip_sin_to_cos": true,
     "freq_shift": 0, "in_channels": 4, "layers_per_block": 2, "mid_block_scale_factor": 1,
     "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 64,
     "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]}
    """

    @Test func sd15ConfigTakesDiffusersDefaults() throws {
        let config = try decode(Self.sd15Config)
        #expect(config.numAttentionHeads == [8, 8, 8, 8])
        #expect(config.crossAttentionDim == [768, 768, 768, 768])
        #expect(config.layersPerBlock == [2, 2, 2, 2])
        #expect(config.transformerLayersPerBlock == [1, 1, 1, 1])
        #expect(!config.useLinearProjection && !config.upcastAttention)
        #expect(config.midBlockType == "UNetMidBlock2DCrossAttn")
        #expect(config.timeEmbedDimension == 1280)
        #expect(config.sampleSize == 64)
    }

    /// SD 2.x's `attention_head_dim: [5, 10, 20, 20]` are head counts (diffusers uses them as
    /// `num_attention_heads`), so 320 channels make 5 heads of 64.
    @Test func sd2HeadListMeansHeadCounts() throws {
        let json = Self.sd15Config
            .replacingOccurrences(of: "\"attention_head_dim\": 8", with: "\"attention_head_dim\": [5, 10, 20, 20]")
            .replacingOccurrences(of: "\"act_fn\"", with: "\"use_linear_projection\": true, \"num_attention_heads\": null, \"act_fn\"")
        let config = try decode(json)
        #expect(config.numAttentionHeads == [5, 10, 20, 20])
        #expect(config.useLinearProjection)
        // An explicit num_attention_heads wins.
        let explicit = try decode(json.replacingOccurrences(of: "\"num_attention_heads\": null", with: "\"num_attention_heads\": 4"))
        #expect(explicit.numAttentionHeads == [4, 4, 4, 4])
    }

    @Test func fixtureConfigsDecode() throws {
        let sd1 = try UNetVAEFixtures.component("tiny-sd1", "unet").config(UNet2DConditionConfig.self)
        #expect(sd1.numAttentionHeads == [8, 8] && !sd1.useLinearProjection && sd1.layersPerBlock == [2, 2])
        let sd2 = try UNetVAEFixtures.component("tiny-sd2", "unet").config(UNet2DConditionConfig.self)
        #expect(sd2.numAttentionHeads == [2, 4, 4] && sd2.useLinearProjection && sd2.upcastAttention)
    }

    /// SDXL's `text_time` addition needs its two widths; another addition is refused by name.
    @Test func refusesIncompleteOrUnknownAdditionEmbeddings() {
        let textTime = Self.sd15Config.replacingOccurrences(of: "\"act_fn\"", with: "\"addition_embed_type\": \"text_time\", \"act_fn\"")
        expectRefused(textTime, field: "addition_time_embed_dim", mentioning: ["text_time"])
        let image = Self.sd15Config.replacingOccurrences(of: "\"act_fn\"", with: "\"addition_embed_type\": \"image\", \"act_fn\"")
        expectRefused(image, field: "addition_embed_type", mentioning: ["image", "text_time"])
        let cramped = Self.sd15Config.replacingOccurrences(
            of: "\"act_fn\"",
            with: "\"addition_embed_type\": \"text_time\", \"addition_time_embed_dim\": 256, \"projection_class_embeddings_input_dim\": 1536, \"act_fn\"")
        expectRefused(cramped, field: "projection_class_embeddings_input_dim", mentioning: ["pooled"])
    }

    @Test func refusesOtherUnsupportedFeatures() {
        let cases: [(String, String, String)] = [
            ("\"class_embed_type\": \"timestep\"", "class_embed_type", "class embeddings"),
            ("\"resnet_time_scale_shift\": \"scale_shift\"", "resnet_time_scale_shift", "scale_shift"),
            ("\"time_embedding_type\": \"fourier\"", "time_embedding_type", "fourier"),
            ("\"only_cross_attention\": [true, false, false, false]", "only_cross_attention", "only-cross-attention"),
            ("\"dual_cross_attention\": true", "dual_cross_attention", "dual"),
            ("\"mid_block_type\": \"UNetMidBlock2DSimpleCrossAttn\"", "mid_block_type", "UNetMidBlock2DSimpleCrossAttn"),
        ]
        for (insert, field, fragment) in cases {
            let json = Self.sd15Config.replacingOccurrences(of: "\"act_fn\"", with: "\(insert), \"act_fn\"")
            expectRefused(json, field: field, mentioning: [fragment])
        }
        expectRefused(Self.sd15Config.replacingOccurrences(of: "\"act_fn\": \"silu\"", with: "\"act_fn\": \"gelu\""),
                      field: "act_fn", mentioning: ["gelu"])
        expectRefused(Self.sd15Config.replacingOccurrences(of: "\"DownBlock2D\"]", with: "\"AttnDownBlock2D\"]"),
                      field: "down_block_types", mentioning: ["AttnDownBlock2D"])
        expectRefused(Self.sd15Config.replacingOccurrences(of: "\"attention_head_dim\": 8", with: "\"attention_head_dim\": [8, 8]"),
                      field: "attention_head_dim", mentioning: ["2 entries"])
    }

    /// The tiny SD 1.x UNet's tensors, in memory, for the loading-failure tests.
    private func tinyTensors() throws -> (UNet2DConditionConfig, [String: Tensor]) {
        let component = try UNetVAEFixtures.component("tiny-sd1", "unet")
        let config = try component.config(UNet2DConditionConfig.self)
        let archive = try component.weightFiles().open()
        var tensors: [String: Tensor] = [:]
        for name in archive.names { tensors[name] = try archive.loadTensor(name) }
        return (config, tensors)
    }

    @Test func missingTensorIsNamed() throws {
        var (config, tensors) = try tinyTensors()
        let name = "down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k.weight"
        #expect(tensors.removeValue(forKey: name) != nil)
        #expect {
            try UNet2DConditionModel(config: config, weights: StrictWeights(tensors: tensors))
        } throws: { error in
            guard case let .missingTensor(missing, _, _) = error as? CheckpointError else { return false }
            return missing == name && "\(error)".contains(name)
        }
    }

    @Test func misshapenTensorIsNamedWithBothShapes() throws {
        var (config, tensors) = try tinyTensors()
        let name = "up_blocks.1.resnets.2.conv1.weight"
        let stored = try #require(tensors[name])
        tensors[name] = Tensor(zeros: [stored.shape[0], stored.shape[1] + 1, 3, 3])
        #expect {
            try UNet2DConditionModel(config: config, weights: StrictWeights(tensors: tensors))
        } throws: { error in
            guard case let .shapeMismatch(badName, expected, found, _) = error as? CheckpointError else { return false }
            let message = "\(error)"
            return badName == name && expected == stored.shape && found == [stored.shape[0], stored.shape[1] + 1, 3, 3]
                && message.contains(name) && message.contains("\(stored.shape)")
        }
    }

    @Test func leftoverTensorIsNamed() throws {
        var (config, tensors) = try tinyTensors()
        tensors["mid_block.attentions.0.extra.weight"] = Tensor(zeros: [4])
        let weights = StrictWeights(tensors: tensors)
        _ = try UNet2DConditionModel(config: config, weights: weights)
        #expect {
            try weights.checkAllConsumed()
        } throws: { error in
            guard case let .unusedTensors(names, _) = error as? CheckpointError else { return false }
            return names == ["mid_block.attentions.0.extra.weight"]
        }
    }

    /// A config that disagrees with the weights (SD 2.x's heads on SD 1.x-shaped weights
    /// load fine: heads do not change shapes; linear projections do) fails on the first
    /// tensor whose shape differs.
    @Test func configWeightMismatchIsReported() throws {
        var (config, tensors) = try tinyTensors()
        config.useLinearProjection = true
        #expect {
            try UNet2DConditionModel(config: config, weights: StrictWeights(tensors: tensors))
        } throws: { error in
            guard case let .shapeMismatch(name, _, _, _) = error as? CheckpointError else { return false }
            return name == "down_blocks.0.attentions.0.proj_in.weight"
        }
        tensors.removeAll()
    }
}
