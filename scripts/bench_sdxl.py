#!/usr/bin/env python3
"""Full-size SDXL base stage timings, Easel beside diffusers, on random weights (issue 14).

    python3 scripts/bench_sdxl.py make  DIR        # a random-weight SDXL base diffusers folder (fp16 on disk, ~7 GB)
    python3 scripts/bench_sdxl.py torch DIR [--steps N] [--size 1024] [--dtype bfloat16]   # diffusers' per-stage times

The architecture is stabilityai/stable-diffusion-xl-base-1.0's (the configs Easel builds in
for SDXL single files, SingleFileBuiltInConfigs.swift): UNet 2.6 G parameters, CLIP ViT-L and
OpenCLIP bigG, the SDXL VAE. Easel's side is `easel generate --model DIR --steps N`, which
prints its per-stage times; scripts/bench_compare.py --arch sdxl runs both, alternating.
Both run the same prompt, guidance 7, Euler (the model's scheduler).
"""
import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_torch_common import time_pipeline  # noqa: E402
from make_single_file_fixtures import published_sdxl_configs  # noqa: E402

CONFIGS = published_sdxl_configs()
SDXL_UNET = {k: v for k, v in CONFIGS["unet"].items() if not k.startswith("_")}
SDXL_VAE = {k: v for k, v in CONFIGS["vae"].items() if not k.startswith("_")}


def text_configs():
    from transformers import CLIPTextConfig
    strip = lambda c: {k: v for k, v in c.items() if k not in ("architectures", "model_type")}  # noqa: E731
    return CLIPTextConfig(**strip(CONFIGS["text_encoder"])), CLIPTextConfig(**strip(CONFIGS["text_encoder_2"]))


def make(folder):
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer
    torch.manual_seed(0)
    clip_dir = os.path.join(HERE, "..", "Sources", "EaselDiffusion", "Resources", "clip")
    tokenizers = []
    for pad in ("<|endoftext|>", "!"):
        tok = CLIPTokenizer(os.path.join(clip_dir, "vocab.json"), os.path.join(clip_dir, "merges.txt"), pad_token=pad)
        tok.model_max_length = 77
        tokenizers.append(tok)
    config1, config2 = text_configs()
    # Built and saved one component at a time in float16, so the 2.6 G-parameter UNet never
    # sits beside the others in float32.
    parts = {}
    for name, build in (("text_encoder", lambda: CLIPTextModel(config1)),
                        ("text_encoder_2", lambda: CLIPTextModelWithProjection(config2)),
                        ("vae", lambda: AutoencoderKL(**SDXL_VAE)),
                        ("unet", lambda: UNet2DConditionModel(**SDXL_UNET))):
        parts[name] = build().to(torch.float16)
        print("built", name, flush=True)
    scheduler = EulerDiscreteScheduler.from_config({k: v for k, v in CONFIGS["scheduler"].items() if not k.startswith("_")})
    pipe = StableDiffusionXLPipeline(tokenizer=tokenizers[0], tokenizer_2=tokenizers[1], scheduler=scheduler, **parts)
    pipe.save_pretrained(folder)
    print("wrote", folder)


def bench_torch(folder, steps, size, dtype="float32"):
    from diffusers import StableDiffusionXLPipeline
    pipe = StableDiffusionXLPipeline.from_pretrained(folder, torch_dtype=getattr(torch, dtype))

    def encode(pipe, prompt, negative):
        embeds, negative_embeds, pooled, negative_pooled = pipe.encode_prompt(
            prompt, device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=True, negative_prompt=negative)
        return dict(prompt_embeds=embeds, negative_prompt_embeds=negative_embeds, pooled_prompt_embeds=pooled,
                    negative_pooled_prompt_embeds=negative_pooled)

    time_pipeline(pipe, encode, steps, size, dtype)


def flops(size):
    """FLOPs of one guided UNet step (batch 2), one VAE decode and both text encoders (2 prompts)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import CLIPTextModel, CLIPTextModelWithProjection
    config1, config2 = text_configs()
    result = {}
    with torch.device("meta"):
        unet = UNet2DConditionModel(**SDXL_UNET)
        vae = AutoencoderKL(**SDXL_VAE)
        text1, text2 = CLIPTextModel(config1), CLIPTextModelWithProjection(config2)
        lat = size // 8
        added = {"text_embeds": torch.zeros(2, 1280), "time_ids": torch.zeros(2, 6)}
        ids = torch.zeros(2, 77, dtype=torch.long)
        for name, fn in [("step", lambda: unet(torch.zeros(2, 4, lat, lat), 999, torch.zeros(2, 77, 2048),
                                               added_cond_kwargs=added)),
                         ("decode", lambda: vae.decode(torch.zeros(1, 4, lat, lat))),
                         ("text", lambda: (text1(ids), text2(ids)))]:
            counter = FlopCounterMode(display=False)
            with counter, torch.no_grad():
                fn()
            result[name] = counter.get_total_flops()
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["make", "torch"])
    ap.add_argument("folder")
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    a = ap.parse_args()
    if a.mode == "make":
        make(a.folder)
    else:
        bench_torch(a.folder, a.steps, a.size, a.dtype)


if __name__ == "__main__":
    main()
