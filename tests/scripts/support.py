"""Running the real ``scripts/run_collection.sh`` in tests, and the small local servers it talks to.

Everything listens on 127.0.0.1 only: a capture server standing in for the Slack webhook, and an IMDSv2
stand-in. The script runs with ``.venv/bin`` first on PATH (as ``make run`` does) and
``SPOTLAKE_IMDS_URL`` pointing at 127.0.0.1, so no test ever reaches 169.254.169.254.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "run_collection.sh"
VENV_BIN = Path(sys.executable).parent

# A tiny emulator catalog: two regions, three sizes, so an end-to-end run takes seconds.
TINY_CATALOG = """Region,InstanceType,OndemandPrice,SpotPrice
eastus,Standard_D2s_v3,0.096,0.0192
eastus,Standard_E4s_v5,0.252,0.0504
westus2,Standard_D2s_v3,0.096,0.0211
westus2,Standard_F4s_v2,0.169,0.0338
"""


def closed_port() -> int:
    """A 127.0.0.1 port nobody listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_tiny_catalog(directory: Path) -> Path:
    path = directory / "tiny_catalog.csv"
    path.write_text(TINY_CATALOG)
    return path


def script_env(extra: Mapping[str, str]) -> dict[str, str]:
    """A clean environment for the script: PATH with the venv first, no inherited SpotLake/Azure/AWS config."""
    keep = {k: v for k, v in os.environ.items() if k in {"HOME", "LANG", "LC_ALL", "TMPDIR", "USER"}}
    env = {
        **keep,
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "SPOTLAKE_IMDS_URL": f"http://127.0.0.1:{closed_port()}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
    }
    env.update(extra)
    return env


VERDICT_RE = re.compile(r"^SpotLake Azure run \S+: (OK|FAILED)\b", re.MULTILINE)


def assert_verdict_matches(stdout: str, returncode: int) -> None:
    """The summary's verdict agrees with the exit code: exactly one verdict line, ``OK`` for 0 and ``FAILED``
    for 1; bad usage or input (2) is refused before anything ran and prints no verdict."""
    verdicts = VERDICT_RE.findall(stdout)
    expected = {0: ["OK"], 1: ["FAILED"], 2: []}.get(returncode)
    assert verdicts == expected, f"exit {returncode} but verdict(s) {verdicts} in:\n{stdout[-2000:]}"


@dataclass
class ScriptRun:
    returncode: int
    stdout: str
    stderr: str


def run_script(env: Mapping[str, str], *args: str, timeout: float = 240, cwd: Path | None = None) -> ScriptRun:
    """Run ``bash scripts/run_collection.sh ARGS`` to completion with exactly ``env``."""
    proc = subprocess.run(
        ["bash", str(SCRIPT), *args],
        env=dict(env),
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return ScriptRun(proc.returncode, proc.stdout, proc.stderr)


@dataclass
class CaptureServer:
    """Records every POST body (the Slack webhook stand-in)."""

    url: str
    bodies: list[dict] = field(default_factory=list)


@contextmanager
def capture_server() -> Iterator[CaptureServer]:
    capture = CaptureServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            try:
                capture.bodies.append(json.loads(body))
            except ValueError:
                capture.bodies.append({"raw": body.decode(errors="replace")})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:  # keep pytest output quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    capture.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield capture
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def imds_stand_in(instance_type: str = "m7g.large") -> Iterator[str]:
    """An IMDSv2 stand-in: PUT /latest/api/token gives a token; the GET needs it. Yields the base URL."""
    token = "stand-in-token"

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            self._answer(200 if ok else 400, token if ok else "")

        def do_GET(self) -> None:
            authorised = self.headers.get("X-aws-ec2-metadata-token") == token
            ok = self.path == "/latest/meta-data/instance-type" and authorised
            self._answer(200 if ok else 401, instance_type if ok else "")

        def _answer(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
