#!/usr/bin/env python3
"""Reference outputs of the tiny pipelines (scripts/make_tiny_models.py) from diffusers.

Writes Tests/EaselDiffusionTests/Fixtures/pipeline/:
- <model>.components.json + *.f32: UNet output, VAE decode and encode for fixed inputs
- <model>.cases.json + *.u8: end-to-end images (uint8 RGB, [count, H, W, 3]) from
  StableDiffusionPipeline for each scheduler, with 1 and 3 images per prompt.

Run once by hand after make_tiny_models.py: python3 scripts/make_pipeline_fixtures.py
"""
import json
import os
import sys
import tempfile

import numpy as np
import torch
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, PNDMScheduler, StableDiffusionPipeline)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_models import OUT as MODELS, complete_folder  # noqa: E402

ROOT = os.path.join(os.path.dirname(MODELS), "pipeline")

SCHEDULERS = {
    "pndm": (PNDMScheduler, {}),
    "ddim": (DDIMScheduler, {}),
    "euler": (EulerDiscreteScheduler, {}),
    "euler_a": (EulerAncestralDiscreteScheduler, {}),
    "dpm++2m": (DPMSolverMultistepScheduler, {}),
    "dpm++2m-karras": (DPMSolverMultistepScheduler, {"use_karras_sigmas": True}),
}


def f32(name, t):
    np.ascontiguousarray(t.detach().to(torch.float32).numpy()).astype("<f4").tofile(os.path.join(ROOT, name))


def components(model, pipe):
    g = torch.Generator("cpu").manual_seed(99)
    latents = torch.randn([2, 4, 8, 8], generator=g)
    context = torch.randn([2, 77, 32], generator=g)
    image = torch.rand([1, 3, 64, 64], generator=g) * 2 - 1
    odd_latents = torch.randn([1, 4, 5, 8], generator=g)
    odd_context = torch.randn([1, 77, 32], generator=g)
    out = {}
    with torch.no_grad():
        for t in (999, 500, 1):
            f32(f"{model}.unet.t{t}.f32", pipe.unet(latents, t, encoder_hidden_states=context).sample)
        f32(f"{model}.unet.odd.f32", pipe.unet(odd_latents, 250, encoder_hidden_states=odd_context).sample)
        f32(f"{model}.vae.decode.f32", pipe.vae.decode(latents[:1] / pipe.vae.config.scaling_factor).sample)
        dist = pipe.vae.encode(image).latent_dist
        f32(f"{model}.vae.encode.mean.f32", dist.mean)
        f32(f"{model}.vae.encode.std.f32", dist.std)
    for name, t in [("latents", latents), ("context", context), ("image", image),
                    ("odd_latents", odd_latents), ("odd_context", odd_context)]:
        f32(f"{model}.input.{name}.f32", t)
        out[name] = list(t.shape)
    with open(os.path.join(ROOT, f"{model}.components.json"), "w") as f:
        json.dump({"inputs": out, "timesteps": [999, 500, 1], "odd_timestep": 250}, f, indent=1)


def cases(model, folder):
    pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False,
                                                   torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    base = dict(pipe.scheduler.config)
    own = type(pipe.scheduler)  # the model's own scheduler, for the "default" cases
    records = []
    specs = []
    for sched in SCHEDULERS:
        specs.append(dict(scheduler=sched, count=1, steps=8, seed=4523184, guidance=7.0,
                          prompt="a red circle on a blue background", negative="asymmetric, watermarks",
                          width=64, height=64))
        specs.append(dict(scheduler=sched, count=3, steps=5, seed=42, guidance=5.5,
                          prompt="a photo of an astronaut riding a horse", negative="",
                          width=64, height=64))
    specs.append(dict(scheduler="default", count=1, steps=4, seed=7, guidance=1.0,
                      prompt="no guidance at all", negative="ignored", width=64, height=40))
    specs.append(dict(scheduler="default", count=2, steps=3, seed=8, guidance=0.0,
                      prompt="zero guidance " * 40, negative="asymmetric, watermarks", width=48, height=64))
    for i, s in enumerate(specs):
        if s["scheduler"] == "default":
            pipe.scheduler = own.from_config(base)
        else:
            cls, extra = SCHEDULERS[s["scheduler"]]
            pipe.scheduler = cls.from_config({**base, **extra})
        g = torch.Generator("cpu").manual_seed(s["seed"])
        images = pipe(s["prompt"], negative_prompt=s["negative"] or None, num_inference_steps=s["steps"],
                      guidance_scale=s["guidance"], num_images_per_prompt=s["count"], width=s["width"],
                      height=s["height"], generator=g, output_type="np").images
        u8 = (images * 255).round().astype("uint8")
        name = f"{model}.case{i}.u8"
        u8.tofile(os.path.join(ROOT, name))
        records.append({**s, "file": name, "shape": list(u8.shape)})
    with open(os.path.join(ROOT, f"{model}.cases.json"), "w") as f:
        json.dump(records, f, indent=1)


def main():
    os.makedirs(ROOT, exist_ok=True)
    for model in ("tiny-sd1", "tiny-sd2"):
        with tempfile.TemporaryDirectory() as tmp:
            folder = complete_folder(os.path.join(MODELS, model), os.path.join(tmp, model))
            pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None,
                                                           requires_safety_checker=False, torch_dtype=torch.float32)
            components(model, pipe)
            cases(model, folder)
        print(model, "done")


if __name__ == "__main__":
    main()
