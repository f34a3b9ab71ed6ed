#!/usr/bin/env python3
"""Writes Tests/EaselDiffusionTests/Fixtures/schedulers/*.json: full denoising runs of
diffusers' schedulers, for the scheduler parity tests.

Each run is what StableDiffusionPipeline's loop does, with a fake model Swift can compute
identically in float32:

    generator = torch.Generator("cpu").manual_seed(seed)
    latents = torch.randn(shape, generator=generator) * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        before = latents
        x = scheduler.scale_model_input(latents, t)
        model_output = x * 0.9 + c(t)      # c(t) = float32(0.1 * sin(float(t) / 100))
        latents = scheduler.step(model_output, t, latents, generator=generator).prev_sample

(`generator` is passed only to schedulers whose `step` takes one, as the pipeline does;
DDIM gets eta=0.) The scheduler is built as Easel builds it: the model's scheduler_config
(given here as the JSON text a model folder would hold), then either the class it names
or a scheduler chosen by name via `from_config` (see SCHEDULERS_BY_NAME).

Recorded: the config text, the name (null = the config's own class), the step count,
seed and latent shape, timesteps, sigmas (where the scheduler has them), init_noise_sigma,
the initial latents, and per step the timestep, the model input (only for schedulers whose
scale_model_input is not the identity) and prev_sample. Tensors are float32 little-endian
in base64. Run by hand: python3 scripts/make_scheduler_fixtures.py; outputs are committed.
"""
import base64
import inspect
import json
import math
import os

import numpy as np
import torch
import diffusers
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, PNDMScheduler)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "EaselDiffusionTests",
                   "Fixtures", "schedulers")
CLASSES = {c.__name__: c for c in [PNDMScheduler, DDIMScheduler, EulerDiscreteScheduler,
                                   EulerAncestralDiscreteScheduler, DPMSolverMultistepScheduler]}
# How Easel's SchedulerName builds each named scheduler from a model's configuration.
SCHEDULERS_BY_NAME = {
    "pndm": lambda cfg: PNDMScheduler.from_config(cfg),
    "ddim": lambda cfg: DDIMScheduler.from_config(cfg),
    "euler": lambda cfg: EulerDiscreteScheduler.from_config(cfg),
    "euler_a": lambda cfg: EulerAncestralDiscreteScheduler.from_config(cfg),
    "dpm++2m": lambda cfg: DPMSolverMultistepScheduler.from_config(
        cfg, algorithm_type="dpmsolver++", solver_order=2, use_karras_sigmas=False),
    "dpm++2m-karras": lambda cfg: DPMSolverMultistepScheduler.from_config(
        cfg, algorithm_type="dpmsolver++", solver_order=2, use_karras_sigmas=True, use_exponential_sigmas=False),
}
ALL_NAMES = list(SCHEDULERS_BY_NAME)

# runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json
SD15 = {
    "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
    "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None,
    "clip_sample": False,
}
# stabilityai/stable-diffusion-2-1 (768-v) scheduler/scheduler_config.json
SD2V = {
    "_class_name": "DDIMScheduler", "_diffusers_version": "0.8.0", "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False,
    "num_train_timesteps": 1000, "prediction_type": "v_prediction", "set_alpha_to_one": False,
    "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None,
}


def with_(base, **changes):
    d = dict(base)
    d.update(changes)
    return d


# (group, config, names (None = the config's class), step counts, latent shape)
RUNS = [
    ("sd15", SD15, [None] + ALL_NAMES, [1, 2, 3, 5, 10, 25, 50], [1, 4, 5, 3]),
    ("sd2v", SD2V, [None] + ALL_NAMES[:1] + ALL_NAMES[2:], [1, 3, 10, 25], [1, 4, 5, 3]),
    ("sd2v-trailing", with_(SD2V, timestep_spacing="trailing"), ALL_NAMES, [1, 3, 7, 16, 30], [1, 4, 5, 3]),
    ("sd2v-linspace", with_(SD2V, timestep_spacing="linspace"), ALL_NAMES, [1, 3, 7, 16], [1, 4, 5, 3]),
    ("euler_a-batch", SD15, ["euler_a"], [10], [2, 4, 8, 8]),
    # Options beyond the shipped configs, each through the class it belongs to.
    ("ddim-cosine-clip-sample", {"_class_name": "DDIMScheduler", "beta_schedule": "squaredcos_cap_v2",
                                 "clip_sample": True, "clip_sample_range": 0.5, "set_alpha_to_one": True,
                                 "prediction_type": "sample"}, [None], [4, 13], [1, 4, 5, 3]),
    ("ddim-zero-snr", {"_class_name": "DDIMScheduler", "beta_schedule": "linear", "rescale_betas_zero_snr": True,
                       "timestep_spacing": "trailing", "prediction_type": "v_prediction", "clip_sample": False},
     [None], [4, 13], [1, 4, 5, 3]),
    ("ddim-defaults", {"_class_name": "DDIMScheduler"}, [None], [4, 13], [1, 4, 5, 3]),
    ("pndm-prk", with_(SD15, skip_prk_steps=False), [None], [5, 10], [1, 4, 5, 3]),
    ("pndm-v", with_(SD2V, _class_name="PNDMScheduler"), [None], [4, 13], [1, 4, 5, 3]),
    ("euler-karras", with_(SD15, _class_name="EulerDiscreteScheduler", use_karras_sigmas=True), [None],
     [4, 13, 30], [1, 4, 5, 3]),
    ("euler-exponential", with_(SD15, _class_name="EulerDiscreteScheduler", use_exponential_sigmas=True), [None],
     [4, 13], [1, 4, 5, 3]),
    ("euler-log-linear", with_(SD15, _class_name="EulerDiscreteScheduler", interpolation_type="log_linear"), [None],
     [4, 13], [1, 4, 5, 3]),
    ("euler-continuous-v", with_(SD2V, _class_name="EulerDiscreteScheduler", timestep_type="continuous"), [None],
     [4, 13], [1, 4, 5, 3]),
    ("euler-leading-sigma-min", with_(SD15, _class_name="EulerDiscreteScheduler", timestep_spacing="leading",
                                      final_sigmas_type="sigma_min"), [None], [4, 13], [1, 4, 5, 3]),
    ("euler-zero-snr", with_(SD2V, _class_name="EulerDiscreteScheduler", rescale_betas_zero_snr=True,
                             timestep_spacing="trailing"), [None], [4, 13], [1, 4, 5, 3]),
    ("euler_a-leading", with_(SD15, _class_name="EulerAncestralDiscreteScheduler", timestep_spacing="leading"),
     [None], [4, 13], [1, 4, 5, 3]),
    ("euler_a-zero-snr-v", with_(SD2V, _class_name="EulerAncestralDiscreteScheduler", rescale_betas_zero_snr=True,
                                 timestep_spacing="trailing"), [None], [4, 13], [1, 4, 5, 3]),
    ("dpm-order3", with_(SD15, _class_name="DPMSolverMultistepScheduler", solver_order=3), [None],
     [4, 13, 20], [1, 4, 5, 3]),
    ("dpm-sigma-min", with_(SD15, _class_name="DPMSolverMultistepScheduler", final_sigmas_type="sigma_min",
                            lower_order_final=False), [None], [4, 20], [1, 4, 5, 3]),
    ("dpm-euler-at-final", with_(SD15, _class_name="DPMSolverMultistepScheduler", euler_at_final=True,
                                 final_sigmas_type="sigma_min"), [None], [4, 20], [1, 4, 5, 3]),
    ("dpm-heun", with_(SD2V, _class_name="DPMSolverMultistepScheduler", solver_type="heun"), [None],
     [4, 13], [1, 4, 5, 3]),
    ("dpm-dpmsolver", with_(SD15, _class_name="DPMSolverMultistepScheduler", algorithm_type="dpmsolver",
                            final_sigmas_type="sigma_min", solver_order=3), [None], [4, 13, 20], [1, 4, 5, 3]),
    ("dpm-dpmsolver-v-heun", with_(SD2V, _class_name="DPMSolverMultistepScheduler", algorithm_type="dpmsolver",
                                   final_sigmas_type="sigma_min", solver_type="heun"), [None], [4, 13], [1, 4, 5, 3]),
    ("dpm-leading-lambda", with_(SD15, _class_name="DPMSolverMultistepScheduler", timestep_spacing="leading",
                                 lambda_min_clipped=-5.1), [None], [4, 13], [1, 4, 5, 3]),
    ("dpm-karras-trained-betas", {"_class_name": "DPMSolverMultistepScheduler", "use_karras_sigmas": True,
                                  "trained_betas": [float(b) for b in np.linspace(0.0001, 0.03, 500)],
                                  "num_train_timesteps": 500, "prediction_type": "sample"},
     [None], [4, 13], [1, 4, 5, 3]),
    ("dpm-exponential", with_(SD15, _class_name="DPMSolverMultistepScheduler", use_exponential_sigmas=True),
     [None], [4, 13], [1, 4, 5, 3]),
    # A config as diffusers itself saves one: every key, including the non-JSON -Infinity.
    ("dpm-saved", "SAVED_DPM", [None, "dpm++2m-karras"], [7], [1, 4, 5, 3]),
]


def b64(t):
    return base64.b64encode(np.ascontiguousarray(t.detach().numpy().astype("<f4")).tobytes()).decode()


def fake_model(x, t):
    c = float(np.float32(0.1 * math.sin(float(t) / 100.0)))
    return x * 0.9 + c


def run(config_text, name, steps, seed, shape):
    config = json.loads(config_text.replace("-Infinity", '"-inf"'))
    if config.get("lambda_min_clipped") == "-inf":
        config["lambda_min_clipped"] = -math.inf
    if name is None:
        cls = CLASSES[config["_class_name"]]
        scheduler = cls.from_config(config)
    else:
        scheduler = SCHEDULERS_BY_NAME[name](config)
    scheduler.set_timesteps(steps)
    takes_generator = "generator" in inspect.signature(scheduler.step).parameters
    takes_eta = "eta" in inspect.signature(scheduler.step).parameters
    generator = torch.Generator("cpu").manual_seed(seed)
    latents = torch.randn(shape, generator=generator, dtype=torch.float32) * scheduler.init_noise_sigma
    record = {
        "config": config_text, "name": name, "className": type(scheduler).__name__, "steps": steps,
        "seed": seed, "shape": shape,
        "timesteps": [float(t) for t in scheduler.timesteps.tolist()],
        "sigmas": [float(s) for s in scheduler.sigmas.tolist()] if hasattr(scheduler, "sigmas") and not isinstance(scheduler, (PNDMScheduler, DDIMScheduler)) else None,
        "initNoiseSigma": float(scheduler.init_noise_sigma),
        "initialLatents": b64(latents),
        "trace": [],
    }
    identity_scaling = isinstance(scheduler, (PNDMScheduler, DDIMScheduler, DPMSolverMultistepScheduler))
    for t in scheduler.timesteps:
        before = latents
        x = scheduler.scale_model_input(latents, t)
        out = fake_model(x, t)
        kwargs = {}
        if takes_generator:
            kwargs["generator"] = generator
        if takes_eta:
            kwargs["eta"] = 0.0
        latents = scheduler.step(out, t, latents, **kwargs).prev_sample
        step = {"t": float(t), "prev": b64(latents)}
        if not identity_scaling:
            step["input"] = b64(x)
        else:
            assert torch.equal(x, before)
        record["trace"].append(step)
    return record


def saved_dpm_config():
    s = DPMSolverMultistepScheduler.from_config(SD15)
    return s.to_json_string()


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.endswith(".json"):
            os.remove(os.path.join(OUT, old))
    total = 0
    index = []
    for group, config, names, step_counts, shape in RUNS:
        config_text = saved_dpm_config() if config == "SAVED_DPM" else json.dumps(config, indent=2)
        if config == "SAVED_DPM":
            assert "-Infinity" in config_text
        records = []
        for name in names:
            for steps in step_counts:
                records.append(run(config_text, name, steps, seed=len(records) + 7, shape=shape))
        path = os.path.join(OUT, f"{group}.json")
        with open(path, "w") as f:
            json.dump({"group": group, "diffusers": diffusers.__version__, "torch": torch.__version__,
                       "runs": records}, f, separators=(",", ":"))
        size = os.path.getsize(path)
        total += size
        index.append(f"{group}.json")
        print(f"{group}: {len(records)} runs, {size} bytes")
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
