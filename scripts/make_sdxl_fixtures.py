#!/usr/bin/env python3
"""A tiny random-weight SDXL pipeline and diffusers' outputs for it (issue 14), for
Tests/EaselDiffusionTests/SDXLParityTests.swift.

Writes Tests/EaselDiffusionTests/Fixtures/sdxl/:
- tiny-sdxl/: a diffusers folder (float16 on disk, computed in float32 from the same values)
  laid out as stabilityai/stable-diffusion-xl-base-1.0: text_encoder (CLIPTextModel),
  text_encoder_2 (CLIPTextModelWithProjection), tokenizer and tokenizer_2 (pads with "!"; CLIP's
  vocabulary is left out, as in Fixtures/models), a UNet with the `text_time` added embedding,
  `transformer_layers_per_block` [1, 2] and no attention in its top level, the VAE with SDXL's
  scaling factor 0.13025, SDXL's Euler scheduler config, force_zeros_for_empty_prompt;
- text.json + *.f32: `encode_prompt` of two prompt pairs (prompt embeds [1, 77, 40]: the two
  encoders are 16 and 24 wide; pooled [1, 32], and the negative ones; no negative prompt among
  them: zeros);
- unet.*.f32: the UNet on fixed inputs with added conditioning at three timesteps;
- cases.json + *.u8: StableDiffusionXLPipeline images (uint8 RGB, [count, H, W, 3]) for Euler,
  Euler a, DPM++ 2M and DDIM, batch 1 and 3, a non-square size, an empty negative prompt;
- lora.safetensors + lora.json + lora.u8: a PEFT-named LoRA on the UNet and both text encoders
  (`text_encoder_2.` too), fused by `load_lora_weights` + `fuse_lora(lora_scale=0.8)`, and its image;
- lora-kohya.safetensors: the same LoRA in kohya-ss's SDXL naming (`lora_unet_` + SGM module
  paths such as `input_blocks_4_1_transformer_blocks_1_attn2_to_k`, `lora_te1_`/`lora_te2_` +
  transformers' paths, alpha 2 of rank 4 with `up` doubled to match), checked here to give
  diffusers the same image as lora.safetensors;
- tiny-sdxl.safetensors: the folder as one file in SGM's original layout (`model.diffusion_model.`
  with `label_emb`, `first_stage_model.`, `conditioner.embedders.0.transformer.` CLIP,
  `conditioner.embedders.1.model.` OpenCLIP with fused `in_proj` and `text_projection`), written by
  scripts/make_single_file_fixtures.py's reverse mapping and checked to load in diffusers'
  `StableDiffusionXLPipeline.from_single_file` to exactly the folder's state dicts;
- img2img.json + img2img*.u8: StableDiffusionXLImg2ImgPipeline from Fixtures/img2img/init.png,
  three schedulers and strengths, batch 1 and 2;
- taesd.json + taesd.u8: the pipeline decoding with the tiny autoencoder of
  Fixtures/tiny-autoencoder (TAESD's architecture, as TAESD-XL).

Run by hand: python3 scripts/make_sdxl_fixtures.py
"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
from diffusers import (AutoencoderKL, DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_lora_fixtures import factors, module  # noqa: E402
from make_single_file_fixtures import sdxl_to_ldm  # noqa: E402
from make_tiny_models import CLIP_VOCAB, OUT as MODELS, published_tokenizer_files, round_to_f16, vae  # noqa: E402

ROOT = os.path.join(os.path.dirname(MODELS), "sdxl")
FOLDER = os.path.join(ROOT, "tiny-sdxl")

# stabilityai/stable-diffusion-xl-base-1.0 scheduler/scheduler_config.json
SDXL_SCHEDULER = {
    "_class_name": "EulerDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "clip_sample": False, "interpolation_type": "linear", "num_train_timesteps": 1000,
    "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": False, "skip_prk_steps": True,
    "steps_offset": 1, "timestep_spacing": "leading", "trained_betas": None, "use_karras_sigmas": False,
}


# The two encoders' widths differ, as CLIP ViT-L's (768) and OpenCLIP bigG's (1280) do:
# diffusers' single-file loader tells SDXL's encoders apart by width.
TEXT_WIDTHS = (16, 24)


def text_config(layers, width):
    return CLIPTextConfig(vocab_size=49408, hidden_size=width, intermediate_size=37, num_hidden_layers=layers,
                          num_attention_heads=4, max_position_embeddings=77, hidden_act="gelu", layer_norm_eps=1e-5,
                          projection_dim=32, bos_token_id=0, eos_token_id=2, pad_token_id=1)


def tokenizer(pad):
    tok = CLIPTokenizer(os.path.join(CLIP_VOCAB, "vocab.json"), os.path.join(CLIP_VOCAB, "merges.txt"), pad_token=pad)
    tok.model_max_length = 77
    return tok


def build():
    torch.manual_seed(31)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
        cross_attention_dim=TEXT_WIDTHS[0] + TEXT_WIDTHS[1], norm_num_groups=8)
    torch.manual_seed(32)
    text_encoder = CLIPTextModel(text_config(3, TEXT_WIDTHS[0]))
    torch.manual_seed(33)
    text_encoder_2 = CLIPTextModelWithProjection(text_config(2, TEXT_WIDTHS[1]))
    autoencoder = vae()
    autoencoder.register_to_config(scaling_factor=0.13025, force_upcast=True)
    return StableDiffusionXLPipeline(
        vae=round_to_f16(autoencoder), text_encoder=round_to_f16(text_encoder),
        text_encoder_2=round_to_f16(text_encoder_2), tokenizer=tokenizer("<|endoftext|>"), tokenizer_2=tokenizer("!"),
        unet=round_to_f16(unet), scheduler=EulerDiscreteScheduler.from_config(SDXL_SCHEDULER),
        force_zeros_for_empty_prompt=True)


def save(pipe):
    shutil.rmtree(FOLDER, ignore_errors=True)
    pipe.save_pretrained(FOLDER)
    for comp in ("unet", "vae", "text_encoder", "text_encoder_2"):
        m = getattr(pipe, comp)
        m.to(torch.float16).save_pretrained(os.path.join(FOLDER, comp))
        m.to(torch.float32)
    # As published, minus CLIP's vocabulary (Easel ships it).
    published_tokenizer_files(FOLDER, "<|endoftext|>", "tokenizer")
    published_tokenizer_files(FOLDER, "!", "tokenizer_2")


def load(tmp):
    folder = os.path.join(tempfile.mkdtemp(dir=tmp), "tiny-sdxl")
    shutil.copytree(FOLDER, folder)
    for tok in ("tokenizer", "tokenizer_2"):
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(CLIP_VOCAB, f), os.path.join(folder, tok, f))
    pipe = StableDiffusionXLPipeline.from_pretrained(folder, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def f32(name, t):
    np.ascontiguousarray(t.detach().to(torch.float32).numpy()).astype("<f4").tofile(os.path.join(ROOT, name))


def text(pipe):
    records = []
    for i, (prompt, negative) in enumerate([("a red circle on a blue background", "asymmetric, watermarks"),
                                            ("two kites over the sea", "")]):
        with torch.no_grad():
            p, n, pp, np_ = pipe.encode_prompt(prompt, device="cpu", num_images_per_prompt=1,
                                               do_classifier_free_guidance=True, negative_prompt=negative or None)
        for name, t in (("prompt", p), ("negative", n), ("pooled", pp), ("negative_pooled", np_)):
            f32(f"text{i}.{name}.f32", t)
        records.append({"prompt": prompt, "negative": negative, "shapes": [list(p.shape), list(pp.shape)]})
    with open(os.path.join(ROOT, "text.json"), "w") as f:
        json.dump(records, f, indent=2)


def unet(pipe):
    g = torch.Generator("cpu").manual_seed(77)
    latents = torch.randn([2, 4, 8, 12], generator=g)
    context = torch.randn([2, 77, sum(TEXT_WIDTHS)], generator=g)
    pooled = torch.randn([2, 32], generator=g)
    time_ids = torch.tensor([[64.0, 96.0, 0.0, 0.0, 64.0, 96.0], [128.0, 128.0, 8.0, 16.0, 64.0, 96.0]])
    for name, t in (("latents", latents), ("context", context), ("pooled", pooled), ("time_ids", time_ids)):
        f32(f"unet.input.{name}.f32", t)
    with torch.no_grad():
        for t in (999, 500, 1):
            out = pipe.unet(latents, t, encoder_hidden_states=context,
                            added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids}).sample
            f32(f"unet.t{t}.f32", out)


SCHEDULERS = {"euler_a": EulerAncestralDiscreteScheduler, "dpm++2m": DPMSolverMultistepScheduler, "ddim": DDIMScheduler}


def specs():
    p, neg = "a red circle on a blue background", "asymmetric, watermarks"
    return [
        dict(scheduler="default", steps=4, guidance=5.0, count=1, seed=1, prompt=p, negative=neg, width=64, height=64),
        dict(scheduler="default", steps=3, guidance=7.0, count=3, seed=2, prompt="two kites", negative=neg,
             width=64, height=64),
        dict(scheduler="euler_a", steps=4, guidance=5.0, count=1, seed=3, prompt=p, negative="", width=96, height=64),
        dict(scheduler="dpm++2m", steps=5, guidance=6.0, count=1, seed=4, prompt=p, negative=neg, width=64, height=80),
        dict(scheduler="ddim", steps=4, guidance=0.0, count=2, seed=5, prompt="a lighthouse", negative=neg,
             width=64, height=64),
    ]


def images(pipe):
    records = []
    base = pipe.scheduler
    for i, s in enumerate(specs()):
        pipe.scheduler = base if s["scheduler"] == "default" else SCHEDULERS[s["scheduler"]].from_config(base.config)
        g = torch.Generator("cpu").manual_seed(s["seed"])
        out = pipe(s["prompt"], negative_prompt=s["negative"] or None, num_inference_steps=s["steps"],
                   guidance_scale=s["guidance"], num_images_per_prompt=s["count"], width=s["width"],
                   height=s["height"], generator=g, output_type="np").images
        u8 = (out * 255).round().astype("uint8")
        name = f"case{i}.u8"
        u8.tofile(os.path.join(ROOT, name))
        records.append({**s, "file": name, "shape": list(u8.shape)})
        print(name, s["scheduler"], type(pipe.scheduler).__name__)
    with open(os.path.join(ROOT, "cases.json"), "w") as f:
        json.dump(records, f, indent=2)


def draw(pipe, s):
    """One image of settings s (prompt, negative, steps, guidance, size, seed) as uint8 pixels."""
    out = pipe(s["prompt"], negative_prompt=s["negative"], num_inference_steps=s["steps"], guidance_scale=s["guidance"],
               width=s["width"], height=s["height"], generator=torch.Generator("cpu").manual_seed(s["seed"]),
               output_type="np").images
    return (out * 255).round().astype("uint8")


def write_case(name, s, u8):
    """name.u8 and name.json: the pixels and the settings that drew them."""
    u8.tofile(os.path.join(ROOT, f"{name}.u8"))
    with open(os.path.join(ROOT, f"{name}.json"), "w") as f:
        json.dump({**s, "file": f"{name}.u8", "shape": list(u8.shape)}, f, indent=2)
    print(f"{name}.u8")


LORA_TARGETS = {
    "unet": ["down_blocks.0.resnets.1.conv1", "down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k",
             "down_blocks.1.attentions.0.proj_in", "up_blocks.0.attentions.2.transformer_blocks.0.ff.net.2"],
    # Attention projections only in the encoders: diffusers 0.42 cannot read encoder LoRAs whose
    # layers convert to two of its namings at once (a kohya file with MLP and attention layers),
    # nor a PEFT-named encoder LoRA on MLP layers alone, nor a kohya encoder LoRA without an
    # attention output projection (`to_out_lora` is how it tells the naming).
    "text_encoder": ["text_model.encoder.layers.1.self_attn.q_proj", "text_model.encoder.layers.0.self_attn.out_proj"],
    "text_encoder_2": ["text_model.encoder.layers.0.self_attn.k_proj", "text_model.encoder.layers.1.self_attn.out_proj"],
}


def lora(tmp):
    """A PEFT-named LoRA on the UNet and both text encoders, fused at 0.8, and its image."""
    from safetensors.torch import save_file
    pipe = load(tmp)
    g = torch.Generator().manual_seed(4242)
    state = {}
    for component, paths in LORA_TARGETS.items():
        for path in paths:
            down, up = factors(module(getattr(pipe, component), path).weight, 4, g, 0.8)
            state[f"{component}.{path}.lora_A.weight"] = down
            state[f"{component}.{path}.lora_B.weight"] = up
    save_file(state, os.path.join(ROOT, "lora.safetensors"))
    s = dict(scale=0.8, scheduler="default", steps=4, guidance=5.0, count=1, seed=9, prompt="a red circle",
             negative="asymmetric, watermarks", width=64, height=64)
    pipe.load_lora_weights(os.path.join(ROOT, "lora.safetensors"))
    pipe.fuse_lora(lora_scale=s["scale"])
    u8 = draw(pipe, s)
    write_case("lora", s, u8)


# A LoRA target's kohya-ss SDXL name: SGM's module path for the UNet, transformers' for the encoders.
KOHYA_NAMES = {
    "unet": {"down_blocks.0.resnets.1.conv1": "input_blocks_2_0_in_layers_2",
             "down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k": "input_blocks_4_1_transformer_blocks_1_attn2_to_k",
             "down_blocks.1.attentions.0.proj_in": "input_blocks_4_1_proj_in",
             "up_blocks.0.attentions.2.transformer_blocks.0.ff.net.2": "output_blocks_2_1_transformer_blocks_0_ff_net_2"},
    "text_encoder": {"text_model.encoder.layers.1.self_attn.q_proj": "text_model_encoder_layers_1_self_attn_q_proj",
                     "text_model.encoder.layers.0.self_attn.out_proj": "text_model_encoder_layers_0_self_attn_out_proj"},
    "text_encoder_2": {"text_model.encoder.layers.0.self_attn.k_proj": "text_model_encoder_layers_0_self_attn_k_proj",
                       "text_model.encoder.layers.1.self_attn.out_proj": "text_model_encoder_layers_1_self_attn_out_proj"},
}
KOHYA_PREFIX = {"unet": "lora_unet_", "text_encoder": "lora_te1_", "text_encoder_2": "lora_te2_"}


def kohya_lora(tmp):
    """lora.safetensors renamed as kohya-ss names SDXL LoRAs; diffusers must draw the same image."""
    from safetensors.torch import load_file, save_file
    peft = load_file(os.path.join(ROOT, "lora.safetensors"))
    state = {}
    for component, names in KOHYA_NAMES.items():
        for path, kohya in names.items():
            key = KOHYA_PREFIX[component] + kohya
            down = peft.pop(f"{component}.{path}.lora_A.weight")
            up = peft.pop(f"{component}.{path}.lora_B.weight")
            rank = down.shape[0]
            state[key + ".lora_down.weight"] = down.to(torch.float16)
            state[key + ".lora_up.weight"] = (up * 2).to(torch.float16)  # alpha = rank / 2 halves it back
            state[key + ".alpha"] = torch.tensor(rank / 2, dtype=torch.float16)
    assert not peft, sorted(peft)
    path = os.path.join(ROOT, "lora-kohya.safetensors")
    save_file(state, path)
    with open(os.path.join(ROOT, "lora.json")) as f:
        s = json.load(f)
    pipe = load(tmp)
    pipe.load_lora_weights(path)
    pipe.fuse_lora(lora_scale=s["scale"])
    u8 = draw(pipe, s)
    expected = np.fromfile(os.path.join(ROOT, "lora.u8"), dtype=np.uint8).reshape(u8.shape)
    worst = int(np.abs(u8.astype(int) - expected.astype(int)).max())
    assert worst <= 1, f"kohya-named LoRA: diffusers' image differs from the PEFT-named one by {worst}/255"
    print(f"lora-kohya.safetensors: diffusers draws lora.u8 within {worst}/255")


def single_file(tmp):
    """The folder as one SGM-layout file; diffusers' from_single_file must give the folder's weights."""
    from safetensors.torch import load_file, save_file
    configs = {c: json.load(open(os.path.join(FOLDER, c, "config.json"))) for c in
               ("unet", "vae", "text_encoder", "text_encoder_2")}
    weights = {c: load_file(os.path.join(FOLDER, c, "diffusion_pytorch_model.safetensors" if c in ("unet", "vae")
                                         else "model.safetensors")) for c in configs}
    tensors = sdxl_to_ldm(weights["unet"], weights["vae"], weights["text_encoder"], weights["text_encoder_2"], configs)
    # SGM's DiscreteDenoiser keeps its sigmas as a buffer in some published files.
    tensors["denoiser.sigmas"] = torch.linspace(0.03, 14.6, 1000, dtype=torch.float32)
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    path = os.path.join(ROOT, "tiny-sdxl.safetensors")
    save_file(tensors, path, metadata={"format": "pt"})
    print(f"tiny-sdxl.safetensors: {len(tensors)} tensors, {os.path.getsize(path) / 1e6:.2f} MB")
    verify_single_file(path, tmp)
    f32 = os.path.join(tmp, "tiny-sdxl-f32.safetensors")
    save_file({k: v.float() if v.dtype == torch.float16 else v for k, v in tensors.items()}, f32)
    verify_single_file(f32, tmp)
    changed = dict(tensors)
    key = "conditioner.embedders.1.model.text_projection"
    changed[key] = changed[key].clone()
    changed[key][0, 0] += 1
    bad = os.path.join(tmp, "tiny-sdxl-changed.safetensors")
    save_file(changed, bad)
    try:
        verify_single_file(bad, tmp)
    except AssertionError as error:
        print(f"  negative control caught: {error}")
    else:
        raise AssertionError("a changed projection went unnoticed")


def verify_single_file(path, tmp):
    reference = load(tmp)
    loaded = StableDiffusionXLPipeline.from_single_file(path, config=reference.config._name_or_path,
                                                        local_files_only=True, torch_dtype=torch.float32)
    for component in ("unet", "vae", "text_encoder", "text_encoder_2"):
        want = getattr(reference, component).state_dict()
        got = getattr(loaded, component).state_dict()
        assert set(want) == set(got), (component, sorted(set(want) ^ set(got))[:10])
        for key, value in want.items():
            if not torch.equal(value, got[key]):
                raise AssertionError(f"{os.path.basename(path)}: {component}.{key} differs")
    assert dict(reference.scheduler.config) == dict(loaded.scheduler.config), "scheduler config differs"
    print(f"  diffusers from_single_file({os.path.basename(path)}) == folder: unet, vae, both text encoders, scheduler")


IMG2IMG = [
    dict(scheduler="default", strength=0.6, count=1, steps=10, seed=11, guidance=5.0,
         prompt="a red circle on a blue background", negative="asymmetric, watermarks"),
    dict(scheduler="euler_a", strength=0.3, count=2, steps=10, seed=12, guidance=6.0, prompt="two kites", negative=""),
    dict(scheduler="dpm++2m", strength=1.0, count=1, steps=5, seed=13, guidance=0.0, prompt="no guidance", negative="x"),
]


def img2img(tmp):
    from PIL import Image
    from diffusers import StableDiffusionXLImg2ImgPipeline
    pipe = StableDiffusionXLImg2ImgPipeline(**load(tmp).components)
    pipe.set_progress_bar_config(disable=True)
    init = Image.open(os.path.join(os.path.dirname(MODELS), "img2img", "init.png")).convert("RGB")
    base = pipe.scheduler
    records = []
    for i, s in enumerate(IMG2IMG):
        pipe.scheduler = base if s["scheduler"] == "default" else SCHEDULERS[s["scheduler"]].from_config(base.config)
        out = pipe(s["prompt"], image=init, strength=s["strength"], negative_prompt=s["negative"] or None,
                   num_inference_steps=s["steps"], guidance_scale=s["guidance"], num_images_per_prompt=s["count"],
                   generator=torch.Generator("cpu").manual_seed(s["seed"]), output_type="np").images
        u8 = (out * 255).round().astype("uint8")
        name = f"img2img{i}.u8"
        u8.tofile(os.path.join(ROOT, name))
        records.append({**s, "file": name, "shape": list(u8.shape)})
        print(name, type(pipe.scheduler).__name__, s["strength"])
    with open(os.path.join(ROOT, "img2img.json"), "w") as f:
        json.dump(records, f, indent=2)


def taesd(tmp):
    from diffusers import AutoencoderTiny
    tiny = AutoencoderTiny.from_pretrained(os.path.join(os.path.dirname(MODELS), "tiny-autoencoder", "diffusers"),
                                           torch_dtype=torch.float32)
    components = load(tmp).components
    components["vae"] = tiny
    pipe = StableDiffusionXLPipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    s = dict(steps=4, guidance=5.0, seed=21, prompt="a red circle on a blue background", negative="asymmetric",
             width=64, height=64)
    u8 = draw(pipe, s)
    write_case("taesd", s, u8)


def main():
    os.makedirs(ROOT, exist_ok=True)
    save(build())
    with tempfile.TemporaryDirectory() as tmp:
        pipe = load(tmp)
        text(pipe)
        unet(pipe)
        images(pipe)
    with tempfile.TemporaryDirectory() as tmp:
        lora(tmp)
        kohya_lora(tmp)
        single_file(tmp)
        img2img(tmp)
        taesd(tmp)


if __name__ == "__main__":
    main()
