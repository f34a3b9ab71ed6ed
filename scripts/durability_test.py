#!/usr/bin/env python3
"""Durability of the real `easel serve` process: SIGKILL while a job is processing.

    python3 scripts/durability_test.py --binary .build-bin/release/easel \
        [--model DIFFUSERS_FOLDER (default: the tiny SD 1 fixture)] [--jobs 4] [--steps 150] [--size 128]

Submits several jobs, waits until one is processing (at least one step done), SIGKILLs
the server, starts it again on the same data directory, and checks that every job
submitted before the kill finishes, each exactly once (one `processing -> finished`
transition per job across both runs' logs), with its images. Then SIGTERM must exit 0.
Needs the real engine; pick --steps so a job takes a few seconds.
"""
import argparse
import collections
import signal
import time

from easel_process import TINY_SD1, Easel


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--model", default=TINY_SD1, help="a small diffusers folder (default: the tiny SD 1 fixture)")
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()

    easel = Easel(args.binary)
    key = easel.create_key("durable")
    model_id = easel.add_model(args.model, "tiny")
    path = f"/api/v1/images/models/{model_id}/inferences"
    easel.start()

    ids = []
    for index in range(args.jobs):
        status, job = easel.request("POST", path, key=key, body={
            "prompt": f"durability job {index}", "steps": args.steps, "width": args.size, "height": args.size,
            "seed": index})
        if status != 201:
            raise SystemExit(f"FAILED: submit answered {status}: {job}")
        ids.append(job["id"])

    deadline = time.monotonic() + args.timeout
    while True:
        states = [easel.request("GET", f"{path}/{i}", key=key)[1] for i in ids]
        if any(s["state"] == "processing" and s.get("currentStep", 0) >= 1 for s in states):
            break
        if all(s["state"] in ("finished", "failed") for s in states):
            raise SystemExit("FAILED: every job ended before the kill; raise --steps")
        if time.monotonic() > deadline:
            raise SystemExit("FAILED: no job started processing")
        time.sleep(0.05)
    easel.stop(signal.SIGKILL)
    print("killed the server while a job was processing")

    easel.start()
    while True:
        states = {i: easel.request("GET", f"{path}/{i}", key=key)[1] for i in ids}
        if all(s["state"] in ("finished", "failed") for s in states.values()):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"FAILED: jobs did not end after the restart: {states}")
        time.sleep(0.2)
    for job_id, job in states.items():
        if job["state"] != "finished":
            raise SystemExit(f"FAILED: job {job_id} {job['state']}: {job.get('errorReason')}")
        if len(job["images"]) != job["numberOfImages"]:
            raise SystemExit(f"FAILED: job {job_id} has {len(job['images'])} images")

    code = easel.stop()
    if code != 0:
        raise SystemExit(f"FAILED: easel serve exited {code} on SIGTERM")
    finished = collections.Counter(
        r.get("job.id") for r in easel.log_records()
        if r.get("message") == "job transition" and r.get("to") == "finished")
    twice = [i for i in ids if finished[i] != 1]
    if twice:
        raise SystemExit(f"FAILED: jobs not finished exactly once: {[(i, finished[i]) for i in twice]}")
    requeued = [r for r in easel.log_records() if r.get("message") == "job transition" and r.get("reason") == "restart"]
    print(f"re-queued on restart: {[r.get('job.id') for r in requeued]}")
    print("DURABILITY OK")


if __name__ == "__main__":
    main()
