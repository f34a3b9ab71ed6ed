#!/usr/bin/env python3
"""diffusers' time for one SD 1.5 UNet forward (batch 2, 64x64 latents, 77x768 context),
random weights, float32 on the CPU: the reference for Easel's UNetBenchmarkTests.

Run: python3 scripts/bench_unet_diffusers.py [--threads 2] [--runs 3] [--vae]
One warm-up run, then each run's time. --vae times the SD VAE's decode of one 64x64
latent (512x512 image) instead.
"""
import argparse
import time

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--vae", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.vae:
        return bench_vae(args)
    # runwayml/stable-diffusion-v1-5 unet/config.json
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280), attention_head_dim=8, cross_attention_dim=768,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3).eval()
    latents = torch.randn(2, 4, 64, 64)
    context = torch.randn(2, 77, 768)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{sum(p.numel() for p in unet.parameters()) / 1e6:.1f}M parameters")
    with torch.inference_mode():
        for run in range(args.runs):
            start = time.perf_counter()
            unet(latents, 999, encoder_hidden_states=context)
            elapsed = time.perf_counter() - start
            print(f"run {run}{' (warm-up)' if run == 0 else ''}: {elapsed:.2f} s")


def bench_vae(args):
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                        down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, sample_size=512).eval()
    latents = torch.randn(1, 4, 64, 64)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, VAE decode 64x64 -> 512x512")
    with torch.inference_mode():
        for run in range(args.runs):
            start = time.perf_counter()
            vae.decode(latents)
            elapsed = time.perf_counter() - start
            print(f"run {run}{' (warm-up)' if run == 0 else ''}: {elapsed:.2f} s")


if __name__ == "__main__":
    main()
