#!/usr/bin/env python3
"""Drives an Easel server with the official Leap client, leap-python-sdk 1.1.4.

    .venv-sdk/bin/python scripts/sdk_acceptance.py --base-url http://127.0.0.1:8080 \
        --key easel_... --model-id <id> [--other-key easel_...] [--size 64] [--steps 4]

create -> poll until finished -> download each image (a PNG of the asked size) ->
list (onlyFinished, page, pageSize) -> delete -> the job and its image URIs are gone;
image_models.list_all_models / get_model. With --other-key, a second workspace's key
must not see the job. Exits 0 and prints "SDK ACCEPTANCE OK" on success.

Used by the in-process live test (EaselServerTests) and by scripts/serve_acceptance.sh
against the real `easel serve` binary.
"""
import argparse
import struct
import sys
import time
import urllib.error
import urllib.request

from leap import Leap
from leap.exceptions import ApiException

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check(condition, what):
    if not condition:
        raise SystemExit(f"FAILED: {what}")


def png_size(data):
    check(data[:8] == PNG_SIGNATURE, "image is a PNG")
    check(data[12:16] == b"IHDR", "PNG starts with IHDR")
    return struct.unpack(">II", data[16:24])


def http_status(uri):
    try:
        with urllib.request.urlopen(uri, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def expect_api_error(call, status, what):
    try:
        call()
    except ApiException as error:
        check(error.status == status, f"{what}: expected {status}, got {error.status}")
        return
    raise SystemExit(f"FAILED: {what}: expected HTTP {status}, the call succeeded")


def wait_until_finished(leap, model_id, job_id, timeout):
    deadline = time.monotonic() + timeout
    while True:
        job = leap.images.find_one(model_id=model_id, inference_id=job_id).body
        state = str(job["state"])
        check(str(job["status"]) == state, "status equals state")
        if state in ("finished", "failed"):
            check(state == "finished", f"job {job_id} finished (it {state}: {job.get('errorReason', '')})")
            return job
        check(time.monotonic() < deadline, f"job {job_id} finished within {timeout} s (still {state})")
        time.sleep(0.1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--model-id", required=True)
    parser.add_argument("--other-key")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    leap = Leap(access_token=args.key, host=args.base_url)

    models = leap.image_models.list_all_models().body["models"]
    check(any(str(m["id"]) == args.model_id for m in models), "list_all_models lists the model")
    model = leap.image_models.get_model(model_id=args.model_id).body
    check(str(model["id"]) == args.model_id, "get_model returns the model")
    expect_api_error(lambda: leap.image_models.get_model(model_id="no-such-model"), 404, "unknown model")

    created = leap.images.generate(
        model_id=args.model_id, prompt="a red bicycle leaning on a wall", negative_prompt="blurry",
        steps=args.steps, width=args.size, height=args.size, number_of_images=2, prompt_strength=7.5, seed=42,
    ).body
    job_id = str(created["id"])
    # Queued when committed; a fast worker may already have claimed it by the time it is shown.
    check(str(created["state"]) in ("queued", "processing", "finished", "failed"), "a new job has a Leap state")
    check(int(created["width"]) == args.size and int(created["seed"]) == 42, "the job echoes its parameters")

    job = wait_until_finished(leap, args.model_id, job_id, args.timeout)
    images = job["images"]
    check(len(images) == 2, "two images")
    uris = [str(image["uri"]) for image in images]
    for uri in uris:
        status, data = http_status(uri)
        check(status == 200, f"image {uri} downloads")
        check(png_size(data) == (args.size, args.size), f"image is {args.size}x{args.size}")

    second = leap.images.generate(
        model_id=args.model_id, prompt="a second job", steps=args.steps, width=args.size, height=args.size
    ).body
    second_id = str(second["id"])
    wait_until_finished(leap, args.model_id, second_id, args.timeout)

    everything = [str(j["id"]) for j in leap.images.list_all(model_id=args.model_id).body]
    check(everything[:2] == [second_id, job_id], "list_all is newest first")
    finished = [str(j["id"]) for j in leap.images.list_all(model_id=args.model_id, only_finished=True).body]
    check(job_id in finished and second_id in finished, "onlyFinished lists finished jobs")
    page1 = [str(j["id"]) for j in leap.images.list_all(model_id=args.model_id, page=1, page_size=1).body]
    page2 = [str(j["id"]) for j in leap.images.list_all(model_id=args.model_id, page=2, page_size=1).body]
    check(page1 == [second_id] and page2 == [job_id], "page and pageSize")

    if args.other_key:
        other = Leap(access_token=args.other_key, host=args.base_url)
        expect_api_error(
            lambda: other.images.find_one(model_id=args.model_id, inference_id=job_id), 404, "other workspace get")
        check(job_id not in [str(j["id"]) for j in other.images.list_all(model_id=args.model_id).body],
              "other workspace list")
        expect_api_error(
            lambda: other.images.delete(model_id=args.model_id, inference_id=job_id), 404, "other workspace delete")

    leap.images.delete(model_id=args.model_id, inference_id=job_id)
    expect_api_error(lambda: leap.images.find_one(model_id=args.model_id, inference_id=job_id), 404, "deleted job")
    for uri in uris:
        check(http_status(uri)[0] == 404, f"deleted image {uri} answers 404")
    check(job_id not in [str(j["id"]) for j in leap.images.list_all(model_id=args.model_id).body],
          "deleted job is not listed")
    leap.images.delete(model_id=args.model_id, inference_id=second_id)

    bad = Leap(access_token="easel_not_a_key", host=args.base_url)
    expect_api_error(lambda: bad.images.list_all(model_id=args.model_id), 401, "unknown key")

    print("SDK ACCEPTANCE OK")


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as error:  # an SDK-side validation error is a failure too
        print(f"FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
