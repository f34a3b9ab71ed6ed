import Foundation
import Testing
@testable import EaselDiffusion

/// Config files come with checkpoints from anywhere, and this module is built with
/// `-Ounchecked`: an integer that would divide by zero, make a negative range or overflow
/// a product must be refused at decode time, naming the field, never reach the model code.
@Suite struct ConfigBoundsTests {
    static func decodeError<T: Decodable>(_ type: T.Type, _ json: String) -> String? {
        do {
            _ = try ConfigFile.decode(type, from: Data(json.utf8), path: "config.json")
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func unetStructuralIntegersAreRangeChecked() {
        let hostile = [
            (#"{"norm_num_groups": 0}"#, "norm_num_groups"),
            (#"{"norm_num_groups": -32}"#, "norm_num_groups"),
            (#"{"layers_per_block": -1}"#, "layers_per_block"),
            (#"{"layers_per_block": [2, 2, 2, 4611686018427387904]}"#, "layers_per_block"),
            (#"{"block_out_channels": [320, 640, 1280, 4611686018427387904]}"#, "block_out_channels"),
            (#"{"in_channels": 0}"#, "in_channels"),
            (#"{"out_channels": -4}"#, "out_channels"),
            (#"{"time_embedding_dim": 4611686018427387904}"#, "time_embedding_dim"),
            (#"{"cross_attention_dim": -1}"#, "cross_attention_dim"),
            (#"{"transformer_layers_per_block": 0}"#, "transformer_layers_per_block"),
            (#"{"attention_head_dim": 0}"#, "attention_head_dim"),
            (#"{"sample_size": -64}"#, "sample_size"),
            (#"{"conv_in_kernel": -1}"#, "conv_in_kernel"),
            // Past Int: Foundation's decoder refuses it without naming the field.
            (#"{"in_channels": 1e30}"#, "config.json"),
        ]
        for (json, field) in hostile {
            let error = Self.decodeError(UNet2DConditionConfig.self, json)
            #expect(error?.contains(field) == true, "\(json): \(error ?? "accepted")")
        }
        #expect(Self.decodeError(UNet2DConditionConfig.self, "{}") == nil, "diffusers' defaults still decode")
    }

    @Test func vaeStructuralIntegersAreRangeChecked() {
        for (json, field) in [
            (#"{"norm_num_groups": 0}"#, "norm_num_groups"),
            (#"{"layers_per_block": -1}"#, "layers_per_block"),
            (#"{"latent_channels": 0}"#, "latent_channels"),
            (#"{"in_channels": 4611686018427387904}"#, "in_channels"),
        ] {
            let error = Self.decodeError(AutoencoderKLConfig.self, json)
            #expect(error?.contains(field) == true, "\(json): \(error ?? "accepted")")
        }
        #expect(Self.decodeError(AutoencoderKLConfig.self, "{}") == nil)
    }

    @Test func clipSizesHaveAnUpperBound() {
        for (json, field) in [
            (#"{"vocab_size": 4611686018427387904}"#, "vocab_size"),
            (#"{"hidden_size": 4611686018427387904, "num_attention_heads": 1}"#, "hidden_size"),
        ] {
            let error = Self.decodeError(CLIPTextConfig.self, json)
            #expect(error?.contains(field) == true, "\(json): \(error ?? "accepted")")
        }
    }

    @Test func schedulerCountsAreRangeChecked() {
        for json in [#"{"num_train_timesteps": 0}"#, #"{"num_train_timesteps": 1e12}"#, #"{"steps_offset": -1}"#,
                     #"{"steps_offset": 4611686018427387904}"#] {
            #expect(throws: (any Error).self, "\(json)") { try SchedulerConfiguration.decode(Data(json.utf8)) }
        }
        #expect(throws: Never.self) { try SchedulerConfiguration.decode(Data(#"{"num_train_timesteps": 1000, "steps_offset": 1}"#.utf8)) }
    }
}
