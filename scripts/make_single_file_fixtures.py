#!/usr/bin/env python3
"""Single-file (original CompVis/LDM layout) checkpoints made from the tiny diffusers models.

Model hubs distribute SD 1.x/2.x as one `.safetensors` with the original key names. This
script writes such files from the lead's tiny diffusers folders
(Tests/EaselDiffusionTests/Fixtures/models/tiny-sd1, tiny-sd2), so that Easel's
single-file loader can be checked against the folders' own tensors:

    Tests/EaselDiffusionTests/Fixtures/single_file/tiny-sd1.safetensors   (F16)
    Tests/EaselDiffusionTests/Fixtures/single_file/tiny-sd2.safetensors   (F16)

Layout written (the reverse of diffusers' `loaders/single_file_utils.py` converters, which
have no diffusers->LDM direction in the pip package; written here from the forward rules):
- UNet under `model.diffusion_model.` (input_blocks/middle_block/output_blocks/time_embed/out),
  block indices derived from the UNet config (levels, layers_per_block, attention levels);
- VAE under `first_stage_model.` (encoder.down.N.block.M, decoder.up.N reversed, mid.block_1/2,
  mid.attn_1 q/k/v/proj_out as [C, C, 1, 1] convolutions, nin_shortcut, norm_out);
- text encoder: SD 1.x as `cond_stage_model.transformer.text_model.*` (HF CLIP names under a
  prefix); SD 2.x as OpenCLIP `cond_stage_model.model.*` (fused attn.in_proj_weight/bias, ln_1,
  ln_2, mlp.c_fc, mlp.c_proj, ln_final, positional_embedding), plus one more resblock than the
  text encoder uses (SD 2.x runs OpenCLIP's penultimate layer), `text_projection` and
  `logit_scale` — all three present in real SD 2.x files and unused by CLIPTextModel;
- what else such files carry, to be skipped by a loader: the noise-schedule buffers (`betas`,
  `alphas_cumprod`, ... `posterior_*`, stored F32 as in many published files), an int64
  `position_ids` (SD 1.x), `model_ema.decay` / `model_ema.num_updates`, and EMA copies of two
  UNet tensors under LDM's flattened EMA names (`model_ema.diffusion_modelinput_blocks00weight`).

Also writes the key layout of the full-size families, names and shapes only (no weights):

    Tests/EaselDiffusionTests/Fixtures/single_file/layout-sd1.json   SD 1.5 (stable-diffusion-v1-5)
    Tests/EaselDiffusionTests/Fixtures/single_file/layout-sd2.json   SD 2.1 (stabilityai/stable-diffusion-2-1)

each with the published diffusers configs Easel builds in (`SingleFileBuiltInConfigs.swift`),
every LDM tensor of such a file (with the extra buffers and OpenCLIP's 24th layer), and every
diffusers tensor the components have, as diffusers' own forward converters
(`convert_ldm_unet_checkpoint`, `convert_ldm_vae_checkpoint`, `convert_ldm_clip_checkpoint`,
`convert_open_clip_checkpoint`) produce them from those LDM names: checked here to equal the
models' own state dicts (models built on the meta device).

Weights keep the folders' float16 values (the F16 file holds exactly the folder's bits). The
F32 variant is not committed (the 49408x32 token embedding dominates the size): the Swift tests
write it from the F16 file, and this script checks it too, in a temporary folder.

Verification (the proof that the reverse mapping is right): for F16 and F32, diffusers' own
`StableDiffusionPipeline.from_single_file(file, config=<local copy of the tiny folder>,
local_files_only=True)` must give exactly the folder's state dicts for unet, vae and
text_encoder, and its scheduler config. Nothing is fetched.

Run by hand after scripts/make_tiny_models.py:  python3 scripts/make_single_file_fixtures.py
"""
import json
import os
import shutil
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FIXTURES = os.path.join(REPO, "Tests", "EaselDiffusionTests", "Fixtures")
MODELS = os.path.join(FIXTURES, "models")
OUT = os.path.join(FIXTURES, "single_file")
CLIP_VOCAB = os.path.join(REPO, "Sources", "EaselDiffusion", "Resources", "clip")

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer.text_model."
OPEN_CLIP_PREFIX = "cond_stage_model.model."

# ResnetBlock2D (diffusers) -> ResBlock (LDM UNet).
UNET_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
               "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
# Attention (diffusers VAE mid block) -> AttnBlock (LDM VAE).
VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def read_json(path):
    with open(path) as f:
        return json.load(f)


def layers_per_block(config):
    n = config["layers_per_block"]
    if isinstance(n, list):
        assert len(set(n)) == 1, "per-block layers_per_block is not an SD layout"
        n = n[0]
    return n


def unet_to_ldm(sd, config):
    """diffusers UNet2DConditionModel names -> LDM `openaimodel.UNetModel` names."""
    L = layers_per_block(config)
    out = {}

    def put(ldm, tensor):
        assert ldm not in out, ldm
        out[UNET_PREFIX + ldm] = tensor

    for name, t in sd.items():
        parts = name.split(".")
        if parts[0] == "time_embedding":
            put(name.replace("time_embedding.linear_1", "time_embed.0").replace("time_embedding.linear_2", "time_embed.2"), t)
        elif parts[0] == "add_embedding":
            # SDXL's `text_time` added embedding is SGM's `label_emb.0` (Linear, SiLU, Linear).
            put(name.replace("add_embedding.linear_1", "label_emb.0.0").replace("add_embedding.linear_2", "label_emb.0.2"), t)
        elif parts[0] == "conv_in":
            put("input_blocks.0.0." + parts[1], t)
        elif parts[0] == "conv_norm_out":
            put("out.0." + parts[1], t)
        elif parts[0] == "conv_out":
            put("out.2." + parts[1], t)
        elif parts[0] == "down_blocks":
            b, kind, rest = int(parts[1]), parts[2], parts[3:]
            base = 1 + b * (L + 1)
            if kind == "resnets":
                put(f"input_blocks.{base + int(rest[0])}.0." + resnet_rest(rest[1:]), t)
            elif kind == "attentions":
                put(f"input_blocks.{base + int(rest[0])}.1." + ".".join(rest[1:]), t)
            elif kind == "downsamplers":
                assert rest[:2] == ["0", "conv"], name
                put(f"input_blocks.{base + L}.0.op." + rest[2], t)
            else:
                raise KeyError(name)
        elif parts[0] == "mid_block":
            kind, i, rest = parts[1], int(parts[2]), parts[3:]
            if kind == "resnets":
                put(f"middle_block.{2 * i}." + resnet_rest(rest), t)
            else:
                assert kind == "attentions" and i == 0, name
                put("middle_block.1." + ".".join(rest), t)
        elif parts[0] == "up_blocks":
            b, kind, rest = int(parts[1]), parts[2], parts[3:]
            base = b * (L + 1)
            if kind == "resnets":
                put(f"output_blocks.{base + int(rest[0])}.0." + resnet_rest(rest[1:]), t)
            elif kind == "attentions":
                put(f"output_blocks.{base + int(rest[0])}.1." + ".".join(rest[1:]), t)
            elif kind == "upsamplers":
                # LDM puts the upsampler after the level's last resnet (and its attention).
                has_attention = config["up_block_types"][b].startswith("CrossAttn")
                put(f"output_blocks.{base + L}.{2 if has_attention else 1}.conv." + rest[2], t)
            else:
                raise KeyError(name)
        else:
            raise KeyError(name)
    return out


def resnet_rest(rest):
    layer, param = ".".join(rest[:-1]), rest[-1]
    return UNET_RESNET[layer] + "." + param


def vae_to_ldm(sd, config):
    """diffusers AutoencoderKL names -> LDM `AutoencoderKL` names (first_stage_model)."""
    n_up = len(config["up_block_types"])
    out = {}

    def put(ldm, tensor):
        assert ldm not in out, ldm
        out[VAE_PREFIX + ldm] = tensor

    for name, t in sd.items():
        parts = name.split(".")
        if parts[0] in ("quant_conv", "post_quant_conv"):
            put(name, t)
            continue
        coder, rest = parts[0], parts[1:]
        assert coder in ("encoder", "decoder"), name
        if rest[0] in ("conv_in", "conv_out"):
            put(name, t)
        elif rest[0] == "conv_norm_out":
            put(f"{coder}.norm_out.{rest[1]}", t)
        elif rest[0] in ("down_blocks", "up_blocks"):
            i, kind, sub = int(rest[1]), rest[2], rest[3:]
            level, word = (i, "down") if rest[0] == "down_blocks" else (n_up - 1 - i, "up")
            if kind == "resnets":
                put(f"{coder}.{word}.{level}.block.{sub[0]}." + vae_resnet_rest(sub[1:]), t)
            elif kind in ("downsamplers", "upsamplers"):
                assert sub[:2] == ["0", "conv"], name
                put(f"{coder}.{word}.{level}.{'downsample' if word == 'down' else 'upsample'}.conv.{sub[2]}", t)
            else:
                raise KeyError(name)
        elif rest[0] == "mid_block":
            kind, i, sub = rest[1], int(rest[2]), rest[3:]
            if kind == "resnets":
                put(f"{coder}.mid.block_{i + 1}." + vae_resnet_rest(sub), t)
            else:
                assert kind == "attentions" and i == 0, name
                layer, param = ".".join(sub[:-1]), sub[-1]
                if param == "weight" and t.ndim == 2:
                    t = t[:, :, None, None]  # LDM's q, k, v, proj_out are 1x1 convolutions
                put(f"{coder}.mid.attn_1.{VAE_ATTENTION[layer]}.{param}", t)
        else:
            raise KeyError(name)
    return out


def vae_resnet_rest(rest):
    layer, param = ".".join(rest[:-1]), rest[-1]
    return ("nin_shortcut" if layer == "conv_shortcut" else layer) + "." + param


def strip_text_model(sd):
    """Current transformers saves CLIPTextModel without the `text_model.` level; LDM has it."""
    return {k[len("text_model."):] if k.startswith("text_model.") else k: v for k, v in sd.items()}


def clip_to_ldm(sd, prefix=CLIP_PREFIX):
    """SD 1.x: transformers' CLIPTextModel names under `cond_stage_model.transformer.text_model.`
    (SDXL's first encoder: under `conditioner.embedders.0.transformer.text_model.`)."""
    out = {prefix + k: v for k, v in strip_text_model(sd).items()}
    n_pos = out[prefix + "embeddings.position_embedding.weight"].shape[0]
    out[prefix + "embeddings.position_ids"] = torch.arange(n_pos, dtype=torch.int64)[None]
    return out


def openclip_to_ldm(sd, config, dtype, generator, meta=False, prefix=OPEN_CLIP_PREFIX, sdxl=False):
    """SD 2.x: CLIPTextModel names -> OpenCLIP `TextTransformer` names under `cond_stage_model.model.`.

    Adds what real SD 2.x files carry and CLIPTextModel does not use: one more resblock than
    `num_hidden_layers` (SD 2.x runs OpenCLIP's penultimate layer), `text_projection` and
    `logit_scale`.

    SDXL's second encoder (`sdxl=True`, under `conditioner.embedders.1.model.`) is a
    CLIPTextModelWithProjection that uses every layer: no extra layer, and OpenCLIP's
    `text_projection` [width, projection_dim] is the model's `text_projection.weight` transposed.
    """
    sd = strip_text_model(sd)
    projection = sd.pop("text_projection.weight", None)
    layers = config["num_hidden_layers"]
    width = config["hidden_size"]
    out = {}
    simple = {"embeddings.token_embedding.weight": "token_embedding.weight",
              "embeddings.position_embedding.weight": "positional_embedding",
              "final_layer_norm.weight": "ln_final.weight", "final_layer_norm.bias": "ln_final.bias"}
    layer_map = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
                 "self_attn.out_proj": "attn.out_proj"}
    for name, t in sd.items():
        if name in simple:
            out[prefix + simple[name]] = t
            continue
        parts = name.split(".")
        assert parts[:2] == ["encoder", "layers"], name
        i, layer, param = int(parts[2]), ".".join(parts[3:-1]), parts[-1]
        block = f"{prefix}transformer.resblocks.{i}."
        if layer in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
            if layer != "self_attn.q_proj":
                continue  # fused once, below, from all three
            q, k, v = (sd[f"encoder.layers.{i}.self_attn.{p}_proj.{param}"] for p in "qkv")
            out[block + f"attn.in_proj_{param}"] = torch.cat([q, k, v], dim=0)
        else:
            out[block + layer_map[layer] + "." + param] = t
    def random(shape):
        if meta:
            return torch.empty(shape, dtype=dtype, device="meta")
        return (torch.randn(shape, generator=generator) * 0.02).to(dtype)

    if sdxl:
        out[prefix + "text_projection"] = projection.t().contiguous()
        out[prefix + "logit_scale"] = torch.tensor(4.6052, dtype=dtype)
        return out
    # The last OpenCLIP layer, unused by SD 2.x: same shapes as the others, random values.
    template = f"{prefix}transformer.resblocks.0."
    last = f"{prefix}transformer.resblocks.{layers}."
    for key in [k for k in out if k.startswith(template)]:
        out[last + key[len(template):]] = random(out[key].shape)
    # OpenCLIP's projection is [width, embed_dim] (x @ text_projection); SD 2.x: [1024, 1024].
    out[prefix + "text_projection"] = random((width, width))
    out[prefix + "logit_scale"] = torch.tensor(4.6052, dtype=dtype)
    return out


def schedule_buffers(scheduler_config):
    """LDM's DDPM buffers (ldm/models/diffusion/ddpm.py register_schedule), float32."""
    n = scheduler_config["num_train_timesteps"]
    b0, b1 = scheduler_config["beta_start"], scheduler_config["beta_end"]
    betas = torch.linspace(b0 ** 0.5, b1 ** 0.5, n, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
    posterior_variance = betas * (1.0 - prev) / (1.0 - alphas_cumprod)
    buffers = {
        "betas": betas, "alphas_cumprod": alphas_cumprod, "alphas_cumprod_prev": prev,
        "sqrt_alphas_cumprod": alphas_cumprod.sqrt(), "sqrt_one_minus_alphas_cumprod": (1 - alphas_cumprod).sqrt(),
        "log_one_minus_alphas_cumprod": (1 - alphas_cumprod).log(),
        "sqrt_recip_alphas_cumprod": (1 / alphas_cumprod).sqrt(),
        "sqrt_recipm1_alphas_cumprod": (1 / alphas_cumprod - 1).sqrt(),
        "posterior_variance": posterior_variance,
        "posterior_log_variance_clipped": posterior_variance.clamp(min=1e-20).log(),
        "posterior_mean_coef1": betas * prev.sqrt() / (1 - alphas_cumprod),
        "posterior_mean_coef2": (1 - prev) * (1 - betas).sqrt() / (1 - alphas_cumprod),
    }
    return {k: v.to(torch.float32) for k, v in buffers.items()}


def ema_extras(unet_ldm):
    """EMA counters and two EMA copies under LDM's flattened names (dots of the path removed)."""
    out = {"model_ema.decay": torch.tensor(0.9999, dtype=torch.float32),
           "model_ema.num_updates": torch.tensor(1234, dtype=torch.int32)}
    for key in (UNET_PREFIX + "input_blocks.0.0.weight", UNET_PREFIX + "out.2.bias"):
        flat = "model_ema." + "".join(key.split(".")[1:])
        out[flat] = unet_ldm[key].clone()
    return out


def build_single_file(name):
    folder = os.path.join(MODELS, name)
    unet_cfg = read_json(os.path.join(folder, "unet", "config.json"))
    vae_cfg = read_json(os.path.join(folder, "vae", "config.json"))
    text_cfg = read_json(os.path.join(folder, "text_encoder", "config.json"))
    sched_cfg = read_json(os.path.join(folder, "scheduler", "scheduler_config.json"))
    unet = load_file(os.path.join(folder, "unet", "diffusion_pytorch_model.safetensors"))
    vae = load_file(os.path.join(folder, "vae", "diffusion_pytorch_model.safetensors"))
    text = load_file(os.path.join(folder, "text_encoder", "model.safetensors"))
    dtype = next(iter(unet.values())).dtype
    generator = torch.Generator().manual_seed(2024)

    tensors = {}
    unet_ldm = unet_to_ldm(unet, unet_cfg)
    tensors.update(unet_ldm)
    tensors.update(vae_to_ldm(vae, vae_cfg))
    if name == "tiny-sd1":
        tensors.update(clip_to_ldm(text))
    else:
        tensors.update(openclip_to_ldm(text, text_cfg, dtype, generator))
    tensors.update(schedule_buffers(sched_cfg))
    tensors.update(ema_extras(unet_ldm))
    count = len(unet) + len(vae) + len(text)
    return {k: v.contiguous() for k, v in tensors.items()}, count


def as_f32(tensors):
    return {k: (v.to(torch.float32) if v.dtype in (torch.float16, torch.bfloat16) else v) for k, v in tensors.items()}


def complete_folder(folder, dest):
    """A loadable copy of a fixture model: the fixture plus CLIP's vocabulary files."""
    shutil.copytree(folder, dest)
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(CLIP_VOCAB, f), os.path.join(dest, "tokenizer", f))
    return dest


def verify_with_diffusers(name, path, tmp):
    """diffusers' own from_single_file must reproduce the folder's weights exactly."""
    from diffusers import StableDiffusionPipeline

    config = complete_folder(os.path.join(MODELS, name), os.path.join(tmp, name + "-config-" + os.path.basename(path)))
    reference = StableDiffusionPipeline.from_pretrained(config, local_files_only=True, torch_dtype=torch.float32)
    loaded = StableDiffusionPipeline.from_single_file(path, config=config, local_files_only=True,
                                                      torch_dtype=torch.float32)
    for component in ("unet", "vae", "text_encoder"):
        want = getattr(reference, component).state_dict()
        got = getattr(loaded, component).state_dict()
        assert set(want) == set(got), (component, sorted(set(want) ^ set(got))[:10])
        for key, value in want.items():
            if not torch.equal(value, got[key]):
                raise AssertionError(f"{name} {os.path.basename(path)}: {component}.{key} differs")
    assert dict(reference.scheduler.config) == dict(loaded.scheduler.config), "scheduler config differs"
    print(f"  diffusers from_single_file({os.path.basename(path)}) == folder: unet, vae, text_encoder, scheduler")


def negative_control(name, tensors, tmp):
    """The comparison has teeth: one changed UNet value in the file must be caught."""
    changed = dict(tensors)
    key = UNET_PREFIX + "input_blocks.0.0.bias"
    changed[key] = changed[key].clone()
    changed[key][0] += 1
    path = os.path.join(tmp, name + "-changed.safetensors")
    save_file(changed, path, metadata={"format": "pt"})
    try:
        verify_with_diffusers(name, path, tmp)
    except AssertionError as error:
        print(f"  negative control caught: {error}")
        return
    raise AssertionError("a changed tensor went unnoticed")


# The published configs diffusers' from_single_file fetches for each family (mirrored in
# Sources/EaselDiffusion/Checkpoint/SingleFileBuiltInConfigs.swift; the Swift tests compare).
def published_configs(family):
    sd1 = family == "sd1"
    unet = {"_class_name": "UNet2DConditionModel", "act_fn": "silu",
            "attention_head_dim": 8 if sd1 else [5, 10, 20, 20], "block_out_channels": [320, 640, 1280, 1280],
            "center_input_sample": False, "cross_attention_dim": 768 if sd1 else 1024,
            "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"], "downsample_padding": 1,
            "dual_cross_attention": False, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4,
            "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32,
            "num_class_embeds": None, "only_cross_attention": False, "out_channels": 4,
            "sample_size": 64 if sd1 else 96, "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
            "upcast_attention": not sd1, "use_linear_projection": not sd1}
    vae = {"_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
           "down_block_types": ["DownEncoderBlock2D"] * 4, "in_channels": 3, "latent_channels": 4,
           "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3, "sample_size": 512 if sd1 else 768,
           "scaling_factor": 0.18215, "up_block_types": ["UpDecoderBlock2D"] * 4}
    text = {"architectures": ["CLIPTextModel"], "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0,
            "eos_token_id": 2, "hidden_act": "quick_gelu" if sd1 else "gelu", "hidden_size": 768 if sd1 else 1024,
            "initializer_factor": 1.0, "initializer_range": 0.02, "intermediate_size": 3072 if sd1 else 4096,
            "layer_norm_eps": 1e-05, "max_position_embeddings": 77, "model_type": "clip_text_model",
            "num_attention_heads": 12 if sd1 else 16, "num_hidden_layers": 12 if sd1 else 23, "pad_token_id": 1,
            "projection_dim": 768 if sd1 else 512, "vocab_size": 49408}
    scheduler = {"_class_name": "PNDMScheduler" if sd1 else "DDIMScheduler", "beta_end": 0.012,
                 "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False,
                 "num_train_timesteps": 1000, "prediction_type": "epsilon" if sd1 else "v_prediction",
                 "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None}
    return {"unet": unet, "vae": vae, "text_encoder": text, "scheduler": scheduler}


def shapes(sd):
    return {k: list(v.shape) for k, v in sorted(sd.items())}


def published_sdxl_configs():
    """stabilityai/stable-diffusion-xl-base-1.0's component configs (mirrored in
    SingleFileBuiltInConfigs.swift)."""
    unet = {"_class_name": "UNet2DConditionModel", "act_fn": "silu", "addition_embed_type": "text_time",
            "addition_embed_type_num_heads": 64, "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20],
            "block_out_channels": [320, 640, 1280], "center_input_sample": False, "class_embed_type": None,
            "class_embeddings_concat": False, "conv_in_kernel": 3, "conv_out_kernel": 3,
            "cross_attention_dim": 2048, "cross_attention_norm": None,
            "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            "downsample_padding": 1, "dual_cross_attention": False, "encoder_hid_dim": None,
            "encoder_hid_dim_type": None, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4,
            "layers_per_block": 2, "mid_block_only_cross_attention": None, "mid_block_scale_factor": 1,
            "mid_block_type": "UNetMidBlock2DCrossAttn", "norm_eps": 1e-05, "norm_num_groups": 32,
            "num_attention_heads": None, "num_class_embeds": None, "only_cross_attention": False, "out_channels": 4,
            "projection_class_embeddings_input_dim": 2816, "resnet_out_scale_factor": 1.0,
            "resnet_skip_time_act": False, "resnet_time_scale_shift": "default", "sample_size": 128,
            "time_cond_proj_dim": None, "time_embedding_act_fn": None, "time_embedding_dim": None,
            "time_embedding_type": "positional", "timestep_post_act": None, "transformer_layers_per_block": [1, 2, 10],
            "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], "upcast_attention": None,
            "use_linear_projection": True}
    vae = {"_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
           "down_block_types": ["DownEncoderBlock2D"] * 4, "force_upcast": True, "in_channels": 3,
           "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3,
           "sample_size": 1024, "scaling_factor": 0.13025, "up_block_types": ["UpDecoderBlock2D"] * 4}
    text = {"architectures": ["CLIPTextModel"], "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0,
            "eos_token_id": 2, "hidden_act": "quick_gelu", "hidden_size": 768, "initializer_factor": 1.0,
            "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
            "max_position_embeddings": 77, "model_type": "clip_text_model", "num_attention_heads": 12,
            "num_hidden_layers": 12, "pad_token_id": 1, "projection_dim": 768, "vocab_size": 49408}
    text2 = {"architectures": ["CLIPTextModelWithProjection"], "attention_dropout": 0.0, "bos_token_id": 0,
             "dropout": 0.0, "eos_token_id": 2, "hidden_act": "gelu", "hidden_size": 1280, "initializer_factor": 1.0,
             "initializer_range": 0.02, "intermediate_size": 5120, "layer_norm_eps": 1e-05,
             "max_position_embeddings": 77, "model_type": "clip_text_model", "num_attention_heads": 20,
             "num_hidden_layers": 32, "pad_token_id": 1, "projection_dim": 1280, "vocab_size": 49408}
    scheduler = {"_class_name": "EulerDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
                 "beta_start": 0.00085, "clip_sample": False, "interpolation_type": "linear",
                 "num_train_timesteps": 1000, "prediction_type": "epsilon", "sample_max_value": 1.0,
                 "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "leading",
                 "trained_betas": None, "use_karras_sigmas": False}
    return {"unet": unet, "vae": vae, "text_encoder": text, "text_encoder_2": text2, "scheduler": scheduler}


# SDXL's (SGM's) text-encoder prefixes: CLIP ViT-L, then OpenCLIP bigG.
SDXL_CLIP_PREFIX = "conditioner.embedders.0.transformer.text_model."
SDXL_OPEN_CLIP_PREFIX = "conditioner.embedders.1.model."


def sdxl_to_ldm(unet, vae, text, text2, configs, dtype=torch.float16, meta=False):
    """A diffusers SDXL's state dicts -> one file in SGM's layout (sd_xl_base_1.0.safetensors)."""
    ldm = {}
    ldm.update(unet_to_ldm(unet, configs["unet"]))
    ldm.update(vae_to_ldm(vae, configs["vae"]))
    ldm.update(clip_to_ldm(text, prefix=SDXL_CLIP_PREFIX))
    ldm.update(openclip_to_ldm(text2, configs["text_encoder_2"], dtype, None, meta=meta,
                               prefix=SDXL_OPEN_CLIP_PREFIX, sdxl=True))
    return ldm


def write_layout(family):
    """Names and shapes of a full-size single file and of the diffusers components it maps to."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders import single_file_utils as sfu
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    configs = published_sdxl_configs() if family == "sdxl" else published_configs(family)
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(configs["unet"]).state_dict()
        vae = AutoencoderKL.from_config(configs["vae"]).state_dict()
        text_model = CLIPTextModel(CLIPTextConfig(**configs["text_encoder"]))
        text2_model = (CLIPTextModelWithProjection(CLIPTextConfig(**configs["text_encoder_2"]))
                       if family == "sdxl" else None)
    text = text_model.state_dict()
    own = {"unet": unet, "vae": vae, "text_encoder": strip_text_model(text)}

    if family == "sdxl":
        own["text_encoder_2"] = strip_text_model(text2_model.state_dict())
        ldm = sdxl_to_ldm(unet, vae, text, text2_model.state_dict(), configs, meta=True)
    else:
        ldm = {}
        ldm.update(unet_to_ldm(unet, configs["unet"]))
        ldm.update(vae_to_ldm(vae, configs["vae"]))
        if family == "sd1":
            ldm.update(clip_to_ldm(text))
        else:
            ldm.update(openclip_to_ldm(text, configs["text_encoder"], torch.float16, None, meta=True))
        ldm.update(schedule_buffers(configs["scheduler"]))
        ldm.update(ema_extras(ldm))

    # diffusers' forward converters, from the LDM names, must give the models' own names.
    converted = {
        "unet": sfu.convert_ldm_unet_checkpoint(ldm, configs["unet"]),
        "vae": sfu.convert_ldm_vae_checkpoint(ldm, configs["vae"]),
    }
    if family == "sd1" or family == "sdxl":
        converted["text_encoder"] = sfu.convert_ldm_clip_checkpoint(ldm)
    else:
        converted["text_encoder"] = sfu.convert_open_clip_checkpoint(text_model, ldm)
    if family == "sdxl":
        converted["text_encoder_2"] = strip_text_model(
            sfu.convert_open_clip_checkpoint(text2_model, ldm, prefix=SDXL_OPEN_CLIP_PREFIX))
    converted["text_encoder"] = strip_text_model(converted["text_encoder"])
    converted["text_encoder"].pop("embeddings.position_ids", None)
    for component, state in own.items():
        assert shapes(converted[component]) == shapes(state), (family, component)

    dtype_names = {torch.float16: "F16", torch.float32: "F32", torch.int64: "I64", torch.int32: "I32"}
    layout = {
        "family": family,
        "configs": configs,
        "ldm": {k: {"dtype": dtype_names[v.dtype], "shape": list(v.shape)} for k, v in sorted(ldm.items())},
        "diffusers": {component: shapes(sd) for component, sd in converted.items()},
    }
    path = os.path.join(OUT, f"layout-{family}.json")
    with open(path, "w") as f:
        json.dump(layout, f, separators=(",", ":"), sort_keys=True)
    counts = {c: len(v) for c, v in layout["diffusers"].items()}
    print(f"layout-{family}: {len(ldm)} LDM tensors -> {counts}, {os.path.getsize(path) / 1e3:.0f} kB; "
          f"diffusers' converters agree")


def main():
    os.makedirs(OUT, exist_ok=True)
    for family in ("sd1", "sd2", "sdxl"):
        write_layout(family)
    if "--layouts-only" in sys.argv:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("tiny-sd1", "tiny-sd2"):
            tensors, folder_count = build_single_file(name)
            path = os.path.join(OUT, name + ".safetensors")
            save_file(tensors, path, metadata={"format": "pt"})
            print(f"{name}: {len(tensors)} tensors ({folder_count} from the folder), "
                  f"{os.path.getsize(path) / 1e6:.2f} MB -> {os.path.relpath(path, REPO)}")
            verify_with_diffusers(name, path, tmp)
            f32 = os.path.join(tmp, name + "-f32.safetensors")
            save_file(as_f32(tensors), f32, metadata={"format": "pt"})
            verify_with_diffusers(name, f32, tmp)
            negative_control(name, tensors, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
