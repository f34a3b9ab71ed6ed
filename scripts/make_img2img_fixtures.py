#!/usr/bin/env python3
"""Reference outputs of image to image on the tiny pipelines, from diffusers'
StableDiffusionImg2ImgPipeline.

Writes Tests/EaselDiffusionTests/Fixtures/img2img/:
- init.png (64x64 RGB, drawn here) and init.jpg (the same picture as a JPEG, quality 90)
  with init.jpg.u8 (Pillow's decoding of it: uint8 [H, W, 3]) to check Easel's decoder;
- <model>.cases.json + <model>.case<i>.u8: images (uint8 RGB [count, H, W, 3]) for several
  schedulers, strengths and batch sizes, all from init.png.

Run once by hand after make_tiny_models.py: python3 scripts/make_img2img_fixtures.py
(torch, diffusers 0.42.1, transformers 5.24.0, pillow).
"""
import json
import os
import sys
import tempfile

import numpy as np
import torch
from PIL import Image
from diffusers import StableDiffusionImg2ImgPipeline

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_pipeline_fixtures import SCHEDULERS as ALL_SCHEDULERS  # noqa: E402
from make_tiny_models import OUT as MODELS, complete_folder  # noqa: E402

ROOT = os.path.join(os.path.dirname(MODELS), "img2img")
SCHEDULERS = {name: ALL_SCHEDULERS[name] for name in ("pndm", "ddim", "euler", "euler_a", "dpm++2m")}


def init_picture():
    """A picture with edges and gradients: a yellow disc on a blue-to-red ramp."""
    y, x = np.mgrid[0:64, 0:64].astype(np.float32)
    rgb = np.stack([x * 4, np.full_like(x, 60), 255 - y * 4], axis=-1)
    disc = (x - 40) ** 2 + (y - 24) ** 2 < 14 ** 2
    rgb[disc] = [250, 220, 30]
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def specs():
    out = []
    for sched in SCHEDULERS:
        out.append(dict(scheduler=sched, strength=0.6, count=1, steps=10, seed=4523184, guidance=7.0,
                        prompt="a red circle on a blue background", negative="asymmetric, watermarks"))
        out.append(dict(scheduler=sched, strength=0.3, count=3, steps=10, seed=42, guidance=5.5,
                        prompt="a photo of an astronaut riding a horse", negative=""))
        out.append(dict(scheduler=sched, strength=1.0, count=1, steps=5, seed=7, guidance=1.0,
                        prompt="no guidance at all", negative="ignored"))
    return out


def cases(model, folder, init):
    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False,
                                                          torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    base = dict(pipe.scheduler.config)
    records = []
    for i, s in enumerate(specs()):
        cls, extra = SCHEDULERS[s["scheduler"]]
        pipe.scheduler = cls.from_config({**base, **extra})
        g = torch.Generator("cpu").manual_seed(s["seed"])
        images = pipe(s["prompt"], image=init, strength=s["strength"], negative_prompt=s["negative"] or None,
                      num_inference_steps=s["steps"], guidance_scale=s["guidance"],
                      num_images_per_prompt=s["count"], generator=g, output_type="np").images
        u8 = (images * 255).round().astype("uint8")
        name = f"{model}.case{i}.u8"
        u8.tofile(os.path.join(ROOT, name))
        records.append({**s, "init": "init.png", "file": name, "shape": list(u8.shape)})
    with open(os.path.join(ROOT, f"{model}.cases.json"), "w") as f:
        json.dump(records, f, indent=1)


def main():
    os.makedirs(ROOT, exist_ok=True)
    init = init_picture()
    init.save(os.path.join(ROOT, "init.png"))
    init.save(os.path.join(ROOT, "init.jpg"), quality=90)
    np.asarray(Image.open(os.path.join(ROOT, "init.jpg")).convert("RGB")).tofile(os.path.join(ROOT, "init.jpg.u8"))
    init = Image.open(os.path.join(ROOT, "init.png"))
    for model in ("tiny-sd1", "tiny-sd2"):
        with tempfile.TemporaryDirectory() as tmp:
            cases(model, complete_folder(os.path.join(MODELS, model), os.path.join(tmp, model)), init)
        print(model, "done")


if __name__ == "__main__":
    main()
