"""Running the real ``scripts/run_collection.sh`` from the fault-matrix bench and the tests, and the capture
server standing in for the Slack webhook.

Everything listens on 127.0.0.1 only. The script runs with ``.venv/bin`` first on PATH (as ``make run``
does) and ``SPOTLAKE_IMDS_URL`` pointing at a closed 127.0.0.1 port, so no run ever reaches 169.254.169.254.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from bench.local_server import serving

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "run_collection.sh"
VENV_BIN = Path(sys.executable).parent


def closed_port() -> int:
    """A 127.0.0.1 port nobody listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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

    with serving(Handler) as url:
        capture.url = f"{url}/hook"
        yield capture
