"""Helpers shared by the real-process tests: run the `easel` binary on a data directory,
start and stop `easel serve` on a free loopback port, and talk to it over HTTP.

Only the Python standard library is used, so these run with any python3.
"""
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_SD1 = os.path.join(REPOSITORY, "Tests/EaselDiffusionTests/Fixtures/models/tiny-sd1")
BUNDLED_FIXTURES = os.path.join(REPOSITORY, "Tests/EaselDiffusionTests/Fixtures/bundled-model")

_scratch = None


def scratch(prefix):
    """A new folder for this script's temporary files, under one root per script run that is
    removed when the script exits (set EASEL_KEEP_TMP=1 to keep it, e.g. to read server logs
    after a failure). Folders made one by one in /tmp and never removed had filled the disk."""
    global _scratch
    if _scratch is None:
        _scratch = tempfile.mkdtemp(prefix="easel-script-")
        # Open to other users, as mkdtemp's 0700 is not: a test PostgreSQL cluster made
        # inside runs as the `postgres` user when the script runs as root.
        os.chmod(_scratch, 0o755)
        if os.environ.get("EASEL_KEEP_TMP"):
            atexit.register(lambda: print(f"kept temporary files in {_scratch}"))
        else:
            atexit.register(shutil.rmtree, _scratch, True)
    return tempfile.mkdtemp(prefix=prefix, dir=_scratch)


def held_out_fixture():
    """The bundled model's held-out captions and the settings they were drawn with."""
    with open(os.path.join(BUNDLED_FIXTURES, "held_out_captions.json")) as f:
        return json.load(f)


def generate_held_out(binary, fixture, case, out):
    """`easel generate` without --model (the bundled model) on one held-out caption, with the
    fixture's settings (what diffusers drew it with); returns the PNG's path."""
    subprocess.run([binary, "generate", "--prompt", case["prompt"], "--negative-prompt", "",
                    "--steps", str(fixture["steps"]), "--guidance", str(fixture["guidance"]),
                    "--seed", str(case["seed"]), "-o", out], check=True, capture_output=True, text=True)
    return out


def complete_model(path, parent=None):
    """The committed tiny fixtures leave out CLIP's vocabulary (Easel ships it). A real
    diffusers folder has it: give such a folder a copy with the built-in files (made in a new
    folder under `parent`, default the system's temporary folder)."""
    tokenizer = os.path.join(path, "tokenizer")
    if not os.path.isdir(tokenizer) or any(
            os.path.exists(os.path.join(tokenizer, f)) for f in ("vocab.json", "tokenizer.json")):
        return path
    folder = tempfile.mkdtemp(prefix="model-", dir=parent) if parent else scratch("model-")
    copy = os.path.join(folder, os.path.basename(path.rstrip("/")))
    shutil.copytree(path, copy)
    clip = os.path.join(REPOSITORY, "Sources/EaselDiffusion/Resources/clip")
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(clip, name), os.path.join(copy, "tokenizer", name))
    return copy


def fresh_database(url, prefix):
    """A new, empty database on the PostgreSQL server `url` names (made with psql); its URL."""
    name = f"{prefix}_{os.getpid()}_{int(time.time() * 1000)}"
    subprocess.run(["psql", url, "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    scheme, rest = url.split("://", 1)
    return scheme + "://" + re.sub(r"/[^/?]*(\?|$)", f"/{name}\\1", rest, count=1)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Easel:
    """One data directory and the binary that works on it."""

    def __init__(self, binary, data_dir=None, log_prefix="serve"):
        self.binary = os.path.abspath(binary)
        self.data_dir = data_dir or scratch("data-")
        # Processes sharing a data directory need log files of their own.
        self.log_prefix = log_prefix
        self.server = None
        self.port = None
        self.logs = []

    def run(self, *args):
        result = subprocess.run(
            [self.binary, *args, "--data-dir", self.data_dir], capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise SystemExit(f"FAILED: easel {' '.join(args)}: {result.stderr or result.stdout}")
        return result.stdout

    def create_key(self, workspace, *extra):
        output = self.run("keys", "create", "--workspace", workspace, *extra)
        tokens = [t for t in re.findall(r"\S+", output) if len(t) >= 32]
        if len(tokens) != 1:
            raise SystemExit(f"FAILED: `easel keys create` printed {len(tokens)} long tokens: {output}")
        return tokens[0]

    def add_model(self, path, name):
        output = self.run("models", "add", complete_model(path), "--name", name)
        match = re.search(r"model id: (\S+)", output)
        if not match:
            raise SystemExit(f"FAILED: no model id in: {output}")
        return match.group(1)

    def start(self, *extra, port=None):
        self.port = port or self.port or free_port()
        log_path = os.path.join(self.data_dir, f"{self.log_prefix}-{len(self.logs)}.log")
        self.logs.append(log_path)
        log = open(log_path, "w")
        self.server = subprocess.Popen(
            [self.binary, "serve", "--port", str(self.port), "--data-dir", self.data_dir, *extra],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise SystemExit(f"FAILED: easel serve exited with {self.server.returncode}; see {log_path}")
            try:
                if self.request("GET", "/health")[0] == 200:
                    return self.base_url
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit("FAILED: easel serve did not answer /health within 60 s")

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Sends `sig` and returns the exit status."""
        self.server.send_signal(sig)
        status = self.server.wait(timeout=timeout)
        self.server = None
        return status

    def request(self, method, path, key=None, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = response.read()
                return response.status, json.loads(payload) if payload else None
        except urllib.error.HTTPError as error:
            payload = error.read()
            return error.code, json.loads(payload) if payload else None

    def log_records(self):
        records = []
        for path in self.logs:
            with open(path) as log:
                for line in log:
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        pass
        return records
