"""Start and stop the bundled emulator: the one place that defines how (emulator/README.md, "Launch").

Rules, used by every caller (``scripts/run_collection.sh`` through the CLI below, Python callers through
``EmulatorProcess``, tests through ``serving``):

- the emulator listens on ``HOST`` (127.0.0.1) on a free port (``PORT`` 0): the defaults of ``server.py``;
- ``server.py --url-file FILE`` writes its base URL to FILE atomically (one line, written to a temporary file
  then renamed) once it serves, and removes FILE when it stops; it also prints the URL as its first stdout line;
- it is ready when FILE holds an ``http://`` URL and that URL answers HTTP (``GET /_emulator/stats``, an
  admin route without faults or latency); it failed when its process ends first, or when it is not ready
  within ``START_TIMEOUT_S``;
- it is stopped with SIGTERM (it then exits 0), SIGKILL after ``STOP_GRACE_S``, and is never left running.

CLI (stdlib only, for the orchestrator, which starts and reaps the server process itself):

    python3 emulator/launch.py wait --pid PID --url-file FILE [--timeout S]   # prints the URL; exit 1 + reason
    python3 emulator/launch.py stop --pid PID [--grace S]                     # TERM, grace, KILL; exit 0
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # run by path: emulator/http.py must not shadow the stdlib http package
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import collections
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from http.server import HTTPServer

HOST = "127.0.0.1"
PORT = 0  # any free port
START_TIMEOUT_S = 180.0  # the bundled world catalog loads in a few seconds; a loaded CI host may take longer
STOP_GRACE_S = 10.0  # between SIGTERM and SIGKILL
POLL_S = 0.05
PROBE_PATH = "/_emulator/stats"
SERVER_SCRIPT = Path(__file__).resolve().with_name("server.py")
LOG_TAIL_LINES = 20  # server log lines kept for the message of a failed start


class EmulatorStartError(RuntimeError):
    """The emulator exited before it was ready, or was not ready in time (it is stopped by then)."""


# --- the readiness protocol -------------------------------------------------------------------------------
def write_url_file(path: str | Path, url: str) -> None:
    """Write ``url`` to ``path`` atomically: a reader sees no file or the whole line, never part of it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(url + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_url_file(path: str | Path) -> str | None:
    """The URL in ``path``, or None while the server has not written it."""
    try:
        line = Path(path).read_text().strip()
    except FileNotFoundError:
        return None
    return line if line.startswith("http://") else None


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` answers an HTTP request (any status) on ``PROBE_PATH``."""
    host, _, port = url.removeprefix("http://").partition("/")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.sendall(f"GET {PROBE_PATH} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
            head = b""
            while len(head) < 5 and (chunk := sock.recv(5 - len(head))):
                head += chunk
            return head == b"HTTP/"
    except (OSError, ValueError):
        return False


def wait_until_ready(url_file: str | Path, is_running: Callable[[], bool], timeout: float = START_TIMEOUT_S,
                     why_exited: Callable[[], str] = lambda: "") -> str:
    """Wait until the server writing ``url_file`` is ready (see the module rules); return its URL.

    Raises ``EmulatorStartError`` when ``is_running()`` turns false first or after ``timeout`` seconds;
    ``why_exited()`` may add what the server said."""
    deadline = time.monotonic() + timeout
    while True:
        url = read_url_file(url_file)
        if url is not None and answers(url):
            return url
        if not is_running():
            detail = why_exited()
            reason = f" ({detail})" if detail else ""
            raise EmulatorStartError(f"the Azure emulator exited before printing its URL{reason}")
        if time.monotonic() >= deadline:
            raise EmulatorStartError(f"the Azure emulator printed no URL within {timeout:g}s")
        time.sleep(POLL_S)


# --- stopping ------------------------------------------------------------------------------------------------
def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (an exited process its parent has not reaped yet counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (macOS): kill -0 is all there is
    return stat.rpartition(")")[2].split()[0] != "Z"


def stop_pid(pid: int, grace: float = STOP_GRACE_S) -> None:
    """Stop a process that is not this one's child: SIGTERM, up to ``grace`` seconds, then SIGKILL (its
    parent reaps it)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        if not pid_alive(pid):
            return


def stop_process(process: subprocess.Popen[Any], grace: float = STOP_GRACE_S) -> int:
    """Stop and reap a child: SIGTERM, up to ``grace`` seconds, then SIGKILL; returns its exit status."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


# --- Python callers: a child process ---------------------------------------------------------------------------
class EmulatorProcess:
    """The bundled emulator as a child process: ``with EmulatorProcess(catalog=path) as emu: emu.url``.

    ``args`` are further ``server.py`` options (``--seed``, ``--sps-quota``, ...). The server's log lines go
    to ``log`` (default: this process's stderr) as they come; the last ones are quoted when it fails to
    start. ``start()`` raises ``EmulatorStartError`` (and leaves nothing running); ``stop()`` is idempotent."""

    def __init__(self, *, catalog: str | Path | None = None, faults: str | None = None,
                 latency_ms: float | None = None, args: Sequence[str] = (), python: str | None = None,
                 env: dict[str, str] | None = None, log: IO[str] | None = None,
                 start_timeout: float = START_TIMEOUT_S, stop_grace: float = STOP_GRACE_S) -> None:
        options: list[str] = []
        if catalog is not None:
            options += ["--catalog", str(catalog)]
        if faults:
            options += ["--faults", faults]
        if latency_ms is not None:
            options += ["--latency-ms", f"{latency_ms:g}"]
        self.options = [*options, *args]
        self.python = python or sys.executable
        self.env = env
        self.log = log
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        self._reader: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the emulator was not started")
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> EmulatorProcess:
        if self.process is not None:
            raise RuntimeError("this emulator was started already; make another EmulatorProcess")
        self._tmp = tempfile.TemporaryDirectory(prefix="spotlake-emulator-")
        url_file = Path(self._tmp.name) / "url"
        self.process = subprocess.Popen([self.python, str(SERVER_SCRIPT), *self.options, "--url-file", str(url_file)],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, env=self.env)  # fmt: skip
        self._reader = threading.Thread(target=self._forward_log, name="emulator-log", daemon=True)
        self._reader.start()
        try:
            self.url = wait_until_ready(url_file, lambda: self.running, self.start_timeout, self._why_exited)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, self.stop_grace)
        if self._reader is not None:
            self._reader.join(timeout=self.stop_grace)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _forward_log(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        with self.process.stderr:
            for raw in self.process.stderr:
                line = raw.decode("utf-8", errors="replace")
                self._tail.append(line.rstrip("\n"))
                target = self.log if self.log is not None else sys.stderr
                try:
                    target.write(line)
                    target.flush()
                except (OSError, ValueError):  # the target was closed: keep draining the pipe
                    pass

    def _why_exited(self) -> str:
        assert self.process is not None
        code = self.process.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)  # its last words are the reason
        said = next((line for line in reversed(self._tail) if line.strip()), "")
        return f"exit {code}" + (f": {said}" if said else "")

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


# --- in-process servers (server.py, emulator.testing) --------------------------------------------------------
@contextmanager
def serving(server: HTTPServer, poll_interval: float = POLL_S) -> Iterator[threading.Thread]:
    """Serve ``server`` in a daemon thread for the duration of the block; then shut it down and close it."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": poll_interval},
                              name="azure-emulator", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=STOP_GRACE_S)


# --- CLI ------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Wait for or stop an emulator started by the caller "
                                                 "(emulator/README.md, Launch).")
    commands = parser.add_subparsers(dest="command", required=True)
    wait = commands.add_parser("wait", help="wait until the emulator is ready; print its URL")
    wait.add_argument("--pid", type=int, required=True, help="the server process")
    wait.add_argument("--url-file", required=True, help="the --url-file given to the server")
    wait.add_argument("--timeout", type=float, default=START_TIMEOUT_S)
    stop = commands.add_parser("stop", help="SIGTERM, the grace, then SIGKILL")
    stop.add_argument("--pid", type=int, required=True)
    stop.add_argument("--grace", type=float, default=STOP_GRACE_S)
    args = parser.parse_args(argv)
    if args.command == "stop":
        stop_pid(args.pid, args.grace)
        return 0
    try:
        url = wait_until_ready(args.url_file, lambda: pid_alive(args.pid), args.timeout,
                               lambda: "see its log above")
    except EmulatorStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
