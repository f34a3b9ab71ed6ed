#!/usr/bin/env python3
"""Scale-out fault test with real processes: one PostgreSQL, two API processes, two workers.

    python3 scripts/scale_out_test.py --binary .build/release/easel \
        [--database postgres://...  (default: a throwaway cluster from scripts/test_postgres.sh)]
        [--jobs 30] [--steps 40] [--size 64] [--job-lease 4]

Every process shares one data directory and one database; the model is the bundled one
(easel-shapes, installed by the first process). Jobs (each with a webhook to a local
receiver) are submitted round-robin to both APIs. While a job runs, the worker running it is
SIGKILLed, and so is one API process. Then every job must finish exactly once (one
`processing -> finished` in all the workers' logs) with its images, readable through the
surviving API; every webhook must arrive (at least once; a redelivery keeps its
`webhook-id`), and SIGTERM must stop the survivors cleanly.
"""
import argparse
import collections
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from easel_process import REPOSITORY, Easel, free_port, fresh_database, scratch

BUNDLED_ID = "1185eeaf-da6a-56d7-859c-ef1fe41c4a9a"


class Receiver:
    """Webhook receiver on loopback: records every POST (webhook-id, job id, state)."""

    def __init__(self):
        self.received = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    job = json.loads(body)
                except ValueError:
                    job = {}
                with outer.lock:
                    outer.received.append((self.headers.get("webhook-id"), job.get("id"), job.get("state")))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def process(binary, data_dir, database, role, *extra):
    process.count = getattr(process, "count", 0) + 1
    easel = Easel(binary, data_dir=data_dir, log_prefix=f"{role}-{process.count}")
    easel.role = role
    easel.extra = ["--database", database, "--role", role, "--allow-private-webhooks", "--log-format", "json", *extra]
    return easel


def start(easel):
    easel.start(*easel.extra)
    return easel


def running_on(workers, job_id):
    """The worker whose log shows it took `job_id` last."""
    owner = None
    for worker in workers:
        for record in worker.log_records():
            if record.get("message") == "job transition" and record.get("job.id") == job_id \
                    and record.get("to") == "processing":
                owner = worker
    return owner


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--database", help="a PostgreSQL URL (default: a throwaway loopback cluster)")
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--job-lease", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    # A SIGTERM (a CI timeout) still stops every process started below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("FAILED: terminated"))
    cluster = None
    database = args.database
    if database:
        # A database of its own on that server: the model rows must match this data directory.
        database = fresh_database(database, "easel_scale")
    else:
        root = scratch("pg-")
        os.chmod(root, 0o755)
        cluster = os.path.join(root, "cluster")
        database = subprocess.run([os.path.join(REPOSITORY, "scripts/test_postgres.sh"), "start", cluster],
                                  check=True, capture_output=True, text=True).stdout.strip()
    data_dir = scratch("data-")
    receiver = Receiver()
    started = []
    try:
        keys = Easel(args.binary, data_dir=data_dir)
        key = None
        output = subprocess.run([keys.binary, "keys", "create", "--workspace", "scale", "--data-dir", data_dir,
                                 "--database", database], check=True, capture_output=True, text=True).stdout
        key = [t for t in output.split() if len(t) >= 32][0]

        # A wrong database URL stops `easel serve` at start with one clear line, within seconds:
        # a wrong password, nobody listening, a server that never answers (5 s timeout).
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        for bad, says in ((re.sub(r":[^:@/]*@", ":not-the-password@", database, count=1), "password authentication failed"),
                          (f"postgres://easel@127.0.0.1:{free_port()}/easel", "refused"),
                          (f"postgres://easel@127.0.0.1:{silent.getsockname()[1]}/easel", "no answer within")):
            began = time.monotonic()
            result = subprocess.run([keys.binary, "serve", "--port", "0", "--data-dir", data_dir, "--database", bad,
                                     "--no-bundled-model"], capture_output=True, text=True, timeout=60)
            took = time.monotonic() - began
            if result.returncode == 0 or says not in result.stderr or took > 10:
                raise SystemExit(f"FAILED: serve with a bad database URL: exit {result.returncode} after {took:.1f} s: "
                                 f"{result.stderr[-500:]}")
            print(f"bad database URL refused in {took:.2f} s: {result.stderr.strip().splitlines()[-1]}")
        silent.close()

        lease = ["--job-lease", str(args.job_lease)]
        # The first process installs the bundled model; the others find it.
        api1 = start(process(args.binary, data_dir, database, "api"))
        started.append(api1)
        api2 = start(process(args.binary, data_dir, database, "api", "--no-bundled-model"))
        started.append(api2)
        workers = [start(process(args.binary, data_dir, database, "worker", "--workers", "1",
                                 "--no-bundled-model", *lease)) for _ in range(2)]
        started += workers
        print(f"running: 2 API processes ({api1.port}, {api2.port}), 2 workers, database {database.split('@')[-1]}")

        path = f"/api/v1/images/models/{BUNDLED_ID}/inferences"
        ids = []
        for index in range(args.jobs):
            api = (api1, api2)[index % 2]
            status, job = api.request("POST", path, key=key, body={
                "prompt": f"a red circle in the center on a blue background {index}", "steps": args.steps,
                "width": args.size, "height": args.size, "seed": index, "webhookUrl": receiver.url})
            if status != 201:
                raise SystemExit(f"FAILED: submit {index} to API {api.port} answered {status}: {job}")
            ids.append(job["id"])
        print(f"submitted {len(ids)} jobs round-robin")

        # SIGKILL the worker running a job, mid-job.
        deadline = time.monotonic() + args.timeout
        victim_job = None
        while victim_job is None:
            for job_id in ids:
                _, job = api2.request("GET", f"{path}/{job_id}", key=key)
                if job["state"] == "processing" and job.get("currentStep", 0) >= 1:
                    victim_job = job_id
                    break
                if job["state"] == "failed":
                    raise SystemExit(f"FAILED: job {job_id} failed: {job.get('errorReason') or job}")
            if time.monotonic() > deadline:
                raise SystemExit("FAILED: no job started processing")
            time.sleep(0.05)
        victim = running_on(workers, victim_job)
        if victim is None:
            raise SystemExit(f"FAILED: no worker log shows job {victim_job}")
        victim.stop(signal.SIGKILL)
        started.remove(victim)
        print(f"SIGKILLed the worker running job {victim_job}")
        api1.stop(signal.SIGKILL)
        started.remove(api1)
        print("SIGKILLed API process 1")

        while True:
            states = {i: api2.request("GET", f"{path}/{i}", key=key)[1] for i in ids}
            if all(s["state"] in ("finished", "failed") for s in states.values()):
                break
            if time.monotonic() > deadline:
                pending = {i: s["state"] for i, s in states.items() if s["state"] not in ("finished", "failed")}
                raise SystemExit(f"FAILED: jobs did not end: {pending}")
            time.sleep(0.2)
        for job_id, job in states.items():
            if job["state"] != "finished":
                raise SystemExit(f"FAILED: job {job_id} {job['state']}: {job.get('errorReason')}")
            if len(job["images"]) != job["numberOfImages"]:
                raise SystemExit(f"FAILED: job {job_id} has {len(job['images'])} images")
            for image in job["images"]:
                # The URI names whichever API answered; any API serves any job's images.
                image_path = "/" + image["uri"].split("/", 3)[3]
                with urllib.request.urlopen(api2.base_url + image_path, timeout=30) as response:
                    if response.status != 200 or not response.read().startswith(b"\x89PNG"):
                        raise SystemExit(f"FAILED: image {image_path} not served by the surviving API")
        print(f"all {len(ids)} jobs finished with their images, read through the surviving API")

        finished = collections.Counter(
            r.get("job.id") for w in workers for r in w.log_records()
            if r.get("message") == "job transition" and r.get("to") == "finished")
        wrong = {i: finished[i] for i in ids if finished[i] != 1}
        if wrong:
            raise SystemExit(f"FAILED: jobs not finished exactly once: {wrong}")
        claims = [r for w in workers for r in w.log_records()
                  if r.get("message") == "job transition" and r.get("job.id") == victim_job]
        requeued = [r for r in claims if r.get("to") == "queued" and r.get("reason") == "lease expired"]
        rerun = [r for r in claims if r.get("to") == "processing" and r.get("attempt") != "1"]
        if not requeued or not rerun:
            raise SystemExit(f"FAILED: the killed worker's job was not re-queued by lease expiry and run again: {claims}")
        print(f"the killed worker's job went back to the queue when its lease ran out and finished on attempt "
              f"{rerun[-1].get('attempt')}; every job finished exactly once")

        while True:
            with receiver.lock:
                got = list(receiver.received)
            by_job = collections.defaultdict(set)
            for webhook_id, job_id, state in got:
                if state == "finished":
                    by_job[job_id].add(webhook_id)
            if all(by_job.get(i) for i in ids):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"FAILED: webhooks missing for {[i for i in ids if not by_job.get(i)]}")
            time.sleep(0.2)
        several = {i: ids_ for i, ids_ in by_job.items() if len(ids_) != 1}
        if several:
            raise SystemExit(f"FAILED: a job's webhook came with different webhook-ids: {several}")
        print(f"every webhook arrived ({len(got)} POSTs for {len(ids)} jobs, one webhook-id each)")

        for easel in list(started):
            began = time.monotonic()
            code = easel.stop(timeout=30)
            started.remove(easel)
            if code != 0:
                raise SystemExit(f"FAILED: {easel.role} process exited {code} on SIGTERM")
            print(f"{easel.role} process stopped on SIGTERM in {time.monotonic() - began:.1f} s")
        print("SCALE-OUT OK")
    finally:
        for easel in started:
            try:
                easel.stop(signal.SIGKILL, timeout=10)
            except Exception:
                pass
        receiver.server.shutdown()
        if cluster:
            subprocess.run([os.path.join(REPOSITORY, "scripts/test_postgres.sh"), "stop", cluster])


if __name__ == "__main__":
    main()
