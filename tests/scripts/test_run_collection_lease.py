"""No overlapping runs (docs/contract.md 8): run_collection.sh refuses to start while another run holds the lease; a
killed run's leases are taken over at once on a local store; a failing store is a run failure naming the
store error; the README's lease commands work. (Taking over the expired lease of a crashed run is checked by
the first end-to-end run in test_run_collection_e2e.py, which starts with such a lease in its store.)"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import boto3

from bench.reliability.script_runner import REPO, SCRIPT, capture_server, run_script, script_env
from tests.scripts.support import write_tiny_catalog
from utils.lease import acquire
from utils.store import LocalStore, S3Store

LEASE_OBJECT = Path("locks/azure/run.json")


def local_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return script_env({"SPOTLAKE_STORE": str(tmp_path / "store"), "SPS_KEY_FILE": str(tmp_path / "sps_key.txt"),
                       "SPOTLAKE_AZURE_EMULATOR": "1",
                       "SPOTLAKE_EMULATOR_CATALOG": str(write_tiny_catalog(tmp_path)), **extra})  # fmt: skip


def test_a_run_while_another_holds_the_lease_exits_1_at_once_with_a_clear_message(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    lease = acquire(store, "run", 600, holder="other-host:4242:cafe")
    with capture_server() as hook:
        started = time.monotonic()
        run = run_script(local_env(tmp_path, error_notification_slack_webhook_url=hook.url), "2025-12-13 13:00")
        elapsed = time.monotonic() - started
    assert run.returncode == 1, run.stderr
    assert elapsed < 20
    assert "another run holds the lease 'run' (other-host:4242:cafe) until" in run.stderr
    assert "started collector" not in run.stderr
    assert "started the Azure emulator" not in run.stderr
    # The other run's lease is untouched, and this refused run alerted exactly once.
    assert json.loads((tmp_path / "store" / LEASE_OBJECT).read_text())["holder"] == lease.holder
    assert len(hook.bodies) == 1
    assert "overlapping run refused" in hook.bodies[0]["text"]


def test_an_invalid_lease_ttl_is_a_configuration_error(tmp_path: Path) -> None:
    run = run_script(local_env(tmp_path, SPOTLAKE_LEASE_TTL="not-a-number"), "2025-12-13 13:00")
    assert run.returncode == 2  # the TTL is validated with the rest of the settings
    assert "SPOTLAKE_LEASE_TTL" in run.stderr


# --- crashes, signals and store failures through the real script (issues 13.3, 14.1-14.3) ------------------


def _start_in_own_group(env: dict[str, str], slot: str, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("w") as log_file:
        return subprocess.Popen(["bash", str(SCRIPT), slot], env=env, stdout=subprocess.DEVNULL, stderr=log_file,
                                start_new_session=True)  # fmt: skip


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def test_after_kill_9_of_the_process_group_an_immediate_rerun_takes_the_dead_runs_leases_over(tmp_path: Path) -> None:
    # Issue 13.3: the killed run left its run and sps-state leases (host and pid recorded); on a local store
    # a dead holder on this host is taken over at once, logged, instead of blocking the store for the TTL.
    store = tmp_path / "store"
    env = local_env(tmp_path, SPOTLAKE_EMULATOR_FAULTS="sps:slow(60)")
    proc = _start_in_own_group(env, "2025-12-13 13:00", tmp_path / "killed.log")
    try:
        _wait_for(store / "locks/azure/sps-state.json", proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    leases = {p.name: json.loads(p.read_text()) for p in (store / "locks/azure").glob("*.json")}
    assert set(leases) == {"run.json", "sps-state.json"}
    assert leases["run.json"]["pid"] == proc.pid and leases["run.json"]["slot"] == "2025-12-13T13:00:00Z"
    with capture_server() as hook:
        started = time.monotonic()
        run = run_script(local_env(tmp_path, error_notification_slack_webhook_url=hook.url), "2025-12-13 13:00")
        elapsed = time.monotonic() - started
        alerts = list(hook.bodies)
    assert run.returncode == 0, run.stderr[-4000:]
    assert alerts == []
    assert f"took over lease run from {leases['run.json']['holder']} at once: its process {proc.pid} on this host " \
           "is dead" in run.stderr  # fmt: skip
    assert "took over lease sps-state from" in run.stderr and "at once" in run.stderr
    assert not list((store / "locks/azure").glob("*.json"))
    assert elapsed < 120


def test_a_failing_store_before_the_run_is_a_run_failure_naming_the_store_error(tmp_path: Path) -> None:
    # Issue 14.3: a store the run cannot write (here a file where its locks directory should be) is exit 1
    # with the one alert naming the store error: not exit 2 without an alert, not "another run holds".
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "locks").write_text("not a directory")
    with capture_server() as hook:
        run = run_script(local_env(tmp_path, error_notification_slack_webhook_url=hook.url), "2025-12-13 13:00")
        alerts = list(hook.bodies)
    assert run.returncode == 1, run.stderr[-4000:]
    assert len(alerts) == 1, alerts
    text = alerts[0]["text"]
    assert "the run lease could not be taken" in text and re.search(r"ENOTDIR|EEXIST", text), text
    assert "another run holds" not in text and "overlapping" not in text
    assert "started collector" not in run.stderr
    assert "the failure alert could not be sent" not in run.stderr


def test_a_store_that_fails_mid_run_fails_the_run_with_one_alert_and_releases_the_lease(tmp_path: Path) -> None:
    # The lease is taken and the slot order checked, then the price collector's raw-data write fails (a file
    # where its folder should be).
    (tmp_path / "store" / "rawdata" / "azure").mkdir(parents=True)
    (tmp_path / "store" / "rawdata" / "azure" / "spot_price").write_text("not a directory")
    with capture_server() as hook:
        run = run_script(local_env(tmp_path, error_notification_slack_webhook_url=hook.url), "2025-12-13 13:00")
        alerts = list(hook.bodies)
    assert run.returncode == 1, run.stderr[-4000:]
    assert len(alerts) == 1, alerts
    assert "collector price exited with 1" in alerts[0]["text"]
    assert re.search(r"store write \S+rawdata\S+ failed: (ENOTDIR|EEXIST)", run.stderr)
    assert "Traceback" not in run.stderr
    assert "the failure alert could not be sent" not in run.stderr
    assert not list((tmp_path / "store" / "locks/azure").glob("*.json"))  # what the run held is released


# The README's lease paragraph, run verbatim (cwd: the repository root).
README_SHOW = "python3 scripts/run_lease.py show"
README_BREAK = "python3 scripts/run_lease.py break"


def test_the_readme_commands_show_and_break_a_lease_on_s3(moto_endpoint: str) -> None:
    readme = (REPO / "README.md").read_text()
    assert README_SHOW in readme and README_BREAK in readme
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-west-2")
    s3.create_bucket(Bucket="lease-bucket", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    store = S3Store(s3, "lease-bucket", "collector")
    acquire(store, "run", 600, holder="crashed-on-another-host")
    env = script_env({"SPOTLAKE_STORE": "s3://lease-bucket/collector", "AWS_ENDPOINT_URL": moto_endpoint,
                      "AWS_REGION": "us-west-2"})  # fmt: skip

    def run(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(shlex.split(command), env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
                              check=False)  # fmt: skip

    shown = run(README_SHOW)
    assert shown.returncode == 0 and "holder crashed-on-another-host, until" in shown.stdout, shown.stderr
    broken = run(README_BREAK)
    assert broken.returncode == 0, broken.stderr
    assert "broke lease 'run' (holder crashed-on-another-host" in broken.stderr
    assert not store.exists("locks/azure/run.json")
    assert "lease 'run': free" in run(README_SHOW).stdout
    assert run(README_BREAK).returncode == 0  # nothing to break is fine
