#!/usr/bin/env python3
"""Checkpoint-reader fixtures: safetensors files written by the reference implementation.

Writes Tests/EaselDiffusionTests/Fixtures/checkpoint/:
- values.safetensors   F32, F16 and BF16 tensors holding special values (signed zeros,
                       subnormals, the extremes, infinities, NaNs with payloads), an I64
                       `position_ids` buffer, and `__metadata__`; written by safetensors.
- values.json          for each tensor: dtype, shape and the expected float32 bit
                       patterns of its elements as widened by numpy/torch.
- tiny-pipeline/       a diffusers folder saved by diffusers/transformers themselves:
                       model_index.json; unet/ (a tiny UNet2DConditionModel, F32, sharded
                       into several files behind diffusion_pytorch_model.safetensors.index.json);
                       text_encoder/ (a tiny CLIPTextModel saved only as the fp16 variant,
                       model.fp16.safetensors); scheduler/scheduler_config.json.
- tiny-pipeline.json   per component, every tensor's shape, float64 sum and first values
                       as the reference loads them (float32).

Run once by hand (needs numpy, torch, safetensors, diffusers, transformers):
    python3 scripts/make_checkpoint_fixtures.py
"""
import json
import os
import shutil

import numpy as np
import torch
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file as save_torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "EaselDiffusionTests",
                    "Fixtures", "checkpoint")

F16_BITS = [
    0x0000, 0x8000,          # +0, -0
    0x0001, 0x8001,          # smallest subnormal (2^-24), negated
    0x0200, 0x03FF,          # subnormals: 2^-15, largest subnormal
    0x0400, 0x8400,          # smallest normal (2^-14), negated
    0x3C00, 0xBC00,          # 1, -1
    0x3555, 0x4248,          # ~1/3, ~pi
    0x7BFF, 0xFBFF,          # +-65504 (largest finite)
    0x7C00, 0xFC00,          # +-inf
    0x7E00, 0xFE00,          # quiet NaNs
    0x7C01, 0x7D55,          # NaNs with payloads
    0x3BFF, 0x0401,          # just below 1, just above the smallest normal
]

BF16_BITS = [
    0x0000, 0x8000,          # +0, -0
    0x0001, 0x807F,          # subnormals
    0x0080, 0x3F80, 0xBF80,  # smallest normal, 1, -1
    0x4049, 0x3EAB,          # ~pi, ~1/3
    0x7F7F, 0xFF7F,          # +-largest finite
    0x7F80, 0xFF80,          # +-inf
    0x7FC0, 0xFFC1,          # NaNs (one with payload)
]

F32_BITS = [
    0x00000000, 0x80000000,  # +0, -0
    0x00000001, 0x807FFFFF,  # subnormals
    0x3F800000, 0xC0490FDB,  # 1, -pi
    0x7F7FFFFF, 0x7F800000, 0xFF800000,  # largest finite, +-inf
    0x7FC00000, 0x7FA00001,  # NaNs
    0x3EAAAAAB,              # 1/3
]


def bits_of(array32):
    return [int(b) for b in np.asarray(array32, dtype=np.float32).reshape(-1).view(np.uint32)]


def make_values():
    f16 = np.array(F16_BITS, dtype=np.uint16).view(np.float16).reshape(2, 11)
    f32 = np.array(F32_BITS, dtype=np.uint32).view(np.float32).reshape(3, 4)
    bf16 = torch.from_numpy(np.array(BF16_BITS, dtype=np.uint16).view(np.int16)).view(torch.bfloat16).reshape(3, 5)
    tensors = {
        "f16.values": torch.from_numpy(f16.copy()),
        "f32.values": torch.from_numpy(f32.copy()),
        "bf16.values": bf16,
        "f32.scalar": torch.tensor(2.5, dtype=torch.float32),
        "f16.empty": torch.zeros((0, 3), dtype=torch.float16),
        "text_model.embeddings.position_ids": torch.arange(7, dtype=torch.int64).reshape(1, 7),
    }
    save_torch(tensors, os.path.join(ROOT, "values.safetensors"),
               metadata={"format": "pt", "note": "Easel checkpoint fixture"})
    expected = {}
    for name, t in tensors.items():
        entry = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape)}
        if t.dtype in (torch.float32, torch.float16, torch.bfloat16):
            # numpy widens F16 (keeping NaN payloads); torch widens BF16 by shifting.
            widened = f16.astype(np.float32) if name == "f16.values" else t.to(torch.float32).numpy()
            entry["bits"] = bits_of(widened)
        expected[name] = entry
    with open(os.path.join(ROOT, "values.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


def describe_component(folder, name):
    """Shape, sum and first values of every tensor as the reference loads them."""
    from safetensors import safe_open
    out = {}
    comp = os.path.join(folder, name)
    files = sorted(f for f in os.listdir(comp) if f.endswith(".safetensors"))
    for file in files:
        with safe_open(os.path.join(comp, file), framework="pt") as f:
            for key in f.keys():
                t = f.get_tensor(key).to(torch.float32)
                out[key] = {"shape": list(t.shape), "sum": float(t.double().sum()),
                            "first": [float(v) for v in t.reshape(-1)[:4]]}
    return out


def make_pipeline():
    from diffusers import PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    folder = os.path.join(ROOT, "tiny-pipeline")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(8, 16), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=8,
        attention_head_dim=2, norm_num_groups=4)
    unet.save_pretrained(os.path.join(folder, "unet"), max_shard_size="40KB")

    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=64, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=16, projection_dim=8))
    text.half().save_pretrained(os.path.join(folder, "text_encoder"), variant="fp16")

    PNDMScheduler(skip_prk_steps=True).save_pretrained(os.path.join(folder, "scheduler"))

    model_index = {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": "0.42.1",
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    with open(os.path.join(folder, "model_index.json"), "w") as f:
        json.dump(model_index, f, indent=2)
    # The vae is listed but its folder is deliberately absent (a missing-component test).

    expected = {name: describe_component(folder, name) for name in ("unet", "text_encoder")}
    with open(os.path.join(ROOT, "tiny-pipeline.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    os.makedirs(ROOT, exist_ok=True)
    make_values()
    make_pipeline()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    print(f"wrote {ROOT} ({total / 1024:.0f} KiB)")
