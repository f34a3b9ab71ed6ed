#!/usr/bin/env python3
"""Writes Tests/EaselDiffusionTests/Fixtures/random/randn.json: what
`torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))` gives, for the
TorchRandom parity tests.

Each case is one seed and a list of successive draws from one generator (so the cached
Box-Muller value of the scalar path and the stream position carry over between draws, as
they do when an ancestral scheduler draws per-step noise after the initial latents).
Small draws (<= 256 values) are stored whole; larger ones as the first 64, the last 64 and
64 evenly spaced values, plus the float64 sum and sum of squares of all values (summed in
order). Values are float32 written as the shortest decimal that reads back to the same float.

PyTorch's Box-Muller kernel for 16+ values depends on the CPU capability it dispatches to,
so the cases are made twice, in child processes pinned with ATEN_CPU_CAPABILITY: "avx2"
(what torch computes on any AVX2/AVX-512 x86-64 CPU; TorchRandom's `.vectorized` kernel)
and "default" (the portable scalar kernel; TorchRandom's `.portable`), the latter on fewer
cases.

Run by hand (python3 scripts/make_random_fixtures.py); the output is committed.
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch

SEEDS = [0, 1, 42, 4523184, 2**32 + 5, 2**63 + 12345, 2**64 - 1]
SINGLE_SHAPES = [[1, 4, 64, 64], [3, 4, 8, 8], [1, 4, 9, 7], [5], [17], [2, 3], [1, 4, 96, 64],
                 [16], [15], [1], [31], [2, 4, 3, 5]]
# Successive draws from one generator: latents, then per-step noise of the same shape, with
# small (scalar path) draws in between to carry the cached normal across calls.
SEQUENCES = [
    [[1, 4, 9, 7], [1, 4, 9, 7], [1, 4, 9, 7]],
    [[5], [3], [1, 4, 8, 8], [1], [17], [2, 3]],
    [[2, 4, 3, 5]] * 6,
    [[1, 4, 64, 64], [1, 4, 64, 64]],
]


def floats(values):
    return [float(v) for v in np.asarray(values, dtype=np.float32).ravel()]


def record(tensor):
    flat = tensor.detach().numpy().astype(np.float32).ravel()
    entry = {"shape": list(tensor.shape), "count": int(flat.size)}
    as64 = flat.astype(np.float64)
    total = 0.0
    squares = 0.0
    for v in as64.tolist():
        total += v
        squares += v * v
    entry["sum"] = total
    entry["sumOfSquares"] = squares
    if flat.size <= 256:
        entry["indices"] = list(range(flat.size))
        entry["values"] = floats(flat)
    else:
        stride = flat.size // 64
        idx = list(range(64)) + [i * stride + stride // 2 for i in range(64)] + list(range(flat.size - 64, flat.size))
        entry["indices"] = idx
        entry["values"] = floats(flat[idx])
    return entry


def make_cases(full):
    cases = []
    seeds = SEEDS if full else SEEDS[:3]
    for seed in seeds:
        for shape in SINGLE_SHAPES:
            g = torch.Generator("cpu").manual_seed(seed)
            cases.append({"seed": str(seed), "draws": [record(torch.randn(shape, generator=g, dtype=torch.float32))]})
    for seed in [0, 42, 4523184]:
        for seq in SEQUENCES:
            g = torch.Generator("cpu").manual_seed(seed)
            cases.append({"seed": str(seed), "draws": [record(torch.randn(s, generator=g, dtype=torch.float32)) for s in seq]})
    return cases


def child(capability):
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability)
    text = subprocess.run([sys.executable, __file__, "--child", capability], env=env,
                          check=True, capture_output=True, text=True).stdout
    return json.loads(text)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        full = sys.argv[2] == "avx2"
        print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "cases": make_cases(full)}))
        return
    out = {"torch": torch.__version__, "kernels": {"vectorized": child("avx2"), "portable": child("default")}}
    assert out["kernels"]["vectorized"]["capability"] == "AVX2", out["kernels"]["vectorized"]["capability"]
    assert out["kernels"]["portable"]["capability"] == "DEFAULT"
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "Tests", "EaselDiffusionTests", "Fixtures", "random", "randn.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    counts = {k: len(v["cases"]) for k, v in out["kernels"].items()}
    print(f"wrote {path}: {counts} cases, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
