import Foundation

/// The diffusers configs a single file of each family is loaded with when the caller gives
/// no config folder: those of the repository diffusers 0.42.1's `from_single_file` fetches
/// for that family (`DIFFUSERS_DEFAULT_PIPELINE_PATHS` in `loaders/single_file_utils.py`):
///
/// - SD 1.x: `stable-diffusion-v1-5/stable-diffusion-v1-5` — PNDM, epsilon, 512.
/// - SD 2.x: `stabilityai/stable-diffusion-2-1` — DDIM, v-prediction, 768 (96 latents),
///   attention upcast.
/// - SD 2.x base: `stabilityai/stable-diffusion-2-1-base` — PNDM, epsilon, 512.
/// - SDXL: `stabilityai/stable-diffusion-xl-base-1.0` — Euler, epsilon, 1024, two text encoders.
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
        case .sdxl:
            return sdxlUNet
        }
    }

    static func vae(_ family: SingleFileFamily) -> String {
        if family == .sdxl { return sdxlVAE }
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
        // SDXL's first encoder is SD 1.x's, CLIP ViT-L/14.
        let sd1 = family == .sd1 || family == .sdxl
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
        if family == .sdxl { return sdxlScheduler }
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

    // stabilityai/stable-diffusion-xl-base-1.0, as published.

    static let sdxlUNet = """
        {
          "_class_name": "UNet2DConditionModel",
          "act_fn": "silu",
          "addition_embed_type": "text_time",
          "addition_embed_type_num_heads": 64,
          "addition_time_embed_dim": 256,
          "attention_head_dim": [5, 10, 20],
          "block_out_channels": [320, 640, 1280],
          "center_input_sample": false,
          "class_embed_type": null,
          "class_embeddings_concat": false,
          "conv_in_kernel": 3,
          "conv_out_kernel": 3,
          "cross_attention_dim": 2048,
          "cross_attention_norm": null,
          "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
          "downsample_padding": 1,
          "dual_cross_attention": false,
          "encoder_hid_dim": null,
          "encoder_hid_dim_type": null,
          "flip_sin_to_cos": true,
          "freq_shift": 0,
          "in_channels": 4,
          "layers_per_block": 2,
          "mid_block_only_cross_attention": null,
          "mid_block_scale_factor": 1,
          "mid_block_type": "UNetMidBlock2DCrossAttn",
          "norm_eps": 1e-05,
          "norm_num_groups": 32,
          "num_attention_heads": null,
          "num_class_embeds": null,
          "only_cross_attention": false,
          "out_channels": 4,
          "projection_class_embeddings_input_dim": 2816,
          "resnet_out_scale_factor": 1.0,
          "resnet_skip_time_act": false,
          "resnet_time_scale_shift": "default",
          "sample_size": 128,
          "time_cond_proj_dim": null,
          "time_embedding_act_fn": null,
          "time_embedding_dim": null,
          "time_embedding_type": "positional",
          "timestep_post_act": null,
          "transformer_layers_per_block": [1, 2, 10],
          "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
          "upcast_attention": null,
          "use_linear_projection": true
        }
        """

    static let sdxlVAE = """
        {
          "_class_name": "AutoencoderKL",
          "act_fn": "silu",
          "block_out_channels": [128, 256, 512, 512],
          "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
          "force_upcast": true,
          "in_channels": 3,
          "latent_channels": 4,
          "layers_per_block": 2,
          "norm_num_groups": 32,
          "out_channels": 3,
          "sample_size": 1024,
          "scaling_factor": 0.13025,
          "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]
        }
        """

    /// OpenCLIP bigG/14 as `CLIPTextModelWithProjection`.
    static let sdxlTextEncoder2 = """
        {
          "architectures": ["CLIPTextModelWithProjection"],
          "attention_dropout": 0.0,
          "bos_token_id": 0,
          "dropout": 0.0,
          "eos_token_id": 2,
          "hidden_act": "gelu",
          "hidden_size": 1280,
          "initializer_factor": 1.0,
          "initializer_range": 0.02,
          "intermediate_size": 5120,
          "layer_norm_eps": 1e-05,
          "max_position_embeddings": 77,
          "model_type": "clip_text_model",
          "num_attention_heads": 20,
          "num_hidden_layers": 32,
          "pad_token_id": 1,
          "projection_dim": 1280,
          "vocab_size": 49408
        }
        """

    static let sdxlScheduler = """
        {
          "_class_name": "EulerDiscreteScheduler",
          "beta_end": 0.012,
          "beta_schedule": "scaled_linear",
          "beta_start": 0.00085,
          "clip_sample": false,
          "interpolation_type": "linear",
          "num_train_timesteps": 1000,
          "prediction_type": "epsilon",
          "sample_max_value": 1.0,
          "set_alpha_to_one": false,
          "skip_prk_steps": true,
          "steps_offset": 1,
          "timestep_spacing": "leading",
          "trained_betas": null,
          "use_karras_sigmas": false
        }
        """
}
