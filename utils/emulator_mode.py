"""Emulator mode (docs/contract.md 4): point every Azure endpoint at the bundled emulator.

The orchestrator starts one emulator and exports ``SPOTLAKE_EMULATOR_URL``; a collector run alone in
emulator mode without that URL starts its own on 127.0.0.1 for the duration of the run.
"""

from __future__ import annotations

import dataclasses
import logging
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from utils.errors import RunFailed
from utils.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
EMULATOR_SCRIPT = REPO_ROOT / "emulator" / "server.py"
log = logging.getLogger(__name__)


def with_emulator_url(settings: Settings, url: str) -> Settings:
    """Settings whose Azure endpoints all point at the emulator ``url``."""
    azure = dataclasses.replace(settings.azure, arm_endpoint=url, prices_endpoint=url, authority=url)
    emulator = dataclasses.replace(settings.emulator, url=url)
    return dataclasses.replace(settings, azure=azure, emulator=emulator)


def start_emulator(catalog: Path | None = None, extra_args: list[str] | None = None,
                   startup_timeout: float = 120.0) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``emulator/server.py`` on 127.0.0.1 (free port); returns the process and its base URL."""
    cmd = [sys.executable, str(EMULATOR_SCRIPT), "--host", "127.0.0.1", "--port", "0"]
    if catalog is not None:
        cmd += ["--catalog", str(catalog)]
    cmd += extra_args or []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    deadline = time.monotonic() + startup_timeout
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            chunk = proc.stdout.readline()
            if not chunk:
                break
            line += chunk
        elif proc.poll() is not None:
            break
    url = line.decode().strip()
    if not url.startswith("http://"):
        stop_emulator(proc)
        raise RunFailed(f"the Azure emulator did not start (first line: {url[:200]!r}, exit {proc.returncode})")
    return proc, url


def stop_emulator(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def azure_endpoints(settings: Settings) -> Iterator[Settings]:
    """Yield settings whose Azure endpoints are usable: unchanged outside emulator mode or when an
    emulator URL is given; otherwise an emulator is started for the duration of the block."""
    if not settings.emulator.enabled or settings.emulator.url:
        yield settings
        return
    proc, url = start_emulator(settings.emulator.catalog)
    log.info("started the Azure emulator at %s", url)
    try:
        yield with_emulator_url(settings, url)
    finally:
        stop_emulator(proc)
