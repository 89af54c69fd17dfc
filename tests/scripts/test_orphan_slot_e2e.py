"""Orphan slots end to end (docs/contract.md 8): through the real ``scripts/run_collection.sh`` in emulator mode,
a slot whose merge dies right after the time-series step, and is never rerun, is corrected by the next slot.

- S0 (13:00) runs normally and commits.
- S1 (13:10) sees another spot price for one size (westus2 D2s_v3). Its merge is stopped between the time
  series and the commit. On a local store it is killed for real: the metrics sink is a FIFO, so the merge
  blocks opening it (the step right after the time series) and the test sends SIGKILL to the run's whole
  process group once the merge has logged the time-series step, as a host loss would. On S3 with Timestream
  (moto) the metrics step fails instead (its file is a directory): the merge exits 1, leases released.
- S2 (13:20) sees S0's price again and runs normally. No one reruns S1 (a rerun would now be refused as
  late).

Then, for every row of S2's latest JSON, the series' latest point at or before S2 must hold that row's
values. The moved size's zones 2 and 3 are zone-restricted (``RestrictedSkuNotAvailable``: no score, so
no Score change at S2's new desired count either): against the committed S0 state they are unchanged at
S2, and without the orphan rule S2 writes nothing for them, leaving S1's price as their latest point.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from bench.reliability.script_runner import REPO, SCRIPT, ScriptRun, capture_server, run_script, script_env
from merge.snapshot_keys import snapshot_key
from tests.scripts.test_run_collection_moto import BUCKET, PREFIX, aws_env, client, provision, timestream_records
from tests.utils.series_points import parquet_points, series_mismatches, sqlite_points, timestream_points
from utils.constants import LATEST_JSON_KEY
from utils.store import LocalStore
from utils.timeseries import timeseries_written_key

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("orphan_slot_e2e")]

S0, S1, S2 = (datetime(2025, 12, 13, 13, m, tzinfo=UTC) for m in (0, 10, 20))
SUMMARY_KEY = "latest_data/azure/last_merge_summary.json"
CATALOG = """Region,InstanceType,OndemandPrice,SpotPrice,Restricted
eastus,Standard_D2s_v3,0.096,0.0192,
eastus,Standard_E4s_v5,0.252,0.0504,
westus2,Standard_D2s_v3,0.096,{westus2_d2},"Zone:2,3"
westus2,Standard_F4s_v2,0.169,0.0338,
"""
PRICE, MOVED_PRICE = 0.0211, 0.03


def catalog(directory: Path, spot: float) -> Path:
    path = directory / f"catalog_{spot}.csv"
    path.write_text(CATALOG.format(westus2_d2=spot))
    return path


def at_text(slot: datetime) -> str:
    return slot.strftime("%Y-%m-%dT%H:%M:%SZ")


def kill_after_the_timeseries_step(env: dict[str, str], slot: datetime, workdir: Path,
                                   timeout: float = 180) -> ScriptRun:  # fmt: skip
    """Run the script for ``slot`` and SIGKILL its process group while its merge is held at the metrics step."""
    fifo = workdir / "metrics.fifo"
    os.mkfifo(fifo)  # opening it blocks until a writer comes, and none ever does
    log_path = workdir / f"{slot:%H-%M}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["bash", str(SCRIPT), at_text(slot)], env={**env, "SPOTLAKE_METRICS": f"file://{fifo}"},
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + timeout
        try:
            while "publish timeseries done" not in log_path.read_text():
                assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before the time-series step:\n" \
                                            f"{log_path.read_text()[-4000:]}"  # fmt: skip
                assert time.monotonic() < deadline, f"no time-series step within {timeout}s"
                time.sleep(0.1)
            time.sleep(0.5)  # the merge is now blocked opening the FIFO: nothing after the time series runs
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    text = log_path.read_text()
    return ScriptRun(proc.returncode, text, text)


def check_s2(points: pd.DataFrame, latest: list[dict], summary: dict, stderr: str) -> None:
    # The scenario bites: S1 wrote the moved price for the restricted zones, which S2 does not change.
    moved = points[(points["time"] == pd.Timestamp(S1)) & (points["InstanceType"] == "D2s_v3")
                   & (points["Region"] == "US West 2")]  # fmt: skip
    assert sorted(moved["AvailabilityZone"]) == ["1", "2", "3"] and set(moved["SpotPrice"]) == {MOVED_PRICE}
    assert {row["SpotPrice"] for row in latest if row["InstanceType"] == "D2s_v3" and row["RegionCode"] == "westus2"} \
        == {PRICE}  # fmt: skip
    assert series_mismatches(points, S2, latest) == []
    assert summary["slot"] == "2025-12-13T13:20:00Z"
    assert summary["orphan_slots"] == ["2025-12-13T13:10:00Z"]
    assert summary["orphan_keys_republished"] >= 3  # at least the moved size's zones
    assert summary["changes"] == summary["timeseries_records"]  # the forced rows count as changes
    assert "orphan slot(s) 2025-12-13T13:10:00Z wrote the time series and were never committed" in stderr


@pytest.mark.parametrize("sink", ["sqlite", "parquet"])
def test_a_killed_slot_s_points_are_corrected_by_the_next_slot_on_a_local_store(sink: str, tmp_path: Path) -> None:
    store = tmp_path / "store"
    env = script_env({"SPOTLAKE_STORE": str(store), "SPS_KEY_FILE": str(tmp_path / "sps_key.txt"),
                      **({"SPOTLAKE_TIMESERIES": "parquet"} if sink == "parquet" else {})})  # fmt: skip
    first = run_script({**env, "SPOTLAKE_EMULATOR_CATALOG": str(catalog(tmp_path, PRICE))}, at_text(S0))
    assert first.returncode == 0, first.stderr[-4000:]

    killed = kill_after_the_timeseries_step({**env, "SPOTLAKE_EMULATOR_CATALOG": str(catalog(tmp_path, MOVED_PRICE))},
                                            S1, tmp_path)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    ledger_written = (store / timeseries_written_key(S1)).is_file()  # checked last: the data comes first
    assert not (store / snapshot_key(S1)).exists()  # never committed
    assert json.loads((store / SUMMARY_KEY).read_text())["slot"] == "2025-12-13T13:00:00Z"

    third = run_script({**env, "SPOTLAKE_EMULATOR_CATALOG": str(catalog(tmp_path, PRICE))}, at_text(S2))
    assert third.returncode == 0, third.stderr[-4000:]
    assert "took over lease run from" in third.stderr  # the killed run's holder is provably dead
    points = sqlite_points(store / "timeseries.db") if sink == "sqlite" else parquet_points(LocalStore(store))
    check_s2(points, json.loads((store / LATEST_JSON_KEY).read_text()), json.loads((store / SUMMARY_KEY).read_text()),
             third.stderr)  # fmt: skip
    assert ledger_written  # the slot's keys were recorded before its sink was written


def test_a_failed_slot_s_timestream_points_are_corrected_by_the_next_slot(moto_endpoint: str, tmp_path: Path) -> None:
    (tmp_path / "metrics-dir").mkdir()
    with capture_server() as hook:
        provision(moto_endpoint, hook.url)
        env = aws_env(tmp_path, moto_endpoint)
        first = run_script({**env, "SPOTLAKE_EMULATOR_CATALOG": str(catalog(tmp_path, PRICE))}, at_text(S0),
                           cwd=tmp_path)  # fmt: skip
        failed = run_script({**env, "SPOTLAKE_EMULATOR_CATALOG": str(catalog(tmp_path, MOVED_PRICE)),
                             "SPOTLAKE_METRICS": f"file://{tmp_path / 'metrics-dir'}"},
                            at_text(S1), cwd=tmp_path)  # fmt: skip
        third = run_script({**env, "SPOTLAKE_EMULATOR_CATALOG": str(catalog(tmp_path, PRICE))}, at_text(S2),
                           cwd=tmp_path)  # fmt: skip
        alerts = list(hook.bodies)
    assert first.returncode == 0, first.stderr[-4000:]
    assert failed.returncode == 1
    assert "cannot append metrics to" in failed.stderr and "publish timeseries done" in failed.stderr
    assert third.returncode == 0, third.stderr[-4000:]
    assert len(alerts) == 1  # the failed slot's one alert

    s3 = client("s3", moto_endpoint)

    def read(key: str) -> object:
        return json.loads(s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}")["Body"].read())

    check_s2(timestream_points(timestream_records(moto_endpoint)), read(LATEST_JSON_KEY), read(SUMMARY_KEY),
             third.stderr)  # fmt: skip
