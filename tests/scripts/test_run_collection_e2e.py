"""run_collection.sh end to end on the embedded default: a local store, the emulator started by the script
with a tiny catalog, the three real collectors and the real merge.

One store runs slot 13:00 then 13:10 (the desired count rotates); a copy of it then runs 13:20 with the
SPS API failing (exit 1, merge skipped, one alert, latest state untouched). Another run is stopped with
SIGTERM, as AWS Batch does on timeout.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from bench.reliability.script_runner import SCRIPT, ScriptRun, capture_server, run_script, script_env
from tests.scripts.support import imds_stand_in, slot_objects, write_tiny_catalog
from utils.constants import LATEST_JSON_KEY, LATEST_STATE_KEY, archive_key, monitoring_key, sps_key
from utils.lease import acquire
from utils.store import LocalStore

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("run_collection_e2e")]

SLOT_A = datetime(2025, 12, 13, 13, 0, tzinfo=UTC)
SLOT_B = datetime(2025, 12, 13, 13, 10, tzinfo=UTC)
SLOT_C = datetime(2025, 12, 13, 13, 20, tzinfo=UTC)
MERGE_SUMMARY = "latest_data/azure/last_merge_summary.json"
def local_env(root: Path, hook_url: str, **extra: str) -> dict[str, str]:
    return script_env({
        "SPOTLAKE_STORE": str(root / "store"),
        "SPS_KEY_FILE": str(root / "sps_key.txt"),
        "SPOTLAKE_EMULATOR_CATALOG": str(write_tiny_catalog(root)),
        "error_notification_slack_webhook_url": hook_url,
        **extra,
    })  # fmt: skip


def read_gz_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(gzip.decompress(path.read_bytes())))


def sqlite_rows_at(db: Path, slot: datetime) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM azure_timeseries WHERE time = ?",
                            (slot.strftime("%Y-%m-%d %H:%M:%S"),)).fetchone()[0]  # fmt: skip


@dataclass
class LocalRuns:
    root: Path
    store: Path
    first: ScriptRun
    second: ScriptRun
    first_summary: dict
    second_summary: dict
    alerts: list[dict]


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory: pytest.TempPathFactory) -> LocalRuns:
    root = tmp_path_factory.mktemp("e2e")
    store = root / "store"
    # A crashed earlier run left its lease behind; it expired long ago, so the first run takes it over.
    # (pid: above Linux's PID_MAX_LIMIT, so no live process: a lease whose holder still runs here is kept.)
    acquire(LocalStore(store), "run", 60, holder="crashed-host:1:dead", clock=lambda: time.time() - 3600,
            pid=4_194_305)  # fmt: skip
    with capture_server() as hook:
        first = run_script(local_env(root, hook.url), "2025-12-13 13:00")
        first_summary = json.loads((store / MERGE_SUMMARY).read_text()) if (store / MERGE_SUMMARY).exists() else {}
        second = run_script(local_env(root, hook.url), "2025-12-13T13:10:00Z")
        second_summary = json.loads((store / MERGE_SUMMARY).read_text()) if (store / MERGE_SUMMARY).exists() else {}
        alerts = list(hook.bodies)
    return LocalRuns(root, store, first, second, first_summary, second_summary, alerts)


def test_the_first_run_exits_0_and_stores_every_spec_object(local_runs: LocalRuns) -> None:
    assert local_runs.first.returncode == 0, local_runs.first.stderr[-4000:]
    missing = [key for key in slot_objects(SLOT_A, 1) if not (local_runs.store / key).is_file()]
    assert missing == []
    assert local_runs.alerts == []


def test_a_second_slot_rotates_the_desired_count(local_runs: LocalRuns) -> None:
    assert local_runs.second.returncode == 0, local_runs.second.stderr[-4000:]
    assert local_runs.first_summary["desired_count"] == 1
    assert local_runs.second_summary["desired_count"] == 5
    missing = [key for key in slot_objects(SLOT_B, 5) if not (local_runs.store / key).is_file()]
    assert missing == []
    assert (local_runs.root / "sps_key.txt").read_text().strip() == sps_key(SLOT_B, 5)


def test_the_time_series_holds_one_row_per_change_of_each_slot(local_runs: LocalRuns) -> None:
    db = local_runs.store / "timeseries.db"
    assert local_runs.first_summary["changes"] > 0
    assert sqlite_rows_at(db, SLOT_A) == local_runs.first_summary["changes"]
    assert sqlite_rows_at(db, SLOT_B) == local_runs.second_summary["changes"]


def test_the_archive_and_latest_json_hold_the_merged_rows(local_runs: LocalRuns) -> None:
    archive = read_gz_csv(local_runs.store / archive_key(SLOT_B))
    latest = json.loads((local_runs.store / LATEST_JSON_KEY).read_text())
    assert len(archive) == len(latest) == local_runs.second_summary["rows"]


def test_monitoring_has_phase_durations_peak_memory_and_an_unknown_instance_type(local_runs: LocalRuns) -> None:
    store = local_runs.store
    times = read_gz_csv(store / monitoring_key("executionTime", SLOT_A, "execution_time.csv.gz"))
    assert set(times["phase"]) == {"collect_sps", "collect_if", "collect_price", "merge", "total"}
    assert (times["exit_code"] == 0).all()
    total = float(times.loc[times["phase"] == "total", "seconds"].iloc[0])
    assert (times["seconds"] <= total).all()
    collect = times[times["phase"].str.startswith("collect_")]
    assert (collect["peak_rss_mb"] > 10).all()  # each collector's peak, next to its duration
    memory = read_gz_csv(store / monitoring_key("memory", SLOT_A, "memory.csv.gz"))
    assert list(memory.columns) == ["time", "component", "rss_mb"]
    assert {"sps", "if", "price"} <= set(memory["component"])
    # Each component's peak is a Python process with pandas loaded, not a shell (an early sample may catch
    # an interpreter that has just started, so only the peak is checked).
    assert (memory.groupby("component")["rss_mb"].max() > 10).all()
    instance = store / monitoring_key("instanceType", SLOT_A, "instance_type.txt")
    assert instance.read_text() == "unknown\n"  # SPOTLAKE_IMDS_URL points at a closed 127.0.0.1 port


def test_the_summary_says_where_the_outputs_are_and_what_the_run_did(local_runs: LocalRuns) -> None:
    out = local_runs.second.stdout
    assert "SpotLake Azure run 2025-12-13T13:10:00Z: OK (sps=0 if=0 price=0 merge=0)" in out
    assert f"outputs in {local_runs.store}" in out
    assert str(local_runs.store / archive_key(SLOT_B)) in out
    assert "(missing)" not in out
    summary = local_runs.second_summary
    assert f"merge: {summary['rows']} rows, {summary['changes']} changes, desired count 5" in out
    assert "SPS calls:" in out and "HTTP 429" in out
    assert "emulator: " in out and "sps " in out
    assert "durations: " in out and "total " in out
    assert "peak memory: " in out


def test_each_collectors_output_is_tagged_and_its_status_reported(local_runs: LocalRuns) -> None:
    err = local_runs.first.stderr
    for name in ("sps", "if", "price", "merge"):
        assert f"\n[{name}] " in err
    for name in ("sps", "if", "price"):
        assert f"collector {name} succeeded" in err
    assert "stopped the Azure emulator" in err


def test_the_expired_lease_of_a_crashed_run_is_taken_over(local_runs: LocalRuns) -> None:
    assert "took over expired lease run from crashed-host:1:dead" in local_runs.first.stderr


def test_a_successful_run_leaves_no_lease_behind(local_runs: LocalRuns) -> None:
    assert not (local_runs.store / "locks/azure/run.json").exists()


def test_a_failing_collector_fails_the_run_skips_the_merge_and_alerts_once(
    local_runs: LocalRuns, tmp_path: Path
) -> None:
    shutil.copytree(local_runs.store, tmp_path / "store")
    state_before = (tmp_path / "store" / LATEST_STATE_KEY).read_bytes()
    json_before = (tmp_path / "store" / LATEST_JSON_KEY).read_bytes()
    with capture_server() as hook:
        # Every SPS call answers 500: the SPS collector fails after its bounded retries.
        run = run_script(local_env(tmp_path, hook.url, SPOTLAKE_EMULATOR_FAULTS="sps:500"), "2025-12-13 13:20")
        alerts = list(hook.bodies)
    assert run.returncode == 1, run.stderr[-4000:]
    assert "merge skipped" in run.stderr
    assert "merge=skipped" in run.stdout
    assert "\n[merge] " not in run.stderr
    assert len(alerts) == 1
    assert alerts[0]["text"].startswith("SpotLake Azure run 2025-12-13T13:20:00Z failed: collector sps exited with 1")
    assert (tmp_path / "store" / LATEST_STATE_KEY).read_bytes() == state_before
    assert (tmp_path / "store" / LATEST_JSON_KEY).read_bytes() == json_before
    assert not (tmp_path / "store" / archive_key(SLOT_C)).exists()
    # Monitoring is still stored for the failed slot, with the failure recorded.
    times = read_gz_csv(tmp_path / "store" / monitoring_key("executionTime", SLOT_C, "execution_time.csv.gz"))
    assert times.set_index("phase").loc["collect_sps", "exit_code"] == 1
    assert "merge" not in set(times["phase"])
    assert not (tmp_path / "store" / "locks/azure/run.json").exists()


def test_sigterm_stops_collectors_and_emulator_releases_the_lease_and_alerts_once(tmp_path: Path) -> None:
    with capture_server() as hook, imds_stand_in() as imds:
        # Every SPS call hangs for 60 s, so the run is still collecting when it is terminated.
        env = local_env(tmp_path, hook.url, SPOTLAKE_EMULATOR_FAULTS="sps:slow(60)", SPOTLAKE_IMDS_URL=imds)
        proc = subprocess.Popen(["bash", str(SCRIPT), "2025-12-13 13:00"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert proc.stderr is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "collector price succeeded" in line:
                break
        assert any("collector price succeeded" in line for line in lines), "".join(lines)[-4000:]
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _stdout, rest = proc.communicate(timeout=60)
        elapsed = time.monotonic() - started
        alerts = list(hook.bodies)
    stderr = "".join(lines) + rest
    assert proc.returncode == 1, stderr[-4000:]
    assert elapsed < 30
    assert "interrupted by SIGTERM" in stderr
    assert "stopping " in stderr
    assert "stopped the Azure emulator" in stderr
    assert len(alerts) == 1 and "interrupted by SIGTERM" in alerts[0]["text"]
    assert not (tmp_path / "store" / "locks/azure/run.json").exists()
    # The SPS collector, stopped mid-sweep, released its sps-state lease too (issue 14.2).
    assert not list((tmp_path / "store" / "locks/azure").glob("*.json"))
    emulator_pids = [
        int(line.rsplit("pid ", 1)[1].rstrip(")\n")) for line in lines if "started the Azure emulator" in line
    ]
    assert emulator_pids
    assert not Path(f"/proc/{emulator_pids[0]}").exists()


def test_a_failed_if_collector_still_merges_with_the_previous_if_and_fails_the_run(
    local_runs: LocalRuns, tmp_path: Path
) -> None:
    shutil.copytree(local_runs.store, tmp_path / "store")
    with capture_server() as hook:
        # Resource Graph (eviction rates) answers 500: IF fails, while price and SPS do not need it.
        run = run_script(local_env(tmp_path, hook.url, SPOTLAKE_EMULATOR_FAULTS="resource_graph:500"),
                         "2025-12-13 13:20")  # fmt: skip
        alerts = list(hook.bodies)
    assert run.returncode == 1, run.stderr[-4000:]
    assert "SpotLake Azure run 2025-12-13T13:20:00Z: FAILED (sps=0 if=1 price=0 merge=0)" in run.stdout
    summary = json.loads((tmp_path / "store" / MERGE_SUMMARY).read_text())
    assert summary["slot"] == "2025-12-13T13:20:00Z"
    assert summary["if_slot"] == "2025-12-13T13:10:00Z"  # docs/contract.md 8 fallback, recorded
    assert (tmp_path / "store" / archive_key(SLOT_C)).is_file()
    assert len(alerts) == 1
    assert "collector if exited with 1" in alerts[0]["text"]
