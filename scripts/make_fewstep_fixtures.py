#!/usr/bin/env python3
"""Reference images of the few-step recipes (issue 13) from diffusers, for
Tests/EaselDiffusionTests/FewStepParityTests.swift and scripts/check_generate_cli.py.

Writes Tests/EaselDiffusionTests/Fixtures/fewstep/:
- turbo-scheduler_config.json: stabilityai/sd-turbo's scheduler config (Euler, trailing).
- lcm-scheduler_config.json: SimianLuo/LCM_Dreamshaper_v7's scheduler config (LCMScheduler).
- lcm-unet/: a tiny random UNet with `time_cond_proj_dim` (LCM's guidance embedding),
  float16 on disk like make_tiny_models.py's, computed in float32 from the same values.
- cases.json + *.u8: images (uint8 RGB, [count, H, W, 3]) for each case:
  - "tiny-turbo" (tiny-sd2 with the SD-Turbo scheduler config) through StableDiffusionPipeline:
    Euler a at 1, 2 and 4 steps with guidance 0 (and 1: still no unguided pass), and the
    config's own Euler at 1 step;
  - "tiny-lcm" (tiny-sd1 with lcm-unet/ and the LCM scheduler config) through
    LatentConsistencyModelPipeline at 1, 2 and 4 steps (no negative prompt: that pipeline
    has none);
  - "tiny-sd1" through StableDiffusionPipeline with LCMScheduler (guided, the LCM-LoRA way)
    and TCDScheduler at 1, 2, 4 and 8 steps with TCD's own gamma (`eta` = 0.3, the default
    of TCDScheduler.step; the pipeline's generic eta=0 would make TCD deterministic).

Run by hand after make_tiny_models.py: python3 scripts/make_fewstep_fixtures.py
"""
import json
import os
import shutil
import sys
import tempfile

import torch
from diffusers import (EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, LatentConsistencyModelPipeline,
                       LCMScheduler, StableDiffusionPipeline, TCDScheduler, UNet2DConditionModel)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_models import OUT as MODELS, complete_folder, round_to_f16  # noqa: E402

ROOT = os.path.join(os.path.dirname(MODELS), "fewstep")

# stabilityai/sd-turbo scheduler/scheduler_config.json
TURBO_SCHEDULER = {
    "_class_name": "EulerDiscreteScheduler", "_diffusers_version": "0.24.0.dev0", "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False, "interpolation_type": "linear",
    "num_train_timesteps": 1000, "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": False,
    "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "trailing", "trained_betas": None,
    "use_karras_sigmas": False,
}
# SimianLuo/LCM_Dreamshaper_v7 scheduler/scheduler_config.json
LCM_SCHEDULER = {
    "_class_name": "LCMScheduler", "_diffusers_version": "0.22.0.dev0", "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False, "clip_sample_range": 1.0,
    "dynamic_thresholding_ratio": 0.995, "num_train_timesteps": 1000, "original_inference_steps": 50,
    "prediction_type": "epsilon", "rescale_betas_zero_snr": False, "sample_max_value": 1.0,
    "set_alpha_to_one": True, "steps_offset": 1, "thresholding": False, "timestep_scaling": 10.0,
    "timestep_spacing": "leading", "trained_betas": None,
}
TCD_ETA = 0.3


def lcm_unet():
    torch.manual_seed(21)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=[16, 32],
                                down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                                up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
                                cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8,
                                time_cond_proj_dim=12)
    return round_to_f16(unet)


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def use_scheduler(folder, config_path):
    """Gives `folder` the scheduler config at `config_path`, named in model_index.json too."""
    shutil.copy(config_path, os.path.join(folder, "scheduler", "scheduler_config.json"))
    index_path = os.path.join(folder, "model_index.json")
    index = json.load(open(index_path))
    index["scheduler"] = ["diffusers", json.load(open(config_path))["_class_name"]]
    write_json(index_path, index)


def prepare(tmp):
    """The three model folders the cases use, and their committed parts under ROOT."""
    os.makedirs(ROOT, exist_ok=True)
    write_json(os.path.join(ROOT, "turbo-scheduler_config.json"), TURBO_SCHEDULER)
    write_json(os.path.join(ROOT, "lcm-scheduler_config.json"), LCM_SCHEDULER)
    unet = lcm_unet()
    unet_dir = os.path.join(ROOT, "lcm-unet")
    shutil.rmtree(unet_dir, ignore_errors=True)
    unet.to(torch.float16).save_pretrained(unet_dir)
    unet.to(torch.float32)

    folders = {"tiny-sd1": complete_folder(os.path.join(MODELS, "tiny-sd1"), os.path.join(tmp, "tiny-sd1"))}
    turbo = complete_folder(os.path.join(MODELS, "tiny-sd2"), os.path.join(tmp, "tiny-turbo"))
    use_scheduler(turbo, os.path.join(ROOT, "turbo-scheduler_config.json"))
    folders["tiny-turbo"] = turbo
    lcm = complete_folder(os.path.join(MODELS, "tiny-sd1"), os.path.join(tmp, "tiny-lcm"))
    shutil.rmtree(os.path.join(lcm, "unet"))
    shutil.copytree(unet_dir, os.path.join(lcm, "unet"))
    use_scheduler(lcm, os.path.join(ROOT, "lcm-scheduler_config.json"))
    folders["tiny-lcm"] = lcm
    return folders


def specs():
    p = "a red circle on a blue background"
    neg = "asymmetric, watermarks"
    out = []
    for steps in (1, 2, 4):
        out.append(dict(model="tiny-turbo", scheduler="euler_a", steps=steps, guidance=0.0, count=1, seed=11 + steps,
                        prompt=p, negative=neg, width=64, height=64))
    out.append(dict(model="tiny-turbo", scheduler="euler_a", steps=2, guidance=1.0, count=2, seed=5,
                    prompt="two kites", negative=neg, width=48, height=64))
    out.append(dict(model="tiny-turbo", scheduler="default", steps=1, guidance=0.0, count=1, seed=6,
                    prompt=p, negative="", width=64, height=64))
    for steps in (1, 2, 4):
        out.append(dict(model="tiny-lcm", scheduler="default", steps=steps, guidance=8.5, count=1, seed=20 + steps,
                        prompt=p, negative="", width=64, height=64))
    out.append(dict(model="tiny-lcm", scheduler="default", steps=4, guidance=1.0, count=2, seed=30,
                    prompt="a lighthouse at dusk", negative="", width=64, height=48))
    out.append(dict(model="tiny-lcm", scheduler="lcm", steps=2, guidance=3.0, count=1, seed=31,
                    prompt="a lighthouse at dusk", negative="", width=64, height=64))
    out.append(dict(model="tiny-sd1", scheduler="lcm", steps=4, guidance=7.5, count=1, seed=40,
                    prompt=p, negative=neg, width=64, height=64))
    for steps in (1, 2, 4, 8):
        out.append(dict(model="tiny-sd1", scheduler="tcd", steps=steps, guidance=0.0, count=1, seed=50 + steps,
                        prompt=p, negative=neg, width=64, height=64))
    out.append(dict(model="tiny-sd1", scheduler="tcd", steps=4, guidance=5.0, count=2, seed=60,
                    prompt="a photo of an astronaut riding a horse", negative="", width=64, height=64))
    return out


SCHEDULERS = {
    "euler_a": EulerAncestralDiscreteScheduler,
    "lcm": LCMScheduler,
    "tcd": TCDScheduler,
}


def run(folder, s):
    if s["model"] == "tiny-lcm":
        sd = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False,
                                                     torch_dtype=torch.float32)
        pipe = LatentConsistencyModelPipeline(vae=sd.vae, text_encoder=sd.text_encoder, tokenizer=sd.tokenizer,
                                              unet=sd.unet, scheduler=sd.scheduler, safety_checker=None,
                                              feature_extractor=None, requires_safety_checker=False)
    else:
        pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False,
                                                       torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    if s["scheduler"] != "default":
        pipe.scheduler = SCHEDULERS[s["scheduler"]].from_config(pipe.scheduler.config)
    g = torch.Generator("cpu").manual_seed(s["seed"])
    kwargs = dict(num_inference_steps=s["steps"], guidance_scale=s["guidance"], num_images_per_prompt=s["count"],
                  width=s["width"], height=s["height"], generator=g, output_type="np")
    if s["model"] != "tiny-lcm":
        kwargs["negative_prompt"] = s["negative"] or None
    if s["scheduler"] == "tcd":
        kwargs["eta"] = TCD_ETA
    expected = {"euler_a": "EulerAncestralDiscreteScheduler", "lcm": "LCMScheduler", "tcd": "TCDScheduler"}.get(
        s["scheduler"], {"tiny-turbo": "EulerDiscreteScheduler", "tiny-lcm": "LCMScheduler"}.get(s["model"]))
    assert type(pipe.scheduler).__name__ == expected, (s, type(pipe.scheduler).__name__)
    return pipe(s["prompt"], **kwargs).images


def f32(name, t):
    import numpy as np
    np.ascontiguousarray(t.detach().to(torch.float32).numpy()).astype("<f4").tofile(os.path.join(ROOT, name))


def components(folder):
    """Tensors: diffusers' guidance embedding (w = 7.5, 0, 2; 12 and 7 wide), and the LCM
    UNet's output with it as `timestep_cond` at two timesteps."""
    pipe = LatentConsistencyModelPipeline
    w = torch.tensor([7.5, 0.0, 2.0])
    f32("guidance_embedding.12.f32", pipe.get_guidance_scale_embedding(None, w, embedding_dim=12))
    f32("guidance_embedding.7.f32", pipe.get_guidance_scale_embedding(None, w, embedding_dim=7))
    unet = UNet2DConditionModel.from_pretrained(os.path.join(folder, "unet"), torch_dtype=torch.float32)
    g = torch.Generator("cpu").manual_seed(77)
    latents = torch.randn([2, 4, 8, 8], generator=g)
    context = torch.randn([2, 77, 32], generator=g)
    cond = pipe.get_guidance_scale_embedding(None, torch.tensor([7.5, 7.5]), embedding_dim=12)
    f32("lcm-unet.input.latents.f32", latents)
    f32("lcm-unet.input.context.f32", context)
    with torch.no_grad():
        for t in (999, 259):
            f32(f"lcm-unet.t{t}.f32", unet(latents, t, encoder_hidden_states=context, timestep_cond=cond).sample)


def schedules():
    """timesteps.json: LCMScheduler's and TCDScheduler's timesteps for 1...8 steps, with the
    LCM config and with original_inference_steps 25 and num_train_timesteps 500."""
    out = []
    for extra in ({}, {"original_inference_steps": 25, "num_train_timesteps": 500}):
        config = {**LCM_SCHEDULER, **extra}
        for cls in (LCMScheduler, TCDScheduler):
            scheduler = cls.from_config(config)
            for steps in range(1, 9):
                scheduler.set_timesteps(steps)
                out.append({"class": cls.__name__, "config": extra, "steps": steps,
                            "timesteps": [int(t) for t in scheduler.timesteps]})
    write_json(os.path.join(ROOT, "timesteps.json"), out)


def main():
    schedules()
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        folders = prepare(tmp)
        components(folders["tiny-lcm"])
        for i, s in enumerate(specs()):
            images = run(folders[s["model"]], s)
            u8 = (images * 255).round().astype("uint8")
            name = f"case{i}.u8"
            u8.tofile(os.path.join(ROOT, name))
            records.append({**s, "file": name, "shape": list(u8.shape)})
            print(name, s["model"], s["scheduler"], s["steps"], "steps")
    write_json(os.path.join(ROOT, "cases.json"), records)


if __name__ == "__main__":
    main()
