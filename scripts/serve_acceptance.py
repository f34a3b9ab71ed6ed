#!/usr/bin/env python3
"""Acceptance of the real `easel serve` process with the official Leap client.

    .venv-sdk/bin/python scripts/serve_acceptance.py --binary .build-bin/release/easel \
        [--model DIFFUSERS_FOLDER (default: the tiny SD 1 fixture)] [--size 64] [--steps 4]

Creates two workspaces' keys and installs the model with the CLI (on a fresh data
directory), starts `easel serve` on a free loopback port, waits for GET /health, runs
scripts/sdk_acceptance.py (create, poll, download, list, delete, isolation, models),
checks `easel keys`/`easel models` work while the server runs, then sends SIGTERM and
expects a clean exit. Needs the real engine (the jobs must finish) and a small model.
"""
import argparse
import os
import subprocess
import sys

from easel_process import TINY_SD1, Easel

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--model", default=TINY_SD1, help="a small diffusers folder (default: the tiny SD 1 fixture)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()

    easel = Easel(args.binary)
    key = easel.create_key("alpha")
    other = easel.create_key("beta")
    model_id = easel.add_model(args.model, "tiny")
    easel.start()
    try:
        # Keys and models made while the server runs are seen at once.
        late_key = easel.create_key("gamma")
        status, _ = easel.request("GET", "/api/v2/images/models", key=late_key)
        if status != 200:
            raise SystemExit(f"FAILED: a key created while serving answered {status}")
        result = subprocess.run(
            [sys.executable, os.path.join(HERE, "sdk_acceptance.py"), "--base-url", easel.base_url, "--key", key,
             "--other-key", other, "--model-id", model_id, "--size", str(args.size), "--steps", str(args.steps)],
            timeout=1800)
        if result.returncode != 0:
            raise SystemExit("FAILED: sdk_acceptance.py against the real binary")
    finally:
        if easel.server is not None:
            code = easel.stop()
            if code != 0:
                raise SystemExit(f"FAILED: easel serve exited {code} on SIGTERM")
    print(f"SERVE ACCEPTANCE OK (data dir {easel.data_dir})")


if __name__ == "__main__":
    main()
