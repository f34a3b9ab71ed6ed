#!/usr/bin/env python3
"""Acceptance of the OpenAI Images API front door with the official `openai` client.

    .venv-sdk/bin/python scripts/openai_acceptance.py --binary .build/release/easel

Starts `easel serve` on a free loopback port with a fresh data directory (the bundled model,
easel-shapes, is installed by the server itself) and drives it with the `openai` Python
client, unchanged apart from `base_url` and `api_key`: generates with `b64_json` and with
`url` (model by id and by name), lists models, and checks that a bad size, n=5, a wrong key
and an unknown model come back as the client's own error types with OpenAI-shaped bodies.
Each generation is a Leap job: it is found, finished, in Leap's list; a client that times out
(disconnects) leaves its job cancelled; SIGTERM while a generation waits answers it 503 and
keeps the job queued. Loopback only.
"""
import argparse
import base64
import io
import sys
import time
import urllib.request

from easel_process import Easel

BUNDLED_ID = "1185eeaf-da6a-56d7-859c-ef1fe41c4a9a"
BUNDLED_NAME = "easel-shapes"


def png_size(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit("FAILED: not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def expect_error(kind, call, status, param=None, code=None):
    try:
        call()
    except kind as error:
        if error.status_code != status:
            raise SystemExit(f"FAILED: {kind.__name__} with status {error.status_code}, expected {status}")
        body = error.body if isinstance(error.body, dict) else {}
        # The client hands over the "error" member of OpenAI's error body.
        for member in ("message", "type", "param", "code"):
            if member not in body:
                raise SystemExit(f"FAILED: error body has no {member}: {error.body}")
        if param is not None and body["param"] != param:
            raise SystemExit(f"FAILED: error param {body['param']!r}, expected {param!r}: {body}")
        if code is not None and body["code"] != code:
            raise SystemExit(f"FAILED: error code {body['code']!r}, expected {code!r}: {body}")
        print(f"  {kind.__name__} {status}: {body['message']}")
        return
    raise SystemExit(f"FAILED: expected {kind.__name__} ({status})")


def check_disconnect_cancels(easel, key, base_url):
    """A client that gives up (its timeout) disconnects, and that cancels its job."""
    import openai

    impatient = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=2)
    try:
        impatient.images.generate(model=BUNDLED_ID, prompt="a big white circle on a black background",
                                  size="256x256", extra_body={"steps": 150})
        raise SystemExit("FAILED: a 150-step 256x256 job finished within the client's 2 s timeout")
    except openai.APITimeoutError:
        pass
    path = f"/api/v1/images/models/{BUNDLED_ID}/inferences"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, jobs = easel.request("GET", path, key=key)
        job = next(j for j in jobs if j["prompt"] == "a big white circle on a black background")
        if job["state"] in ("finished", "failed"):
            break
        time.sleep(0.2)
    if job["state"] != "failed" or job.get("errorReason") != "cancelled":
        raise SystemExit(f"FAILED: the abandoned job ended {job['state']} ({job.get('errorReason')})")
    print("client gone after 2 s: its job ended cancelled")


def check_shutdown_keeps_the_job(binary):
    """SIGTERM while a generation waits (no workers: it stays queued): the server stops at once,
    the client gets a 503, and the job is still queued after a restart (it is durable)."""
    import json
    import threading
    import urllib.error

    easel = Easel(binary)
    key = easel.create_key("shutdown")
    easel.start("--workers", "0")
    answer = {}

    def wait_for_generation():
        request = urllib.request.Request(
            easel.base_url + "/v1/images/generations", method="POST",
            data=json.dumps({"model": BUNDLED_NAME, "prompt": "a red circle", "size": "64x64"}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer["status"] = response.status
        except urllib.error.HTTPError as error:
            answer["status"] = error.code
            answer["body"] = json.loads(error.read())

    client = threading.Thread(target=wait_for_generation)
    client.start()
    path = f"/api/v1/images/models/{BUNDLED_ID}/inferences"
    deadline = time.monotonic() + 30
    while not easel.request("GET", path, key=key)[1] and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    code = easel.stop()
    took = time.monotonic() - started
    client.join(30)
    if code != 0 or took > 10 or answer.get("status") != 503 or "error" not in answer.get("body", {}):
        raise SystemExit(f"FAILED: SIGTERM with a waiting generation: exit {code} after {took:.1f} s, client got {answer}")
    easel.start("--workers", "0")
    try:
        _, jobs = easel.request("GET", path, key=key)
        if [job["state"] for job in jobs] != ["queued"]:
            raise SystemExit(f"FAILED: after the restart the job is {jobs}")
    finally:
        easel.stop()
    print(f"SIGTERM while a generation waits: exit in {took:.1f} s, client got 503, the job is still queued")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()

    import openai

    started = time.monotonic()
    easel = Easel(args.binary)
    key = easel.create_key("openai")
    easel.start()
    try:
        base_url = f"{easel.base_url}/v1"
        client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=120)

        models = client.models.list()
        ids = [model.id for model in models.data]
        if BUNDLED_ID not in ids:
            raise SystemExit(f"FAILED: GET /v1/models has no bundled model: {ids}")
        print(f"models: {ids}")

        extra = {"steps": args.steps, "seed": 11, "negative_prompt": ""}
        result = client.images.generate(
            model=BUNDLED_ID, prompt="a yellow star in the top right corner on a purple background",
            n=2, size="64x64", response_format="b64_json", extra_body=extra)
        if len(result.data) != 2 or not isinstance(result.created, int):
            raise SystemExit(f"FAILED: b64_json answered {result}")
        for image in result.data:
            if png_size(base64.b64decode(image.b64_json)) != (64, 64):
                raise SystemExit("FAILED: b64_json image is not 64x64")
        print("b64_json: 2 images of 64x64")

        result = client.images.generate(
            model=BUNDLED_NAME, prompt="a red circle in the middle on a blue background", size="64x64",
            response_format="url", extra_body=extra)
        url = result.data[0].url
        if not url or not url.startswith(easel.base_url + "/images/"):
            raise SystemExit(f"FAILED: url answered {result}")
        with urllib.request.urlopen(url, timeout=30) as response:
            if png_size(response.read()) != (64, 64):
                raise SystemExit("FAILED: the url's image is not 64x64")
        print(f"url: {url}")

        # Ordinary jobs: both are in Leap's list, finished.
        status, jobs = easel.request("GET", f"/api/v1/images/models/{BUNDLED_ID}/inferences", key=key)
        finished = [job for job in jobs or [] if job["state"] == "finished"]
        if status != 200 or len(finished) != 2 or finished[0]["images"][0]["uri"] != url:
            raise SystemExit(f"FAILED: the generations are not Leap jobs: {status} {jobs}")
        print("both generations are finished jobs in Leap's list")

        print("errors:")
        expect_error(openai.BadRequestError, lambda: client.images.generate(
            model=BUNDLED_ID, prompt="a cat", size="30x64", extra_body=extra), 400, param="size")
        expect_error(openai.BadRequestError, lambda: client.images.generate(
            model=BUNDLED_ID, prompt="a cat", size="banana", extra_body=extra), 400, param="size")
        expect_error(openai.BadRequestError, lambda: client.images.generate(
            model=BUNDLED_ID, prompt="a cat", n=5, size="64x64", extra_body=extra), 400, param="n")
        wrong = openai.OpenAI(base_url=base_url, api_key="sk-not-an-easel-key", max_retries=0)
        expect_error(openai.AuthenticationError, lambda: wrong.images.generate(
            model=BUNDLED_ID, prompt="a cat", size="64x64"), 401, code="invalid_api_key")
        expect_error(openai.AuthenticationError, lambda: wrong.models.list(), 401, code="invalid_api_key")
        expect_error(openai.NotFoundError, lambda: client.images.generate(
            model="dall-e-3", prompt="a cat", size="64x64"), 404, param="model", code="model_not_found")
        check_disconnect_cancels(easel, key, base_url)
    finally:
        if easel.server is not None:
            code = easel.stop()
            if code != 0:
                raise SystemExit(f"FAILED: easel serve exited {code} on SIGTERM")
    check_shutdown_keeps_the_job(args.binary)
    print(f"OPENAI ACCEPTANCE OK in {time.monotonic() - started:.1f} s (openai {openai.__version__}, data dir {easel.data_dir})")


if __name__ == "__main__":
    sys.exit(main())
