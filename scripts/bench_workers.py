"""What `easel serve --workers N` does to throughput and latency on this machine.

For each N, a fresh data directory and a fresh `easel serve --workers N` with the bundled
model; a burst of identical Leap jobs submitted at once (same prompt, size, steps, seed); then
the jobs per minute from first submit to last finish, each job's latency (submit -> finished)
and its time in generation, and how many distinct PNGs came back (1: the same seed gave the
same image whatever ran beside it).

    python3 scripts/bench_workers.py --binary .build-bin/release/easel --workers 1 2 3 --jobs 12

With --database postgres://... each run gets a new database on that server (made with psql),
and the workers share the queue through PostgreSQL instead of the data directory's SQLite.
Queue throughput (submit -> claim -> finish) with a model that takes near no time:

    python3 scripts/bench_workers.py --binary ... --workers 1 2 4 --jobs 200 --steps 1 [--database URL]

A benchmark, not a test: run it on a quiet machine and say what else ran.
"""
import argparse
import hashlib
import os
import statistics
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from easel_process import Easel, fresh_database  # noqa: E402

BUNDLED_MODEL = "1185eeaf-da6a-56d7-859c-ef1fe41c4a9a"


def run(binary, workers, jobs, steps, size, database=None):
    easel = Easel(binary)
    store = ["--database", fresh_database(database, "easel_bench")] if database else []
    key = easel.create_key("bench", *store)
    easel.start("--workers", str(workers), "--max-queued-per-workspace", str(max(jobs, 10)), *store)
    try:
        body = {"prompt": "a red circle in the top left corner on a blue background",
                "width": size, "height": size, "steps": steps, "seed": 7}
        path = f"/api/v1/images/models/{BUNDLED_MODEL}/inferences"
        submitted = {}
        start = time.monotonic()
        for _ in range(jobs):
            status, job = easel.request("POST", path, key, body)
            if status != 201:
                raise SystemExit(f"FAILED: submit answered {status}: {job}")
            submitted[job["id"]] = time.monotonic()
        finished = {}
        entities = {}
        while len(finished) < jobs:
            # Jobs of one workspace run oldest first: look at them in order, up to the first
            # still running (so the polling itself stays light beside the workers).
            for job_id in submitted:
                if job_id in finished:
                    continue
                status, job = easel.request("GET", f"{path}/{job_id}", key)
                if job["state"] not in ("finished", "failed"):
                    break
                finished[job_id] = time.monotonic()
                entities[job_id] = job
            time.sleep(0.02)
        wall = time.monotonic() - start
        failed = [j for j in entities.values() if j["state"] != "finished"]
        if failed:
            raise SystemExit(f"FAILED: {len(failed)} jobs failed: {failed[0].get('errorReason')}")
        digests = set()
        for job in entities.values():
            with urllib.request.urlopen(job["images"][0]["uri"], timeout=30) as response:
                digests.add(hashlib.sha256(response.read()).hexdigest())
        latencies = sorted(finished[j] - submitted[j] for j in submitted)
        per_step = [e["timings"]["secondsPerStep"] for e in entities.values()
                    if (e.get("timings") or {}).get("secondsPerStep")]
        return {
            "workers": workers, "jobs": jobs, "wall": wall, "per_minute": jobs / wall * 60, "per_second": jobs / wall,
            "latency_p50": statistics.median(latencies), "latency_max": latencies[-1],
            "step_seconds": statistics.median(per_step) if per_step else float("nan"),
            "distinct_pngs": len(digests),
        }
    finally:
        easel.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the worker counts this many times")
    parser.add_argument("--database", help="a PostgreSQL server URL (a new database on it per run)")
    args = parser.parse_args()
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')} cores={os.cpu_count()}")
    print(f"{args.jobs} identical jobs ({args.size}x{args.size}, {args.steps} steps, bundled model) per run, "
          f"store: {'PostgreSQL' if args.database else 'SQLite'}; load: {os.getloadavg()}")
    print(f"{'workers':>8} {'wall s':>8} {'jobs/s':>7} {'jobs/min':>9} {'p50 latency s':>14} {'max latency s':>14} "
          f"{'s/step':>8} {'PNGs':>5}")
    for _ in range(args.rounds):
        for workers in args.workers:
            r = run(args.binary, workers, args.jobs, args.steps, args.size, args.database)
            print(f"{r['workers']:>8} {r['wall']:>8.2f} {r['per_second']:>7.2f} {r['per_minute']:>9.1f} {r['latency_p50']:>14.2f} "
                  f"{r['latency_max']:>14.2f} {r['step_seconds']:>8.4f} {r['distinct_pngs']:>5}", flush=True)


if __name__ == "__main__":
    main()
