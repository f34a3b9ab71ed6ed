#!/usr/bin/env python3
"""A tiny random AutoencoderTiny (TAESD) and diffusers' outputs for it, for
Tests/EaselDiffusionTests/TinyAutoencoderTests.swift and scripts/check_generate_cli.py.

Writes Tests/EaselDiffusionTests/Fixtures/tiny-autoencoder/:
- diffusers/: the model as diffusers saves it (config.json + diffusion_pytorch_model.safetensors);
- original/: the same weights in madebyollin's naming (taesd_decoder.safetensors with keys
  `N...` one above diffusers' `decoder.layers.N...` for its leading Clamp, and
  taesd_encoder.safetensors with `encoder.layers.N...` as `N...`), no config;
- input.latents.f32 [1, 4, 8, 8] (values to about ±5, so the tanh soft clamp matters),
  decode.f32 [1, 3, 64, 64]; input.image.f32 [1, 3, 64, 64] in [-1, 1], encode.f32 [1, 4, 8, 8];
- case.u8 + case.json: tiny-sd1 through StableDiffusionPipeline with this autoencoder as
  its VAE (diffusers divides latents by its scaling_factor, 1.0, before decoding);
- img2img.u8 + img2img.json: the same through StableDiffusionImg2ImgPipeline from
  Fixtures/img2img/init.png (the tiny encoder's latents are taken as they are: nothing is
  drawn from the generator for them, unlike the VAE's latent distribution).

Weights are rounded to float16 and stored as float16; references are computed in float32
from the rounded values. Run by hand: python3 scripts/make_tiny_autoencoder_fixtures.py
"""
import json
import os
import sys
import tempfile

import numpy as np
import torch
from diffusers import (AutoencoderTiny, EulerAncestralDiscreteScheduler, StableDiffusionImg2ImgPipeline,
                       StableDiffusionPipeline)
from PIL import Image
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_models import OUT as MODELS, complete_folder, round_to_f16  # noqa: E402

ROOT = os.path.join(os.path.dirname(MODELS), "tiny-autoencoder")


def f32(name, t):
    np.ascontiguousarray(t.detach().to(torch.float32).numpy()).astype("<f4").tofile(os.path.join(ROOT, name))


def model():
    torch.manual_seed(5)
    return round_to_f16(AutoencoderTiny(encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
                                        num_encoder_blocks=(1, 2, 1, 1), num_decoder_blocks=(2, 1, 1, 1),
                                        latent_channels=4))


def original_naming(state):
    decoder, encoder = {}, {}
    for key, value in state.items():
        part, rest = key.split(".layers.", 1)
        index, tail = rest.split(".", 1)
        if part == "decoder":
            decoder[f"{int(index) + 1}.{tail}"] = value.to(torch.float16).contiguous()
        else:
            encoder[f"{index}.{tail}"] = value.to(torch.float16).contiguous()
    os.makedirs(os.path.join(ROOT, "original"), exist_ok=True)
    save_file(decoder, os.path.join(ROOT, "original", "taesd_decoder.safetensors"))
    save_file(encoder, os.path.join(ROOT, "original", "taesd_encoder.safetensors"))


def main():
    os.makedirs(ROOT, exist_ok=True)
    taesd = model()
    taesd.to(torch.float16).save_pretrained(os.path.join(ROOT, "diffusers"))
    taesd.to(torch.float32)
    original_naming(taesd.state_dict())
    g = torch.Generator("cpu").manual_seed(9)
    latents = torch.randn([1, 4, 8, 8], generator=g) * 2.5
    image = torch.rand([1, 3, 64, 64], generator=g) * 2 - 1
    with torch.no_grad():
        f32("input.latents.f32", latents)
        f32("decode.f32", taesd.decode(latents).sample)
        f32("input.image.f32", image)
        f32("encode.f32", taesd.encode(image).latents)
    spec = dict(scheduler="euler_a", steps=4, guidance=6.0, count=1, seed=77, prompt="a red circle on a blue background",
                negative="asymmetric, watermarks", width=64, height=64)
    with tempfile.TemporaryDirectory() as tmp:
        folder = complete_folder(os.path.join(MODELS, "tiny-sd1"), os.path.join(tmp, "tiny-sd1"))
        pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False,
                                                       torch_dtype=torch.float32)
        pipe.vae = taesd
        pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
        images = pipe(spec["prompt"], negative_prompt=spec["negative"], num_inference_steps=spec["steps"],
                      guidance_scale=spec["guidance"], width=spec["width"], height=spec["height"],
                      generator=torch.Generator("cpu").manual_seed(spec["seed"]), output_type="np").images
        u8 = (images * 255).round().astype("uint8")
        u8.tofile(os.path.join(ROOT, "case.u8"))
        with open(os.path.join(ROOT, "case.json"), "w") as f:
            json.dump({**spec, "model": "tiny-sd1", "file": "case.u8", "shape": list(u8.shape)}, f, indent=1)
            f.write("\n")

        img2img = StableDiffusionImg2ImgPipeline(**pipe.components)
        img2img.set_progress_bar_config(disable=True)
        spec2 = dict(spec, strength=0.6, count=2, seed=78)
        init = Image.open(os.path.join(os.path.dirname(MODELS), "img2img", "init.png")).convert("RGB")
        images = img2img(spec2["prompt"], image=init, strength=spec2["strength"], negative_prompt=spec2["negative"],
                         num_inference_steps=spec2["steps"], guidance_scale=spec2["guidance"],
                         num_images_per_prompt=spec2["count"],
                         generator=torch.Generator("cpu").manual_seed(spec2["seed"]), output_type="np").images
        u8 = (images * 255).round().astype("uint8")
        u8.tofile(os.path.join(ROOT, "img2img.u8"))
        with open(os.path.join(ROOT, "img2img.json"), "w") as f:
            json.dump({**spec2, "model": "tiny-sd1", "init": "init.png", "file": "img2img.u8",
                       "shape": list(u8.shape)}, f, indent=1)
            f.write("\n")
    print("params", sum(p.numel() for p in taesd.parameters()))


if __name__ == "__main__":
    main()
