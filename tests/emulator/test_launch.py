"""emulator/launch.py: the one start/stop of the bundled emulator (Python callers, the orchestrator's CLI)."""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from emulator.launch import (
    HOST,
    SERVER_SCRIPT,
    EmulatorProcess,
    EmulatorStartError,
    pid_alive,
    stop_pid,
    stop_process,
    wait_until_ready,
)
from utils.emulator_mode import azure_endpoints
from utils.errors import RunFailed
from utils.settings import load_settings

LAUNCH = SERVER_SCRIPT.with_name("launch.py")
# A process that ignores SIGTERM: only SIGKILL stops it.
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"


def gone(pid: int) -> bool:
    """No process with this pid (not even an unreaped one)."""
    return not Path(f"/proc/{pid}").exists() and not pid_alive(pid)


def test_two_starts_give_two_independent_emulators_on_different_ports(tiny_catalog: Path) -> None:
    with EmulatorProcess(catalog=tiny_catalog, args=["--page-size", "2"]) as first, \
            EmulatorProcess(catalog=tiny_catalog, faults="prices:500") as second:
        assert first.url.startswith(f"http://{HOST}:") and second.url.startswith(f"http://{HOST}:")
        assert first.url != second.url and first.pid != second.pid
        assert requests.get(f"{first.url}/api/retail/prices", timeout=5).json()["Count"] == 2  # its own options
        assert requests.get(f"{second.url}/api/retail/prices", timeout=5).status_code == 500
        first.stop()
        assert gone(first.pid)
        assert requests.get(f"{second.url}/_emulator/stats", timeout=5).json()["prices"]["calls"] == 1
    assert gone(second.pid)


def test_stop_leaves_no_process_and_a_block_that_raises_still_stops_it(tiny_catalog: Path) -> None:
    emulator = EmulatorProcess(catalog=tiny_catalog)
    with pytest.raises(ZeroDivisionError), emulator:
        pid = emulator.pid
        assert pid_alive(pid)
        1 / 0  # noqa: B018
    assert gone(pid)
    assert emulator.process is not None and emulator.process.returncode == 0  # SIGTERM: a clean exit
    emulator.stop()  # idempotent


def test_a_server_that_fails_to_start_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    log = io.StringIO()
    emulator = EmulatorProcess(catalog=tmp_path / "absent.csv", log=log)
    started = time.monotonic()
    with pytest.raises(EmulatorStartError) as raised:
        emulator.start()
    assert time.monotonic() - started < 60
    message = str(raised.value)
    assert "exited before printing its URL" in message and "exit 2" in message
    assert "error:" in message and "absent.csv" in message  # the server's own reason
    assert "absent.csv" in log.getvalue()  # its log reached the caller as well
    assert gone(emulator.pid)


def test_a_server_not_ready_in_time_is_stopped_and_named(tmp_path: Path) -> None:
    # A "python" that never writes the URL file: the start times out instead of waiting forever.
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} -c \"import time; time.sleep(60)\"\n")
    fake.chmod(0o755)
    emulator = EmulatorProcess(python=str(fake), start_timeout=0.5, stop_grace=1)
    with pytest.raises(EmulatorStartError, match=r"printed no URL within 0\.5s"):
        emulator.start()
    assert gone(emulator.pid)


def test_azure_endpoints_runs_an_emulator_for_the_block_only(tiny_catalog: Path, tmp_path: Path) -> None:
    env = {"SPOTLAKE_STORE": str(tmp_path / "store"), "SPOTLAKE_AZURE_EMULATOR": "1",
           "SPOTLAKE_EMULATOR_CATALOG": str(tiny_catalog), "SPS_KEY_FILE": str(tmp_path / "key")}  # fmt: skip
    settings = load_settings(env, cwd=tmp_path)
    with azure_endpoints(settings) as live:
        url = live.emulator.url
        assert url and live.azure.prices_endpoint == url and live.azure.arm_endpoint == url
        assert requests.get(f"{url}/api/retail/prices", timeout=5).ok
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/_emulator/stats", timeout=2)
    absent = dataclasses.replace(settings.emulator, catalog=tmp_path / "absent.csv")
    bad = dataclasses.replace(settings, emulator=absent)
    with pytest.raises(RunFailed, match="exited before printing its URL"), azure_endpoints(bad):
        pass


def test_stop_process_kills_a_child_that_ignores_sigterm_after_the_grace() -> None:
    child = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "up\n"
    started = time.monotonic()
    assert stop_process(child, grace=0.5) == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - started < 10
    assert gone(child.pid)


def test_wait_until_ready_fails_when_the_process_is_gone_before_the_url(tmp_path: Path) -> None:
    with pytest.raises(EmulatorStartError, match="exited before printing its URL"):
        wait_until_ready(tmp_path / "never", lambda: False, timeout=30)


# --- the CLI run_collection.sh uses ----------------------------------------------------------------------------
def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(LAUNCH), *args], check=False, capture_output=True, text=True,
                          timeout=timeout, cwd=LAUNCH.parent)  # fmt: skip  (cwd: emulator/http.py must not shadow http)


def test_cli_wait_prints_the_url_once_it_answers_and_stop_ends_it_cleanly(tiny_catalog: Path, tmp_path: Path) -> None:
    url_file = tmp_path / "emulator.url"
    server = subprocess.Popen([sys.executable, str(SERVER_SCRIPT), "--catalog", str(tiny_catalog),
                               "--url-file", str(url_file)], stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        waited = _cli("wait", "--pid", str(server.pid), "--url-file", str(url_file))
        assert waited.returncode == 0, waited.stderr
        url = waited.stdout.strip()
        assert url.startswith(f"http://{HOST}:") and url_file.read_text() == url + "\n"
        assert requests.get(f"{url}/_emulator/stats", timeout=5).ok
        stopped = _cli("stop", "--pid", str(server.pid))
        assert stopped.returncode == 0, stopped.stderr
        assert server.wait(timeout=5) == 0  # it was TERMinated and exited cleanly, within the grace
        assert not url_file.exists()  # a stopped server leaves no URL that claims it is ready
    finally:
        stop_process(server, grace=1)


def test_cli_wait_names_a_server_that_exited_and_one_that_is_not_ready_in_time(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, str(SERVER_SCRIPT), "--catalog", str(tmp_path / "absent.csv"),
                             "--url-file", str(tmp_path / "u")], stderr=subprocess.DEVNULL)  # fmt: skip
    waited = _cli("wait", "--pid", str(dead.pid), "--url-file", str(tmp_path / "u"))
    assert dead.wait(timeout=30) == 2
    assert waited.returncode == 1 and "error: the Azure emulator exited before printing its URL" in waited.stderr
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        waited = _cli("wait", "--pid", str(sleeper.pid), "--url-file", str(tmp_path / "u"), "--timeout", "0.5")
        assert waited.returncode == 1 and "printed no URL within 0.5s" in waited.stderr
    finally:
        stop_process(sleeper, grace=1)


def test_cli_stop_kills_what_ignores_sigterm_and_accepts_a_process_already_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "up\n"
    # The child is reaped by this test process (its parent) as soon as it dies: like bash, the caller reaps.
    stopping = subprocess.Popen([sys.executable, str(LAUNCH), "stop", "--pid", str(child.pid), "--grace", "0.5"],
                                cwd=LAUNCH.parent)  # fmt: skip
    assert child.wait(timeout=30) == -signal.SIGKILL
    assert stopping.wait(timeout=30) == 0
    assert _cli("stop", "--pid", str(child.pid)).returncode == 0  # gone already
    assert gone(child.pid)


def test_pid_alive_counts_an_unreaped_child_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert os.path.exists(f"/proc/{child.pid}") and not pid_alive(child.pid)
    child.wait()
    stop_pid(child.pid)  # gone: nothing to do, no error
