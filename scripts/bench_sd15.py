#!/usr/bin/env python3
"""Full-size SD 1.5 stage timings, Easel beside diffusers, on random weights.

    python3 scripts/bench_sd15.py make  DIR        # a random-weight SD 1.5 diffusers folder (fp16 on disk)
    python3 scripts/bench_sd15.py torch DIR [--steps N] [--size 512] [--dtype bfloat16]   # diffusers' per-stage times

Easel's side is `easel generate --model DIR --steps N` (it prints per-stage times; run it
under `/usr/bin/time -v` for peak memory). Both run the same prompt, guidance 7, PNDM.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch_common import time_pipeline  # noqa: E402


SD15_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=[320, 640, 1280, 1280],
                 down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
                 up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
                 cross_attention_dim=768, attention_head_dim=8)
SD15_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, down_block_types=["DownEncoderBlock2D"] * 4,
                up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=[128, 256, 512, 512],
                layers_per_block=2, sample_size=512, scaling_factor=0.18215)


def make(folder):
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    import shutil
    torch.manual_seed(0)
    clip_dir = os.path.join(os.path.dirname(__file__), "..", "Sources", "EaselDiffusion", "Resources", "clip")
    tok = CLIPTokenizer(os.path.join(clip_dir, "vocab.json"), os.path.join(clip_dir, "merges.txt"))
    tok.model_max_length = 77
    text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                                        num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
                                        hidden_act="quick_gelu", projection_dim=768))
    sched = PNDMScheduler.from_config(dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                           skip_prk_steps=True, steps_offset=1, set_alpha_to_one=False))
    pipe = StableDiffusionPipeline(vae=AutoencoderKL(**SD15_VAE), text_encoder=text, tokenizer=tok,
                                   unet=UNet2DConditionModel(**SD15_UNET), scheduler=sched, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.to(torch.float16).save_pretrained(folder)
    print("wrote", folder)


def bench_torch(folder, steps, size, dtype="float32"):
    from diffusers import StableDiffusionPipeline
    pipe = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=getattr(torch, dtype), safety_checker=None,
                                                   requires_safety_checker=False)

    def encode(pipe, prompt, negative):
        embeds, negative_embeds = pipe.encode_prompt(prompt, "cpu", 1, True, negative)
        return dict(prompt_embeds=embeds, negative_prompt_embeds=negative_embeds)

    time_pipeline(pipe, encode, steps, size, dtype)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["make", "torch"])
    ap.add_argument("folder")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    a = ap.parse_args()
    make(a.folder) if a.what == "make" else bench_torch(a.folder, a.steps, a.size, a.dtype)
