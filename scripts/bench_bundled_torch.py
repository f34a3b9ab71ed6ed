#!/usr/bin/env python3
"""The bundled model (easel-shapes) in diffusers, for comparison with `easel generate`:

    python3 scripts/bench_bundled_torch.py [--steps 25] [--repeat 5] [--warmup 1]

Loads Sources/EaselDiffusion/Resources/models/easel-shapes (float16 files, computed in float32,
as Easel does), warms up (once by default), then times whole generations at 64x64 with guidance 7 and prints
the median and each stage (text encoder, denoising, VAE decode), like `easel generate` does.
"""
import argparse
import os
import time

import torch
from diffusers import StableDiffusionPipeline

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(REPO, "Sources", "EaselDiffusion", "Resources", "models", "easel-shapes")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1, help="untimed generations first (0: what one whole run costs)")
    ap.add_argument("--prompt", default="a yellow star in the middle on a purple background")
    args = ap.parse_args()
    t0 = time.perf_counter()
    pipe = StableDiffusionPipeline.from_pretrained(MODEL, torch_dtype=torch.float32, safety_checker=None,
                                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    print(f"load {time.perf_counter() - t0:.2f}s, torch {torch.__version__}, {torch.get_num_threads()} threads")
    stages = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            s = time.perf_counter()
            out = fn(*a, **k)
            stages[name] = stages.get(name, 0.0) + time.perf_counter() - s
            return out
        return wrapper

    pipe.text_encoder.forward = timed("text encoder", pipe.text_encoder.forward)
    pipe.unet.forward = timed("unet", pipe.unet.forward)
    pipe.vae.decode = timed("vae decode", pipe.vae.decode)
    totals = []
    for i in range(args.warmup + args.repeat):
        stages.clear()
        s = time.perf_counter()
        pipe(args.prompt, negative_prompt="", num_inference_steps=args.steps, guidance_scale=7.0, width=64, height=64,
             generator=torch.Generator().manual_seed(i))
        if i >= args.warmup:
            totals.append(time.perf_counter() - s)
            print(f"run {i - args.warmup + 1}: total {totals[-1]:.3f}s · " + " · ".join(f"{k} {v:.3f}s" for k, v in stages.items()))
    totals.sort()
    print(f"median total {totals[len(totals) // 2]:.3f}s for {args.steps} steps at 64x64 with guidance")


if __name__ == "__main__":
    main()
