#!/usr/bin/env python3
"""Tiny random-weight Stable Diffusion pipelines in the diffusers layout, for parity tests.

Writes Tests/EaselDiffusionTests/Fixtures/models/{tiny-sd1,tiny-sd2}/ — full diffusers
folders (model_index.json, text_encoder/, tokenizer/, unet/, vae/, scheduler/) except the
tokenizer's vocab.json and merges.txt, which are CLIP's own and already ship with Easel
(Sources/EaselDiffusion/Resources/clip/): `complete_folder()` copies them in, and the Swift
tests do the same when they lay a model out in a temporary folder.

- tiny-sd1: SD 1.x-like. Epsilon prediction, PNDM, one head dim, conv projections,
  text encoder with quick-GELU padding with <|endoftext|>.
- tiny-sd2: SD 2.x-like. v-prediction, DDIM, per-block head counts, linear projections,
  upcast attention, GELU text encoder padding with "!".

Weights are rounded to float16 and stored as float16 (small files); the reference outputs
are computed in float32 from those same rounded values, so both sides see equal weights.

Run once by hand: python3 scripts/make_tiny_models.py (then scripts/make_pipeline_fixtures.py)
"""
import json
import os
import shutil

import torch
from diffusers import (AutoencoderKL, DDIMScheduler, PNDMScheduler, StableDiffusionPipeline,
                       UNet2DConditionModel)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT = os.path.join(REPO, "Tests", "EaselDiffusionTests", "Fixtures", "models")
CLIP_VOCAB = os.path.join(REPO, "Sources", "EaselDiffusion", "Resources", "clip")


def text_encoder(act):
    torch.manual_seed(7)  # same weights for both models: git stores the file once
    cfg = CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
                         layer_norm_eps=1e-5, projection_dim=32, bos_token_id=0, eos_token_id=2, pad_token_id=1)
    model = CLIPTextModel(cfg)
    model.config.hidden_act = act
    for mod in model.modules():
        if hasattr(mod, "activation_fn"):
            from transformers.activations import ACT2FN
            mod.activation_fn = ACT2FN[act]
    return model


def tokenizer(pad):
    tok = CLIPTokenizer(os.path.join(CLIP_VOCAB, "vocab.json"), os.path.join(CLIP_VOCAB, "merges.txt"),
                        pad_token=pad)
    tok.model_max_length = 77
    return tok


def vae():
    torch.manual_seed(3)
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4,
                         down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                         block_out_channels=[16, 32, 32, 32], layers_per_block=1, norm_num_groups=8,
                         sample_size=64, scaling_factor=0.18215)


def unet_sd1():
    torch.manual_seed(11)
    return UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=2,
                                block_out_channels=[32, 64],
                                down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                                up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
                                cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8)


def unet_sd2():
    torch.manual_seed(12)
    return UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=[32, 64, 64],
                                down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
                                up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
                                cross_attention_dim=32, attention_head_dim=[2, 4, 4], norm_num_groups=8,
                                use_linear_projection=True, upcast_attention=True)


def round_to_f16(model):
    with torch.no_grad():
        for p in model.parameters():
            # Default init leaves some layers tiny; widen biases a little so every path matters.
            p.copy_(p.to(torch.float16).to(torch.float32))
    return model


def build(name):
    sd1 = name == "tiny-sd1"
    sched_cfg = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
                     steps_offset=1, set_alpha_to_one=False, clip_sample=False)
    if sd1:
        # from_config, as the published SD 1.5 config carries keys PNDM ignores (clip_sample).
        scheduler = PNDMScheduler.from_config(dict(skip_prk_steps=True, **sched_cfg))
    else:
        scheduler = DDIMScheduler.from_config(dict(prediction_type="v_prediction", **sched_cfg))
    pipe = StableDiffusionPipeline(
        vae=round_to_f16(vae()),
        text_encoder=round_to_f16(text_encoder("quick_gelu" if sd1 else "gelu")),
        tokenizer=tokenizer("<|endoftext|>" if sd1 else "!"),
        unet=round_to_f16(unet_sd1() if sd1 else unet_sd2()),
        scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    return pipe


def published_tokenizer_files(folder, pad, sub="tokenizer"):
    """The tokenizer/ folder (or `sub`) as published SD checkpoints have it, minus CLIP's vocabulary."""
    tok = os.path.join(folder, sub)
    shutil.rmtree(tok)
    os.makedirs(tok)
    special = lambda s: {"content": s, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
    tokens = {"bos_token": special("<|startoftext|>"), "eos_token": special("<|endoftext|>"),
              "unk_token": special("<|endoftext|>"), "pad_token": pad}
    with open(os.path.join(tok, "special_tokens_map.json"), "w") as f:
        json.dump(tokens, f, indent=2)
    with open(os.path.join(tok, "tokenizer_config.json"), "w") as f:
        json.dump({"add_prefix_space": False, "do_lower_case": True, "errors": "replace",
                   "model_max_length": 77, "tokenizer_class": "CLIPTokenizer", **tokens}, f, indent=2)


def complete_folder(folder, dest):
    """A loadable copy of a fixture model: the fixture plus CLIP's vocabulary files."""
    shutil.copytree(folder, dest)
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(CLIP_VOCAB, f), os.path.join(dest, "tokenizer", f))
    return dest


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in ("tiny-sd1", "tiny-sd2"):
        path = os.path.join(OUT, name)
        shutil.rmtree(path, ignore_errors=True)
        pipe = build(name)
        pipe.save_pretrained(path, variant=None)
        # float16 on disk, like the fp16 checkpoints people download.
        for comp in ("unet", "vae"):
            m = getattr(pipe, comp)
            m.to(torch.float16).save_pretrained(os.path.join(path, comp))
            m.to(torch.float32)
        pipe.text_encoder.to(torch.float16).save_pretrained(os.path.join(path, "text_encoder"))
        pipe.text_encoder.to(torch.float32)
        published_tokenizer_files(path, "<|endoftext|>" if name == "tiny-sd1" else "!")
        n = {c: sum(p.numel() for p in getattr(pipe, c).parameters()) for c in ("unet", "vae", "text_encoder")}
        print(name, n)


if __name__ == "__main__":
    main()
