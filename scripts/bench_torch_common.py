"""diffusers' side of the stage benchmarks (bench_sd15.py, bench_sdxl.py): one timing loop.

`time_pipeline(pipe, encode, ...)` times the prompt encoding, the guided denoising steps
(through the per-step callback) and the VAE decode of a loaded diffusers pipeline, and
prints one JSON line. `encode(pipe, prompt, negative)` is the pipeline's own encode call; it
returns the keyword arguments (prompt and pooled embeddings) the pipeline takes instead of
the prompt, so the text encoders are timed apart from the steps.
"""
import json
import resource
import time

import torch

PROMPT = "a photo of an astronaut riding a horse on mars"
NEGATIVE = "asymmetric, watermarks"
SEED = 4523184


def time_pipeline(pipe, encode, steps, size, dtype):
    pipe.set_progress_bar_config(disable=True)
    with torch.inference_mode():
        t0 = time.perf_counter()
        embeddings = encode(pipe, PROMPT, NEGATIVE)
        t_text = time.perf_counter() - t0
        step_times = []

        def on_step(p, i, t, kwargs):
            step_times.append(time.perf_counter())
            return kwargs

        g = torch.Generator("cpu").manual_seed(SEED)
        t1 = time.perf_counter()
        latents = pipe(**embeddings, num_inference_steps=steps, guidance_scale=7.0, width=size, height=size,
                       generator=g, output_type="latent", callback_on_step_end=on_step).images
        per_step = (step_times[-1] - t1) / len(step_times)
        t2 = time.perf_counter()
        pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
        t_decode = time.perf_counter() - t2
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(json.dumps({"torch": torch.__version__, "dtype": dtype, "threads": torch.get_num_threads(),
                      "text_encoder_s": t_text, "unet_step_with_guidance_s": per_step, "steps": len(step_times),
                      "vae_decode_s": t_decode, "peak_rss_gib": peak}))
