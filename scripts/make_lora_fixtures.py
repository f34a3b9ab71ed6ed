#!/usr/bin/env python3
"""LoRA reference images (issue 13) from diffusers, for Tests/EaselDiffusionTests/LoRAParityTests.swift
and scripts/check_generate_cli.py.

Writes Tests/EaselDiffusionTests/Fixtures/lora/:
- kohya.safetensors: kohya-ss naming (`lora_unet_*`, `lora_te_*`, `.lora_down.weight`,
  `.lora_up.weight`, `.alpha`), float16 like the files people download, rank 4 with alpha 2
  (so diffusers scales it by 0.5), and a LoCon-style 3x3 convolution (down 3x3, up 1x1);
- peft.safetensors: diffusers' current (PEFT) naming (`unet.<module>.lora_A.weight`,
  `text_encoder.<module>.lora_B.weight`), float32, rank 8, no alpha (scale 1);
- diffusers-old.safetensors: diffusers' older naming (`.processor.to_q_lora.down.weight`,
  `.lora.down.weight`, the text encoder's `.lora_linear_layer.up.weight`), rank 2;
- bad-shape.safetensors (a down weight one column too wide) and foreign.safetensors (keys for
  layers the tiny model does not have: a block it lacks and a layer that is not there);
- cases.json + *.u8: images (uint8 RGB, [count, H, W, 3]) of tiny-sd1 with one or two LoRAs
  loaded by `load_lora_weights` and fused by `fuse_lora(lora_scale=...)` (two at once: both
  adapters, `set_adapters` with their scales, then `fuse_lora`).

Each LoRA touches linear layers (attention projections, feed-forward, time embedding, the text
encoder's attention and MLP) and convolutions (1x1 `proj_in`/`conv_shortcut`, 3x3 resnet
convolutions). The script checks that diffusers' fused weights equal
W + scale * alpha / rank * up @ down for every target, so the images test exactly that rule.

Run by hand after make_tiny_models.py: python3 scripts/make_lora_fixtures.py (needs peft)
"""
import json
import os
import sys
import tempfile

import numpy as np
import torch
from diffusers import StableDiffusionPipeline
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_models import OUT as MODELS, complete_folder  # noqa: E402

ROOT = os.path.join(os.path.dirname(MODELS), "lora")

# (component, diffusers module) the LoRAs adapt, with what kind of layer each is.
UNET_TARGETS = [
    "down_blocks.0.attentions.0.proj_in",  # 1x1 conv (tiny-sd1 has conv projections)
    "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
    "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0",
    "down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k",
    "down_blocks.0.attentions.1.transformer_blocks.0.ff.net.0.proj",
    "down_blocks.0.attentions.1.transformer_blocks.0.ff.net.2",
    "down_blocks.0.resnets.0.conv1",  # 3x3 conv
    "down_blocks.0.resnets.1.time_emb_proj",
    "down_blocks.1.resnets.0.conv_shortcut",  # 1x1 conv
    "mid_block.attentions.0.transformer_blocks.0.attn2.to_v",
    "up_blocks.1.resnets.2.conv2",  # 3x3 conv
    "up_blocks.1.attentions.2.proj_out",
]
TEXT_TARGETS = [
    "text_model.encoder.layers.0.self_attn.q_proj",
    "text_model.encoder.layers.0.self_attn.out_proj",
    "text_model.encoder.layers.1.mlp.fc1",
    "text_model.encoder.layers.1.self_attn.v_proj",
]


def actual_path(root, path):
    """`path` as the loaded model names it: current transformers' CLIPTextModel has no
    `text_model` level (published checkpoints and LoRAs still name it)."""
    if path.startswith("text_model.") and not hasattr(root, "text_model"):
        return path[len("text_model."):]
    return path


def module(root, path):
    path = actual_path(root, path)
    m = root
    for part in path.split("."):
        m = getattr(m, part) if not part.isdigit() else m[int(part)]
    return m


def factors(weight, rank, generator, magnitude):
    """Random (down, up) for a layer with `weight`: linear [out, in] -> down [r, in], up [out, r];
    conv [out, in, kh, kw] -> down [r, in, kh, kw], up [out, r, 1, 1]."""
    out_features, in_features = weight.shape[0], weight.shape[1]
    kernel = list(weight.shape[2:])
    down = torch.randn([rank, in_features] + kernel, generator=generator) * (magnitude / (in_features ** 0.5))
    up = torch.randn([out_features, rank] + [1] * len(kernel), generator=generator) * (magnitude / (rank ** 0.5))
    return down, up


def make_loras(pipe):
    """The three LoRAs' state dicts, and for each the expected delta (scale 1) per weight."""
    g = torch.Generator().manual_seed(1234)
    loras = {}
    for name, rank, alpha, dtype in (("kohya", 4, 2.0, torch.float16), ("peft", 8, None, torch.float32),
                                     ("diffusers-old", 2, None, torch.float32)):
        state, deltas = {}, {}
        for component, targets in (("unet", UNET_TARGETS), ("text_encoder", TEXT_TARGETS)):
            for path in targets:
                weight = module(getattr(pipe, component), path).weight
                down, up = factors(weight, rank, g, 0.6)
                down, up = down.to(dtype), up.to(dtype)
                if name == "kohya":
                    prefix = ("lora_unet_" if component == "unet" else "lora_te_") + path.replace(".", "_")
                    state[f"{prefix}.lora_down.weight"] = down
                    state[f"{prefix}.lora_up.weight"] = up
                    state[f"{prefix}.alpha"] = torch.tensor(alpha, dtype=dtype)
                elif name == "peft":
                    state[f"{component}.{path}.lora_A.weight"] = down
                    state[f"{component}.{path}.lora_B.weight"] = up
                else:
                    parent, _, leaf = path.rpartition(".")
                    if component == "text_encoder":
                        base = f"{component}.{path}.lora_linear_layer"
                    elif leaf in ("to_q", "to_k", "to_v") or path.endswith("to_out.0"):
                        attn = parent if leaf != "0" else parent.rpartition(".")[0]
                        proj = "to_out" if leaf == "0" else leaf
                        base = f"{component}.{attn}.processor.{proj}_lora"
                    else:
                        base = f"{component}.{path}.lora"
                    state[f"{base}.down.weight"] = down
                    state[f"{base}.up.weight"] = up
                scaling = (alpha / rank) if alpha is not None else 1.0
                d32, u32 = down.to(torch.float32), up.to(torch.float32)
                delta = (u32.flatten(1) @ d32.flatten(1)).reshape(weight.shape) * scaling
                deltas[f"{component}.{actual_path(getattr(pipe, component), path)}.weight"] = delta
        loras[name] = (state, deltas)
    return loras


def bad_loras(pipe):
    g = torch.Generator().manual_seed(99)
    weight = module(pipe.unet, UNET_TARGETS[1]).weight
    down, up = factors(weight, 4, g, 0.5)
    prefix = "lora_unet_" + UNET_TARGETS[1].replace(".", "_")
    bad_shape = {f"{prefix}.lora_down.weight": torch.cat([down, down[:, :1]], dim=1).contiguous(),
                 f"{prefix}.lora_up.weight": up}
    foreign = {f"{prefix}.lora_down.weight": down, f"{prefix}.lora_up.weight": up}
    for stranger in ("lora_unet_down_blocks_7_attentions_0_proj_in",
                     "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_z"):
        foreign[f"{stranger}.lora_down.weight"] = down.clone()
        foreign[f"{stranger}.lora_up.weight"] = up.clone()
    save_file(bad_shape, os.path.join(ROOT, "bad-shape.safetensors"))
    save_file(foreign, os.path.join(ROOT, "foreign.safetensors"))


def specs():
    p = "a red circle on a blue background"
    neg = "asymmetric, watermarks"
    return [
        dict(loras=[["kohya", 1.0]], seed=71, count=1, prompt=p, negative=neg, width=64, height=64, steps=4, guidance=7.5),
        dict(loras=[["kohya", 0.5]], seed=72, count=1, prompt=p, negative=neg, width=64, height=64, steps=4, guidance=7.5),
        dict(loras=[["peft", 1.0]], seed=73, count=2, prompt="two kites", negative="", width=64, height=48, steps=4,
             guidance=6.0),
        dict(loras=[["peft", 0.5]], seed=74, count=1, prompt=p, negative=neg, width=64, height=64, steps=4, guidance=7.5),
        dict(loras=[["diffusers-old", 1.0]], seed=75, count=1, prompt=p, negative=neg, width=64, height=64, steps=4,
             guidance=7.5),
        dict(loras=[["kohya", 0.5], ["peft", 1.0]], seed=76, count=1, prompt=p, negative=neg, width=64, height=64,
             steps=4, guidance=7.5),
        dict(loras=[["peft", 0.5], ["diffusers-old", 1.0]], seed=77, count=1, prompt="a lighthouse at dusk",
             negative=neg, width=48, height=64, steps=4, guidance=7.5),
    ]


def load(folder):
    pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False,
                                                   torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, s):
    g = torch.Generator("cpu").manual_seed(s["seed"])
    return pipe(s["prompt"], negative_prompt=s["negative"] or None, num_inference_steps=s["steps"],
                guidance_scale=s["guidance"], num_images_per_prompt=s["count"], width=s["width"],
                height=s["height"], generator=g, output_type="np").images


def check_fused(pipe, base, loras, spec):
    """diffusers' fused weights == base + sum(scale * delta) for every target, nothing else changed."""
    expected = {}
    for name, scale in spec["loras"]:
        for key, delta in loras[name][1].items():
            expected[key] = expected.get(key, 0) + scale * delta
    worst = 0.0
    for component in ("unet", "text_encoder"):
        for key, value in getattr(pipe, component).state_dict().items():
            if "lora_" in key:
                continue  # the adapters' own factors, kept beside the fused weight
            full = f"{component}.{key.replace('.base_layer.', '.')}"
            want = base[full] + expected.get(full, 0)
            worst = max(worst, (value - want).abs().max().item())
    assert worst < 1e-5, (spec["loras"], worst)
    return worst


def main():
    os.makedirs(ROOT, exist_ok=True)
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = complete_folder(os.path.join(MODELS, "tiny-sd1"), os.path.join(tmp, "tiny-sd1"))
        plain = load(folder)
        base = {f"{c}.{k}": v.clone() for c in ("unet", "text_encoder") for k, v in getattr(plain, c).state_dict().items()}
        loras = make_loras(plain)
        for name, (state, _) in loras.items():
            save_file(state, os.path.join(ROOT, f"{name}.safetensors"))
        bad_loras(plain)
        for i, s in enumerate(specs()):
            pipe = load(folder)
            names = []
            for name, scale in s["loras"]:
                pipe.load_lora_weights(os.path.join(ROOT, f"{name}.safetensors"), adapter_name=name.replace("-", "_"))
                names.append(name.replace("-", "_"))
            if len(names) == 1:
                pipe.fuse_lora(lora_scale=s["loras"][0][1], adapter_names=names)
            else:
                pipe.set_adapters(names, adapter_weights=[scale for _, scale in s["loras"]])
                pipe.fuse_lora(lora_scale=1.0, adapter_names=names)
            worst_weight = check_fused(pipe, base, loras, s)
            images = generate(pipe, s)
            without = generate(plain, s)
            u8 = (images * 255).round().astype("uint8")
            changed = np.abs(u8.astype(int) - (without * 255).round().astype(int)).mean()
            assert changed > 3, f"case {i}: the LoRA barely changes the image ({changed:.2f}/255 on average)"
            name = f"case{i}.u8"
            u8.tofile(os.path.join(ROOT, name))
            records.append({**s, "file": name, "shape": list(u8.shape)})
            print(name, s["loras"], f"fused weights within {worst_weight:.2e}, mean change vs no LoRA {changed:.1f}/255")
    with open(os.path.join(ROOT, "cases.json"), "w") as f:
        json.dump(records, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
