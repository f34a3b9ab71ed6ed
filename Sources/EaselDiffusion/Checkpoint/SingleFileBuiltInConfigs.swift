import Foundation

/// The diffusers configs a single file of each family is loaded with when the caller gives
/// no config folder: those of the repository diffusers 0.42.1's `from_single_file` fetches
/// for that family (`DIFFUSERS_DEFAULT_PIPELINE_PATHS` in `loaders/single_file_utils.py`):
///
/// - SD 1.x: `stable-diffusion-v1-5/stable-diffusion-v1-5` — PNDM, epsilon, 512.
/// - SD 2.x: `stabilityai/stable-diffusion-2-1` — DDIM, v-prediction, 768 (96 latents),
///   attention upcast.
/// - SD 2.x base: `stabilityai/stable-diffusion-2-1-base` — PNDM, epsilon, 512.
///
/// The published files' values, with `scaling_factor`, `upcast_attention` and
/// `prediction_type` written out where the files leave them to the defaults.
enum SingleFileBuiltInConfigs {
    static func unet(_ family: SingleFileFamily) -> String {
        switch family {
        case .sd1:
            return unet(headDim: "8", crossAttention: 768, sampleSize: 64, linear: false, upcast: false)
        case .sd2:
            return unet(headDim: "[5, 10, 20, 20]", crossAttention: 1024, sampleSize: 96, linear: true, upcast: true)
        case .sd2Base:
            return unet(headDim: "[5, 10, 20, 20]", crossAttention: 1024, sampleSize: 64, linear: true, upcast: false)
        }
    }

    static func vae(_ family: SingleFileFamily) -> String {
        // 2-1-base publishes 768 too (its VAE config is 2-1's); only tiling reads it.
        let sampleSize = family == .sd1 ? 512 : 768
        return """
            {
              "_class_name": "AutoencoderKL",
              "act_fn": "silu",
              "block_out_channels": [128, 256, 512, 512],
              "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
              "in_channels": 3,
              "latent_channels": 4,
              "layers_per_block": 2,
              "norm_num_groups": 32,
              "out_channels": 3,
              "sample_size": \(sampleSize),
              "scaling_factor": 0.18215,
              "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]
            }
            """
    }

    static func textEncoder(_ family: SingleFileFamily) -> String {
        let sd1 = family == .sd1
        return """
            {
              "architectures": ["CLIPTextModel"],
              "attention_dropout": 0.0,
              "bos_token_id": 0,
              "dropout": 0.0,
              "eos_token_id": 2,
              "hidden_act": "\(sd1 ? "quick_gelu" : "gelu")",
              "hidden_size": \(sd1 ? 768 : 1024),
              "initializer_factor": 1.0,
              "initializer_range": 0.02,
              "intermediate_size": \(sd1 ? 3072 : 4096),
              "layer_norm_eps": 1e-05,
              "max_position_embeddings": 77,
              "model_type": "clip_text_model",
              "num_attention_heads": \(sd1 ? 12 : 16),
              "num_hidden_layers": \(sd1 ? 12 : 23),
              "pad_token_id": 1,
              "projection_dim": \(sd1 ? 768 : 512),
              "vocab_size": 49408
            }
            """
    }

    static func scheduler(_ family: SingleFileFamily) -> String {
        let className = family == .sd2 ? "DDIMScheduler" : "PNDMScheduler"
        return """
            {
              "_class_name": "\(className)",
              "beta_end": 0.012,
              "beta_schedule": "scaled_linear",
              "beta_start": 0.00085,
              "clip_sample": false,
              "num_train_timesteps": 1000,
              "prediction_type": "\(family.predictionType)",
              "set_alpha_to_one": false,
              "skip_prk_steps": true,
              "steps_offset": 1,
              "trained_betas": null
            }
            """
    }

    private static func unet(headDim: String, crossAttention: Int, sampleSize: Int, linear: Bool, upcast: Bool) -> String {
        """
        {
          "_class_name": "UNet2DConditionModel",
          "act_fn": "silu",
          "attention_head_dim": \(headDim),
          "block_out_channels": [320, 640, 1280, 1280],
          "center_input_sample": false,
          "cross_attention_dim": \(crossAttention),
          "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
          "downsample_padding": 1,
          "dual_cross_attention": false,
          "flip_sin_to_cos": true,
          "freq_shift": 0,
          "in_channels": 4,
          "layers_per_block": 2,
          "mid_block_scale_factor": 1,
          "norm_eps": 1e-05,
          "norm_num_groups": 32,
          "num_class_embeds": null,
          "only_cross_attention": false,
          "out_channels": 4,
          "sample_size": \(sampleSize),
          "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
          "upcast_attention": \(upcast),
          "use_linear_projection": \(linear)
        }
        """
    }
}
