#!/usr/bin/env python3
"""Easel beside diffusers on the full-size SD 1.5 (or SDXL base) architecture (random weights), in one run.

    python3 scripts/bench_compare.py --binary .build/release/easel [--arch sd15|sdxl] [--model DIR]
        [--size 256 512] [--steps 2] [--reps 3] [--variants easel-fp32 torch-fp32 easel-bf16 torch-bf16]

The model folder (default ~/.cache/easel-bench/<arch>, outside the repo) is made once by
`bench_sd15.py make` (`bench_sdxl.py make`). Each repetition runs every variant once,
alternating, each as a fresh process: `easel generate --precision P` (it prints its
per-stage times) and `bench_<arch>.py torch --dtype D`. SD 1.5 runs PNDM, SDXL its own Euler.
Reported per stage: the median over repetitions, the ratio to diffusers float32 (and bf16 to
diffusers bf16), achieved GFLOP/s (FLOPs counted by PyTorch's FlopCounterMode on the same
architecture), and each process's peak RSS.
Needs torch and diffusers; run it on a quiet machine and say what else was running.
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


def run(cmd):
    """Runs cmd, returns (stdout+stderr text, peak RSS GiB, wall seconds)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out[-2000:]}")
    return out, usage.ru_maxrss / 1024 / 1024, time.perf_counter() - t


def easel(binary, model, size, steps, precision, arch):
    out, rss, wall = run([binary, "generate", "--model", model, "--prompt", "a photo of an astronaut riding a horse on mars",
                          "--negative-prompt", "asymmetric, watermarks", "--steps", str(steps), "--guidance", "7",
                          "--width", str(size), "--height", str(size), "--seed", "4523184",
                          *(["--scheduler", "pndm"] if arch == "sd15" else []),
                          "--precision", precision, "-o", f"/tmp/bench-compare-{precision}.png"])
    m = re.search(r"load ([\d.]+)s · text encoder ([\d.]+)s · (\d+) steps ([\d.]+)s \(([\d.]+)s/step\) · VAE decode ([\d.]+)s", out)
    if not m:
        sys.exit(f"no timings in easel's output:\n{out[-2000:]}")
    return {"text": float(m[2]), "step": float(m[5]), "decode": float(m[6]), "rss": rss, "wall": wall}


def torch_side(model, size, steps, dtype, arch):
    out, rss, wall = run([sys.executable, os.path.join(HERE, f"bench_{arch}.py"), "torch", model, "--steps", str(steps),
                          "--size", str(size), "--dtype", dtype])
    j = json.loads(out.strip().splitlines()[-1])
    return {"text": j["text_encoder_s"], "step": j["unet_step_with_guidance_s"], "decode": j["vae_decode_s"],
            "rss": rss, "wall": wall}


def flops(size, arch):
    """FLOPs of one guided UNet step (batch 2), one VAE decode and the text encoder (2 prompts)."""
    if arch == "sdxl":
        sys.path.insert(0, HERE)
        from bench_sdxl import flops as sdxl_flops
        return sdxl_flops(size)
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    sys.path.insert(0, HERE)
    from bench_sd15 import SD15_UNET, SD15_VAE
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel
    result = {}
    with torch.device("meta"):
        unet = UNet2DConditionModel(**SD15_UNET)
        vae = AutoencoderKL(**SD15_VAE)
        text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                                            num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
                                            hidden_act="quick_gelu", projection_dim=768))
        lat = size // 8
        for name, fn in [("step", lambda: unet(torch.zeros(2, 4, lat, lat), 999, torch.zeros(2, 77, 768))),
                         ("decode", lambda: vae.decode(torch.zeros(1, 4, lat, lat))),
                         ("text", lambda: text(torch.zeros(2, 77, dtype=torch.long)))]:
            counter = FlopCounterMode(display=False)
            with counter, torch.no_grad():
                fn()
            result[name] = counter.get_total_flops()
    return result


def matmul_peaks():
    import torch
    torch.set_num_threads(os.cpu_count())
    peaks = {}
    for dtype in (torch.float32, torch.bfloat16):
        n = 4096
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        torch.mm(a, b)
        best = min((lambda t: (torch.mm(a, b), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(3))
        peaks[str(dtype).split(".")[-1]] = 2 * n ** 3 / best / 1e9
    return peaks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--arch", default="sd15", choices=["sd15", "sdxl"])
    ap.add_argument("--model")
    ap.add_argument("--size", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--variants", nargs="+", default=["easel-fp32", "torch-fp32", "easel-bf16", "torch-bf16"])
    a = ap.parse_args()
    a.model = a.model or os.path.expanduser(f"~/.cache/easel-bench/{a.arch}")
    if not os.path.exists(os.path.join(a.model, "model_index.json")):
        subprocess.run([sys.executable, os.path.join(HERE, f"bench_{a.arch}.py"), "make", a.model], check=True)
    env = {k: os.environ.get(k, "(unset)") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "EASEL_CPU")}
    print(f"cores {os.cpu_count()}, environment {env}")
    print("PyTorch mm peak GFLOP/s (n=4096): " + ", ".join(f"{k} {v:.0f}" for k, v in matmul_peaks().items()))
    for size in a.size:
        f = flops(size, a.arch)
        results = {v: [] for v in a.variants}
        for rep in range(a.reps):
            for v in a.variants:
                side, precision = v.split("-")
                if side == "easel":
                    results[v].append(easel(a.binary, a.model, size, a.steps, precision, a.arch))
                else:
                    results[v].append(torch_side(a.model, size, a.steps, {"fp32": "float32", "bf16": "bfloat16"}[precision],
                                                 a.arch))
        med = {v: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for v, rs in results.items()}
        scheduler = "PNDM" if a.arch == "sd15" else "Euler"
        print(f"\n{a.arch} {size}x{size}, {scheduler} {a.steps} steps, guidance 7, median of {a.reps} "
              "(seconds; ratio = reference / Easel)")
        print(f"{'stage':<26}" + "".join(f"{v:>14}" for v in a.variants) + f"{'GFLOP':>10}")
        for stage, label in [("text", "text encoder"), ("step", "UNet step with guidance"), ("decode", "VAE decode"),
                             ("wall", "whole process")]:
            print(f"{label:<26}" + "".join(f"{med[v][stage]:>14.3f}" for v in a.variants)
                  + (f"{f[stage] / 1e9:>10.0f}" if stage in f else ""))
        print(f"{'peak RSS GiB':<26}" + "".join(f"{med[v]['rss']:>14.2f}" for v in a.variants))
        for v in a.variants:
            side, precision = v.split("-")
            if side != "easel":
                continue
            for ref in sorted({"torch-fp32", f"torch-{precision}"}, key=lambda r: r != "torch-fp32"):
                if ref in med:
                    ratios = ", ".join(f"{s} {med[ref][s] / med[v][s]:.2f}x" for s in ("text", "step", "decode", "wall"))
                    print(f"{v} vs {ref}: {ratios}")
            print(f"{v}: UNet {f['step'] / med[v]['step'] / 1e9:.0f} GFLOP/s, VAE {f['decode'] / med[v]['decode'] / 1e9:.0f} GFLOP/s")
        for v in a.variants:
            if v.startswith("torch"):
                print(f"{v}: UNet {f['step'] / med[v]['step'] / 1e9:.0f} GFLOP/s, VAE {f['decode'] / med[v]['decode'] / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
