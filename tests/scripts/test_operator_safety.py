"""Issue 13 (operator safety), through the real scripts: the documented command by path with nothing activated,
two stores on one host at once, the future slot, store typos, verdict = exit code, sink prerequisites before
anything is published, ``make run`` exit codes, file modes (git and store)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from bench.reliability.script_runner import (
    REPO,
    SCRIPT,
    assert_verdict_matches,
    capture_server,
    closed_port,
    script_env,
)
from tests.scripts.support import write_tiny_catalog
from utils.constants import LATEST_JSON_KEY, LATEST_STATE_KEY, archive_key, sps_key
from utils.timestamps import floor_to_slot, slot_iso

SLOT = "2025-12-13 13:00"
SLOT_DT = datetime(2025, 12, 13, 13, 0, tzinfo=UTC)
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"  # nothing activated: no .venv/bin on PATH

# Every file a user may call by path (README, usage texts): committed with the execute bit and a shebang.
CALLABLE_BY_PATH = [
    "scripts/run_collection.sh", "scripts/build_and_push.sh", "scripts/deploy_infra.sh", "scripts/destroy_infra.sh",
    "scripts/delete_image.sh", "scripts/run_lease.py", "scripts/run_summary.py", "scripts/sample_memory.py",
    "scripts/send_alert.py", "scripts/settings_probe.py", "scripts/store_monitoring.py", "price/collect_price.py",
    "if/collect_if.py", "sps/collect_sps.py", "sps/load_sps.py", "merge/merge_data.py", "emulator/server.py",
    "sps_module/plan_cli.py", "utils/runtime.py", "bench/run_all", "bench/fault_matrix.py", "bench/soak.py",
    "bench/bench_planner.py", "bench/bench_e2e.py", "bench/bench_merge.py", "bench/bench_price_fetch.py",
    "bench/bench_sps_sweep.py", "bench/bench_emulator.py", "bench/summarize.py", ".ci/run",
]  # fmt: skip
# The Python entry points among them: under an interpreter without the packages they say so in one line.
STDLIB_ONLY = {"bench/summarize.py", "bench/bench_emulator.py"}  # they import no third-party package
PYTHON_ENTRY_POINTS = [p for p in CALLABLE_BY_PATH if p.endswith(".py") and p not in STDLIB_ONLY]


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run to completion, capturing text output; the caller asserts on the exit code."""
    return subprocess.run(argv, check=False, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]


def bare_env(extra: dict[str, str]) -> dict[str, str]:
    """Like script_env, but with nothing activated: PATH without the venv."""
    env = script_env(extra)
    env["PATH"] = BARE_PATH
    return env


def local_env(tmp_path: Path, name: str, **extra: str) -> dict[str, str]:
    return {"SPOTLAKE_STORE": str(tmp_path / name), "SPS_KEY_FILE": str(tmp_path / f"{name}_key.txt"),
            "SPOTLAKE_EMULATOR_CATALOG": str(write_tiny_catalog(tmp_path)), **extra}  # fmt: skip


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Python 3.11+ interpreter without any of the project's packages (a fresh venv without pip)."""
    root = tmp_path_factory.mktemp("bare") / "venv"
    created = _run([sys.executable, "-m", "venv", "--without-pip", str(root)], timeout=120)
    assert created.returncode == 0, created.stderr
    return root / "bin" / "python"


# --- item 1: the documented command, by path, with nothing activated --------------------------------------
@pytest.mark.parametrize("path", CALLABLE_BY_PATH)
def test_every_script_a_user_calls_by_path_is_committed_executable_with_a_shebang(path: str) -> None:
    staged = _run(["git", "ls-files", "-s", "--", path], cwd=REPO, timeout=60).stdout.split()
    assert staged and staged[0] == "100755", f"{path} is committed as {staged[:1]}, not 100755"
    assert (REPO / path).read_text().startswith("#!/usr/bin/env ")


def test_run_collection_with_an_interpreter_missing_packages_is_one_line_and_exit_2(
    tmp_path: Path, bare_python: Path
) -> None:
    env = bare_env({**local_env(tmp_path, "store"), "SPOTLAKE_PYTHON": str(bare_python)})
    proc = _run([str(SCRIPT), SLOT], cwd=REPO, env=env, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "ModuleNotFoundError" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing Python package(s) pandas" in lines[0] and "make venv" in lines[0]
    assert not (tmp_path / "store").exists()


def test_a_missing_interpreter_override_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = bare_env({**local_env(tmp_path, "store"), "SPOTLAKE_PYTHON": str(tmp_path / "no-such-python")})
    proc = _run([str(SCRIPT), SLOT], cwd=REPO, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not found" in proc.stderr and "make venv" in proc.stderr


@pytest.mark.parametrize("path", PYTHON_ENTRY_POINTS)
def test_a_python_entry_point_under_a_bare_interpreter_is_one_line_and_exit_2(path: str, bare_python: Path) -> None:
    env = bare_env({"SPOTLAKE_PYTHON": str(bare_python)})  # the override wins over the repository's .venv
    proc = _run([str(bare_python), str(REPO / path), "--help"], cwd="/", env=env, timeout=60)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "make venv" in proc.stderr and "Traceback" not in proc.stderr


def test_a_python_entry_point_started_by_a_bare_interpreter_switches_to_the_project_venv(bare_python: Path) -> None:
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv in this checkout (make venv)")
    proc = _run([str(bare_python), str(REPO / "scripts" / "settings_probe.py"), "slot", SLOT], cwd="/",
                          env=bare_env({}), timeout=120)  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, "2025-12-13T13:00:00Z\n"), proc.stderr


# --- item 2 (+ item 1's Must show): two stores on one host, at once --------------------------------------
@pytest.mark.slow
def test_two_concurrent_runs_for_two_stores_both_succeed_by_path_from_root_and_from_elsewhere(tmp_path: Path) -> None:
    shared_handoff = tmp_path / "sps_key.txt"  # both use the same handoff path, as with the default
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    runs = {}
    for name, argv, cwd in (("a", ["./scripts/run_collection.sh", SLOT], REPO),
                            ("b", ["bash", str(SCRIPT), SLOT], elsewhere)):  # fmt: skip
        env = bare_env({**local_env(tmp_path, name), "SPS_KEY_FILE": str(shared_handoff)})
        runs[name] = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
    results = {name: proc.communicate(timeout=600) for name, proc in runs.items()}
    for name, (stdout, stderr) in results.items():
        assert runs[name].returncode == 0, f"run {name} failed:\n{stderr[-3000:]}"
        assert_verdict_matches(stdout, 0)
        store = tmp_path / name
        assert (store / LATEST_STATE_KEY).is_file() and (store / archive_key(SLOT_DT)).is_file()
        assert (store / sps_key(SLOT_DT, 1)).is_file()
    # The default handoff is still written for standalone use, and names this slot's raw object.
    assert shared_handoff.read_text() == sps_key(SLOT_DT, 1) + "\n"
    assert not any(elsewhere.iterdir())  # nothing written relative to the other directory


# --- item 4: the future slot -----------------------------------------------------------------------------
def test_a_slot_more_than_one_slot_ahead_is_exit_2_naming_the_clock_and_touches_nothing(tmp_path: Path) -> None:
    env = bare_env(local_env(tmp_path, "store"))
    proc = _run([str(SCRIPT), "2030-01-01 00:00"], cwd=REPO, env=env,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 2
    assert "more than one slot ahead of the clock (now 20" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "store").exists()


def test_the_next_slot_is_accepted_and_the_one_after_is_refused() -> None:
    now = floor_to_slot(datetime.now(UTC))
    probe = [sys.executable, str(REPO / "scripts" / "settings_probe.py"), "slot"]
    ok = _run([*probe, slot_iso(now + timedelta(minutes=10))], timeout=60)
    # The clock only moves forward between the calls: the next slot stays accepted, 30 minutes stays refused.
    assert ok.returncode == 0, ok.stderr
    refused = _run([*probe, slot_iso(now + timedelta(minutes=30))],
                             timeout=60)  # fmt: skip
    assert refused.returncode == 2 and "ahead of the clock" in refused.stderr


# --- item 6: typos never become data ---------------------------------------------------------------------
TYPO_TABLE = {
    "s3:/bucket": "mistyped URL",
    "s3//bucket": "mistyped URL",
    "s3:bucket": "mistyped URL",
    "file:/tmp/x": "mistyped URL",
    "http://example.invalid/store": "unsupported scheme 'http'",
    "s3://": "missing bucket",
    "file://relative/dir": "absolute path",
}


@pytest.mark.parametrize("value", list(TYPO_TABLE))
def test_a_mistyped_store_is_exit_2_and_creates_nothing(tmp_path: Path, value: str) -> None:
    env = bare_env({**local_env(tmp_path, "unused"), "SPOTLAKE_STORE": value})
    before = set(tmp_path.iterdir())
    proc = _run([str(SCRIPT), SLOT], cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert TYPO_TABLE[value] in proc.stderr and "Traceback" not in proc.stderr
    assert set(tmp_path.iterdir()) == before  # no `s3:` directory, no store


def test_a_home_relative_store_and_a_relative_sqlite_url_resolve_as_documented(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    env = bare_env({"SPOTLAKE_STORE": "~/spot", "HOME": str(tmp_path / "home"),
                    "SPOTLAKE_TIMESERIES": "sqlite:///rel/ts.db", "SPS_KEY_FILE": str(tmp_path / "k.txt")})  # fmt: skip
    proc = _run([sys.executable, str(REPO / "scripts" / "settings_probe.py"), "env"], cwd=tmp_path,
                          env=env, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"STORE={tmp_path / 'home' / 'spot'}\n" in proc.stdout
    probe = ("from utils.settings import load_settings; import os; "
             "print(load_settings(os.environ).timeseries.sqlite_path)")  # fmt: skip
    resolved = _run([sys.executable, "-c", probe], cwd=tmp_path, env={**env, "PYTHONPATH": str(REPO)}, timeout=60)
    assert resolved.returncode == 0, resolved.stderr
    path = resolved.stdout.strip()
    assert path == str(tmp_path / "rel" / "ts.db")


# --- item 7: the merge needs no Azure credential ---------------------------------------------------------
def test_the_merge_runs_without_an_azure_credential_outside_emulator_mode(tmp_path: Path) -> None:
    env = bare_env({**local_env(tmp_path, "store"), "SPOTLAKE_AZURE_EMULATOR": "0"})
    proc = _run([str(REPO / "merge" / "merge_data.py"), "--sps_key", sps_key(SLOT_DT, 1)], cwd=tmp_path,
                          env=env, timeout=120)  # fmt: skip
    assert "no Azure credential" not in proc.stderr
    assert proc.returncode == 2 and "13-00_sps_1.parquet" in proc.stderr  # it got as far as the (absent) input
    # The collectors do call Azure: they still refuse.
    collector = _run([str(REPO / "price" / "collect_price.py"), "--timestamp", SLOT], cwd=tmp_path,
                               env=env, timeout=120)  # fmt: skip
    assert collector.returncode == 2 and "no Azure credential" in collector.stderr


# --- item 5: the verdict is the exit code; each failure names its real cause --------------------------------
@pytest.mark.slow
def test_a_failed_run_says_failed_with_its_causes_never_ok(tmp_path: Path) -> None:
    env = bare_env({**local_env(tmp_path, "store"), "SPOTLAKE_EMULATOR_URL": f"http://127.0.0.1:{closed_port()}",
                    "SPOTLAKE_RETRY_MAX_ATTEMPTS": "1"})  # fmt: skip
    proc = _run([str(SCRIPT), SLOT], cwd=REPO, env=env, timeout=300)
    assert proc.returncode == 1
    assert_verdict_matches(proc.stdout, 1)
    assert "merge=skipped" in proc.stdout and ": OK" not in proc.stdout
    assert "  cause: collector sps exited with 1" in proc.stdout


@pytest.mark.slow
@pytest.mark.xdist_group("moto_server")
def test_a_missing_bucket_is_named_before_anything_runs_not_called_an_overlapping_run(
    tmp_path: Path, moto_endpoint: str
) -> None:
    with capture_server() as hook:
        env = bare_env({**local_env(tmp_path, "unused"), "SPOTLAKE_STORE": "s3://no-such-bucket/collector",
                        "SPOTLAKE_TIMESERIES": "parquet", "SPOTLAKE_METRICS": "none", "AWS_ENDPOINT_URL": moto_endpoint,
                        "SPOTLAKE_AZURE_EMULATOR": "1", "error_notification_slack_webhook_url": hook.url})  # fmt: skip
        proc = _run([str(SCRIPT), SLOT], cwd=REPO, env=env, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "S3 bucket 'no-such-bucket' does not exist: create it (aws s3 mb s3://no-such-bucket" in proc.stderr
    assert "overlapping run" not in proc.stderr + proc.stdout
    assert_verdict_matches(proc.stdout, 1)
    assert len(hook.bodies) == 1 and "no-such-bucket" in json.dumps(hook.bodies[0])


@pytest.mark.slow
@pytest.mark.xdist_group("moto_server")
@pytest.mark.parametrize("missing", ["database", "table"])
def test_a_missing_timestream_database_or_table_fails_before_anything_is_published(
    tmp_path: Path, moto_endpoint: str, missing: str
) -> None:
    kwargs = {"region_name": "us-west-2", "endpoint_url": moto_endpoint}
    boto3.client("s3", **kwargs).create_bucket(Bucket="spotlake-pre", CreateBucketConfiguration={
        "LocationConstraint": "us-west-2"})  # fmt: skip
    if missing == "table":
        boto3.client("timestream-write", **kwargs).create_database(DatabaseName="spotlake")
    env = bare_env({**local_env(tmp_path, "unused"), "SPOTLAKE_STORE": "s3://spotlake-pre/collector",
                    "SPOTLAKE_TIMESERIES": "timestream://spotlake/azure", "SPOTLAKE_METRICS": "none",
                    "AWS_ENDPOINT_URL": moto_endpoint, "SPOTLAKE_AZURE_EMULATOR": "1"})  # fmt: skip
    proc = _run([str(SCRIPT), SLOT], cwd=REPO, env=env, timeout=300)
    assert proc.returncode == 1, proc.stderr
    what = "table spotlake.azure" if missing == "table" else "database 'spotlake'"
    assert f"Timestream {what} does not exist: create it" in proc.stderr
    assert_verdict_matches(proc.stdout, 1)
    listed = boto3.client("s3", **kwargs).list_objects_v2(Bucket="spotlake-pre").get("Contents", [])
    assert not [o["Key"] for o in listed if not o["Key"].startswith("collector/leases/")]  # nothing published


# --- item 8: make run passes the script's exit status through --------------------------------------------
def _make_run(tmp_path: Path, env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = bare_env({**local_env(tmp_path, "store"), **env_extra})  # nothing activated: make and the script find .venv
    return _run(["make", "--no-print-directory", "run", *args], cwd=REPO, env=env, timeout=600)  # fmt: skip


def test_make_run_exits_2_for_bad_input(tmp_path: Path) -> None:
    proc = _make_run(tmp_path, {}, "TIMESTAMP=it's not a time")
    assert proc.returncode == 2, proc.stderr
    assert "invalid timestamp \"it's not a time\"" in proc.stderr
    assert "run_collection.sh exited with 2 (bad usage or input)" in proc.stderr


@pytest.mark.slow
def test_make_run_exits_1_for_a_failed_run_with_the_failed_verdict(tmp_path: Path) -> None:
    proc = _make_run(tmp_path, {"SPOTLAKE_EMULATOR_URL": f"http://127.0.0.1:{closed_port()}",
                                "SPOTLAKE_RETRY_MAX_ATTEMPTS": "1"}, f"TIMESTAMP={SLOT}")  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert_verdict_matches(proc.stdout, 1)


@pytest.mark.slow
def test_make_run_exits_0_with_the_summary_on_stdout(tmp_path: Path) -> None:
    proc = _make_run(tmp_path, {}, f"TIMESTAMP={SLOT}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_verdict_matches(proc.stdout, 0)
    # item 9 through the real run: public objects as the umask allows (022 here), private ones 0600.
    store = tmp_path / "store"
    assert (store / LATEST_JSON_KEY).stat().st_mode & 0o777 == 0o666 & ~_umask()  # 0644 under umask 022
    assert (store / archive_key(SLOT_DT)).stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert (store / LATEST_STATE_KEY).stat().st_mode & 0o777 == 0o600
    assert (store / sps_key(SLOT_DT, 1)).stat().st_mode & 0o777 == 0o600


def _umask() -> int:
    status = Path("/proc/self/status").read_text() if Path("/proc/self/status").exists() else ""
    match = re.search(r"^Umask:\s+([0-7]+)$", status, re.MULTILINE)
    if match:
        return int(match.group(1), 8)
    current = os.umask(0o022)
    os.umask(current)
    return current
