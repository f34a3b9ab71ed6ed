"""How long after a worker process finishes a job an API process shows it: its `/events`
stream's final state event, and a GET polled every 10 ms.

One PostgreSQL database, one `easel serve --role api`, one `easel serve --role worker`, the
bundled model; jobs run one at a time (a few steps at 64x64). Latency is measured from the
job's `finishedAt` (stamped by the worker as it commits) to the moment this script reads the
event or the GET, on the same machine's clock.

    python3 scripts/event_latency.py --binary .build/release/easel --database postgres://... [--jobs 20]

A benchmark, not a test: say what else ran.
"""
import argparse
import datetime
import http.client
import json
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from easel_process import Easel, fresh_database  # noqa: E402

BUNDLED_MODEL = "1185eeaf-da6a-56d7-859c-ef1fe41c4a9a"


def follow_events(port, path, key, seen):
    """Reads the SSE stream until the final state event; records when it arrived."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    response = connection.getresponse()
    event = None
    while True:
        line = response.fp.readline()
        if not line:
            return
        text = line.decode().rstrip("\n")
        if text.startswith("event: "):
            event = text[7:]
        elif text.startswith("data: ") and event == "state":
            if json.loads(text[6:])["state"] in ("finished", "failed"):
                seen["events"] = time.time()
                connection.close()
                return


def poll(easel, path, key, seen):
    while True:
        status, job = easel.request("GET", path, key)
        if job["state"] in ("finished", "failed"):
            seen["get"] = time.time()
            seen["job"] = job
            return
        time.sleep(0.01)


def iso_seconds(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--database", required=True, help="a PostgreSQL server URL (a new database is made on it)")
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    database = fresh_database(args.database, "easel_latency")
    api = Easel(args.binary, log_prefix="api")
    worker = Easel(args.binary, data_dir=api.data_dir, log_prefix="worker")
    key = api.create_key("bench", "--database", database)
    try:
        api.start("--role", "api", "--database", database)
        worker.start("--role", "worker", "--workers", "1", "--database", database, "--no-bundled-model")
        base = f"/api/v1/images/models/{BUNDLED_MODEL}/inferences"
        body = {"prompt": "a red circle", "width": 64, "height": 64, "steps": args.steps, "seed": 7}
        events, gets = [], []
        for _ in range(args.jobs):
            status, job = api.request("POST", base, key, body)
            if status != 201:
                raise SystemExit(f"FAILED: submit answered {status}: {job}")
            seen = {}
            threads = [
                threading.Thread(target=follow_events, args=(api.port, f"{base}/{job['id']}/events", key, seen)),
                threading.Thread(target=poll, args=(api, f"{base}/{job['id']}", key, seen)),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
            finished = iso_seconds(seen["job"]["finishedAt"])
            events.append(seen["events"] - finished)
            gets.append(seen["get"] - finished)
        print(f"{args.jobs} jobs, one at a time; load {os.getloadavg()}")
        for name, values in (("/events final state", events), ("GET every 10 ms", gets)):
            print(f"{name:>20}: p50 {statistics.median(values) * 1000:7.1f} ms  "
                  f"p99 {percentile(values, 0.99) * 1000:7.1f} ms  max {max(values) * 1000:7.1f} ms")
    finally:
        for process in (api, worker):
            if process.server is not None:
                process.stop()


if __name__ == "__main__":
    main()
