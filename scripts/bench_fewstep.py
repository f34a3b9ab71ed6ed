#!/usr/bin/env python3
"""Seconds per image with the few-step recipes (issue 13): whole `easel generate` processes beside
the same generation in diffusers, each a fresh process, alternating, on random full-size weights.

    python3 scripts/bench_fewstep.py make  DIR      # sd21-base/, sd15-lcm/ and taesd/ under DIR (once)
    python3 scripts/bench_fewstep.py bench DIR --binary .build/release/easel [--reps 3]

Cases (512x512, the same prompt and seed on both sides):
- turbo: the SD 2.1-base architecture with SD-Turbo's scheduler config, 1 step, guidance 0,
  Euler a (trailing spacing from the config), decoded by a full-size AutoencoderTiny (TAESD);
  turbo-bf16 the same with `--precision bf16` on Easel's side (diffusers float32);
- lcm: the SD 1.5 architecture with an LCM UNet (time_cond_proj_dim 256, LCM_Dreamshaper_v7's
  scheduler config), 4 steps, guidance 8.5, through LatentConsistencyModelPipeline, VAE decode;
- preview: Easel's turbo-like run at 4 steps with and without `--preview` (a preview after every
  step but the last, through the tiny autoencoder): the previews' cost.
Reported: median wall time per process (load included: what a user waits for), the ratio, and
Easel's own per-stage times. Needs torch and diffusers; run it on a quiet machine.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

PROMPT, NEGATIVE, SEED = "a photo of an astronaut riding a horse on mars", "asymmetric, watermarks", 4523184

SD21_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=[320, 640, 1280, 1280],
                 down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
                 up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
                 cross_attention_dim=1024, attention_head_dim=[5, 10, 20, 20], use_linear_projection=True)


def make(root):
    import torch
    from diffusers import (AutoencoderKL, AutoencoderTiny, EulerDiscreteScheduler, LCMScheduler,
                           StableDiffusionPipeline, UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    from bench_sd15 import SD15_UNET, SD15_VAE
    from make_fewstep_fixtures import LCM_SCHEDULER, TURBO_SCHEDULER
    torch.manual_seed(0)
    clip_dir = os.path.join(HERE, "..", "Sources", "EaselDiffusion", "Resources", "clip")

    def tokenizer(pad):
        tok = CLIPTokenizer(os.path.join(clip_dir, "vocab.json"), os.path.join(clip_dir, "merges.txt"), pad_token=pad)
        tok.model_max_length = 77
        return tok

    sd21 = os.path.join(root, "sd21-base")
    if not os.path.exists(sd21):
        text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=1024, intermediate_size=4096,
                                            num_hidden_layers=23, num_attention_heads=16, max_position_embeddings=77,
                                            hidden_act="gelu", projection_dim=512))
        pipe = StableDiffusionPipeline(vae=AutoencoderKL(**SD15_VAE), text_encoder=text, tokenizer=tokenizer("!"),
                                       unet=UNet2DConditionModel(**SD21_UNET),
                                       scheduler=EulerDiscreteScheduler.from_config(TURBO_SCHEDULER),
                                       safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        pipe.to(torch.float16).save_pretrained(sd21)
        print("wrote", sd21)
    lcm = os.path.join(root, "sd15-lcm")
    if not os.path.exists(lcm):
        text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                                            num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
                                            hidden_act="quick_gelu", projection_dim=768))
        pipe = StableDiffusionPipeline(vae=AutoencoderKL(**SD15_VAE), text_encoder=text,
                                       tokenizer=tokenizer("<|endoftext|>"),
                                       unet=UNet2DConditionModel(**SD15_UNET, time_cond_proj_dim=256),
                                       scheduler=LCMScheduler.from_config(LCM_SCHEDULER),
                                       safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        pipe.to(torch.float16).save_pretrained(lcm)
        print("wrote", lcm)
    taesd = os.path.join(root, "taesd")
    if not os.path.exists(taesd):
        AutoencoderTiny().to(torch.float16).save_pretrained(taesd)  # TAESD's own architecture
        print("wrote", taesd)


def torch_run(root, case, steps):
    """One generation in diffusers (this process); prints its wall times as JSON."""
    t0 = time.perf_counter()
    import torch
    from diffusers import (AutoencoderTiny, EulerAncestralDiscreteScheduler, LatentConsistencyModelPipeline,
                           StableDiffusionPipeline)
    if case == "turbo":
        pipe = StableDiffusionPipeline.from_pretrained(os.path.join(root, "sd21-base"), torch_dtype=torch.float32,
                                                       safety_checker=None, requires_safety_checker=False)
        pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
        pipe.vae = AutoencoderTiny.from_pretrained(os.path.join(root, "taesd"), torch_dtype=torch.float32)
        kwargs = dict(guidance_scale=0.0, negative_prompt=NEGATIVE)
    else:
        sd = StableDiffusionPipeline.from_pretrained(os.path.join(root, "sd15-lcm"), torch_dtype=torch.float32,
                                                     safety_checker=None, requires_safety_checker=False)
        pipe = LatentConsistencyModelPipeline(vae=sd.vae, text_encoder=sd.text_encoder, tokenizer=sd.tokenizer,
                                              unet=sd.unet, scheduler=sd.scheduler, safety_checker=None,
                                              feature_extractor=None, requires_safety_checker=False)
        kwargs = dict(guidance_scale=8.5)
    pipe.set_progress_bar_config(disable=True)
    loaded = time.perf_counter()
    with torch.inference_mode():
        image = pipe(PROMPT, num_inference_steps=steps, width=512, height=512,
                     generator=torch.Generator("cpu").manual_seed(SEED), **kwargs).images[0]
    image.save(f"/tmp/bench-fewstep-torch-{case}.png")
    done = time.perf_counter()
    print(json.dumps({"load_s": loaded - t0, "generate_s": done - loaded, "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))


def run(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r.stdout, r.stderr, time.perf_counter() - t


def easel_cmd(binary, root, case, steps, preview=False):
    if case == "lcm":
        cmd = [binary, "generate", "--model", os.path.join(root, "sd15-lcm"), "--steps", str(steps), "--guidance", "8.5"]
    else:
        cmd = [binary, "generate", "--model", os.path.join(root, "sd21-base"), "--steps", str(steps), "--guidance", "0",
               "--scheduler", "euler_a", "--tiny-autoencoder", os.path.join(root, "taesd")]
    cmd += ["--prompt", PROMPT, "--negative-prompt", NEGATIVE, "--seed", str(SEED), "--width", "512", "--height", "512",
            "-o", f"/tmp/bench-fewstep-easel-{case}.png"]
    if preview:
        cmd += ["--preview", f"/tmp/bench-fewstep-preview-{case}.png"]
    if case == "turbo-bf16":
        cmd += ["--precision", "bf16"]
    return cmd


def stages(out):
    m = re.search(r"load ([\d.]+)s · text encoder ([\d.]+)s · (\d+) steps ([\d.]+)s \(([\d.]+)s/step\) · VAE decode ([\d.]+)s", out)
    return {"load": float(m[1]), "text": float(m[2]), "steps": float(m[4]), "decode": float(m[6])} if m else {}


CASES = (("turbo", 1), ("turbo-bf16", 1), ("lcm", 4))


def bench(root, binary, reps, cases, previews):
    import torch
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', 'unset')}")
    for case, steps in CASES:
        if case not in cases:
            continue
        walls = {"easel": [], "diffusers": []}
        detail = {"easel": [], "diffusers": []}
        for _ in range(reps):
            _, err, wall = run(easel_cmd(binary, root, case, steps))
            walls["easel"].append(wall)
            detail["easel"].append(stages(err))
            torch_case = "turbo" if case == "turbo-bf16" else case  # diffusers float32 either way
            out, _, wall = run([sys.executable, __file__, "torch-run", root, "--case", torch_case, "--steps", str(steps)])
            walls["diffusers"].append(wall)
            detail["diffusers"].append(json.loads(out.strip().splitlines()[-1]))
        e, d = statistics.median(walls["easel"]), statistics.median(walls["diffusers"])
        print(f"{case} {steps} step(s) 512x512: easel {e:.2f} s, diffusers {d:.2f} s, ratio {d / e:.2f}x "
              f"(walls easel {[round(w, 2) for w in walls['easel']]}, diffusers {[round(w, 2) for w in walls['diffusers']]})")
        print(f"  easel stages: {detail['easel'][len(detail['easel']) // 2]}")
        print(f"  diffusers: {detail['diffusers'][len(detail['diffusers']) // 2]}")
    if not previews:
        return
    plain, previewed = [], []
    for _ in range(reps):
        plain.append(stages(run(easel_cmd(binary, root, "turbo", 4))[1])["steps"])
        previewed.append(stages(run(easel_cmd(binary, root, "turbo", 4, preview=True))[1])["steps"])
    p, q = statistics.median(plain), statistics.median(previewed)
    print(f"previews (turbo, 4 steps, a tiny-autoencoder preview after steps 1-3): denoising {p:.2f} s without, "
          f"{q:.2f} s with: +{100 * (q - p) / p:.1f}% (every step; the service previews every max(1, steps/10))")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["make", "bench", "torch-run"])
    ap.add_argument("root")
    ap.add_argument("--binary")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--case", choices=["turbo", "lcm"])
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--cases", nargs="+", default=[c for c, _ in CASES], help="bench only these cases")
    ap.add_argument("--no-previews", action="store_true", help="skip the preview-overhead measurement")
    a = ap.parse_args()
    if a.what == "make":
        make(a.root)
    elif a.what == "torch-run":
        torch_run(a.root, a.case, a.steps)
    else:
        bench(a.root, os.path.abspath(a.binary), a.reps, a.cases, not a.no_previews)


if __name__ == "__main__":
    main()
