#!/usr/bin/env python3
"""Text-encoder parity fixtures: transformers' CLIPTextModel on random weights.

Writes Tests/EaselDiffusionTests/Fixtures/text_encoder/:
- tiny/           a tiny CLIPTextModel saved by transformers (names `encoder.layers...`)
- tiny-proj/      a tiny CLIPTextModelWithProjection (names `text_model.encoder...` + `text_projection`)
- <name>.json     inputs and metadata for each case
- <name>.*.f32    expected outputs, little-endian float32

The full-size cases (SD 1.5's and SD 2.x's text-encoder configs) commit no weights: every
parameter is drawn from torch.randn with one seeded generator, in the manifest's order,
scaled and shifted as the manifest says, so the Swift test rebuilds the same weights with
its torch-identical generator.

Run once by hand (needs torch, transformers): python3 scripts/make_text_encoder_fixtures.py
"""
import json
import os
import shutil

import numpy as np
import torch
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

ROOT = os.path.join(os.path.dirname(__file__), "..", "Tests", "EaselDiffusionTests", "Fixtures", "text_encoder")

# Token ids from CLIP's tokenizer for "a photo of an astronaut riding a horse on mars",
# padded SD 1.x-style with <|endoftext|>, and a second prompt padded SD 2.x-style with "!" (id 0).
PROMPT_A = [49406, 320, 1125, 539, 550, 18376, 6765, 320, 4558, 525, 7496, 49407]
PROMPT_B = [49406, 2242, 2390, 267, 1901, 537, 3617, 2136, 267, 5772, 1388, 49407]


def padded(ids, pad):
    return ids + [pad] * (77 - len(ids))


def write_f32(path, tensor):
    np.ascontiguousarray(tensor.detach().to(torch.float32).numpy()).astype("<f4").tofile(path)


def seeded_parameters(model, seed):
    """Overwrite every parameter from one generator; return the manifest Swift replays."""
    g = torch.Generator("cpu").manual_seed(seed)
    manifest = []
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name.endswith("layer_norm.weight"):
                std, mean = 0.1, 1.0
            elif "embedding" in name:
                std, mean = 0.5, 0.0
            else:
                std, mean = 0.04, 0.0
            p.copy_(torch.randn(p.shape, generator=g) * std + mean)
            manifest.append({"name": name, "shape": list(p.shape), "std": std, "mean": mean})
    return manifest


def run_case(name, model, ids_batch, extra):
    model.eval()
    ids = torch.tensor(ids_batch, dtype=torch.long)
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
    meta = {"input_ids": ids_batch, "config": model.config.to_dict(), **extra,
            "hidden_states": len(out.hidden_states)}
    write_f32(os.path.join(ROOT, f"{name}.last_hidden_state.f32"), out.last_hidden_state)
    pooled = out.text_embeds if hasattr(out, "text_embeds") else out.pooler_output
    write_f32(os.path.join(ROOT, f"{name}.pooled.f32"), pooled)
    # Every layer's hidden state for the tiny models; the penultimate and first for big ones.
    keep = range(len(out.hidden_states)) if extra.get("all_hidden_states") else [len(out.hidden_states) - 2]
    meta["saved_hidden_states"] = list(keep)
    for i in keep:
        write_f32(os.path.join(ROOT, f"{name}.hidden_state{i}.f32"), out.hidden_states[i])
    with open(os.path.join(ROOT, f"{name}.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(name, "max|last|", float(out.last_hidden_state.abs().max()))


def main():
    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(ROOT)
    torch.manual_seed(0)

    tiny = CLIPTextConfig(vocab_size=1000, hidden_size=32, intermediate_size=37, num_hidden_layers=3,
                          num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
                          layer_norm_eps=1e-5, projection_dim=24, bos_token_id=998, eos_token_id=999,
                          pad_token_id=1)
    m = CLIPTextModel(tiny)
    seeded_parameters(m, 1)
    m.save_pretrained(os.path.join(ROOT, "tiny"))
    ids = [[998, 5, 17, 400, 999] + [999] * 72, [998] + list(range(100, 175)) + [999]]
    run_case("tiny", m, ids, {"all_hidden_states": True})

    tiny_gelu = CLIPTextConfig(**{**tiny.to_dict(), "hidden_act": "gelu", "eos_token_id": 2})
    mp = CLIPTextModelWithProjection(tiny_gelu)
    seeded_parameters(mp, 2)
    # Published checkpoints name the weights `text_model.*`; write them that way.
    from safetensors.torch import save_file
    os.makedirs(os.path.join(ROOT, "tiny-proj"))
    # (transformers 5 already names the projection model's weights `text_model.*`.)
    state = {(k if k.startswith(("text_model.", "text_projection")) else "text_model." + k): v.contiguous()
             for k, v in mp.state_dict().items()}
    save_file(state, os.path.join(ROOT, "tiny-proj", "model.safetensors"))
    mp.config.to_json_file(os.path.join(ROOT, "tiny-proj", "config.json"))
    ids2 = [[998, 5, 17, 400, 999] + [0] * 72, [998, 3, 999] + [999] * 74]  # argmax pooling (eos_token_id 2)
    run_case("tiny-proj", mp, ids2, {"all_hidden_states": True})

    sd15 = CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                          num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
                          layer_norm_eps=1e-5, projection_dim=768, bos_token_id=0, eos_token_id=2,
                          pad_token_id=1)
    sd2 = CLIPTextConfig(vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23,
                         num_attention_heads=16, max_position_embeddings=77, hidden_act="gelu",
                         layer_norm_eps=1e-5, projection_dim=512, bos_token_id=0, eos_token_id=2,
                         pad_token_id=1)
    for name, cfg, seed, pad in [("sd15", sd15, 15, 49407), ("sd2", sd2, 21, 0)]:
        model = CLIPTextModel(cfg)
        manifest = seeded_parameters(model, seed)
        with open(os.path.join(ROOT, f"{name}.manifest.json"), "w") as f:
            json.dump({"seed": seed, "parameters": manifest}, f, indent=0)
        run_case(name, model, [padded(PROMPT_A, pad), padded(PROMPT_B, pad)], {"seed": seed})


if __name__ == "__main__":
    main()
