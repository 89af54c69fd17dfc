"""SPS state files tolerate corruption; the plan CLI and the lease conflict through the scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from sps_module.quota_ledger import QuotaLedger
from sps_module.request_planner import PlannedCall, RequestPlan
from sps_module.snapshot import read_snapshot
from sps_module.sps_prepare_parameters import save_plan
from sps_module.sps_shared_resources import (
    AVAILABLE_LOCATIONS,
    CALL_HISTORY,
    INVALID_RECHECK_HOURS,
    INVALID_REGIONS,
    LAST_RUN,
    OVER_LIMIT,
    STATE_LEASE,
    LearnedInvalid,
    LedgerState,
    SpsState,
    SweepCursor,
)
from tests.conftest import REPO_ROOT
from utils.constants import SPS_METADATA_KEY, sps_key, sps_saved_key
from utils.lease import acquire
from utils.store import LocalStore
from utils.store_io import read_json, write_parquet, write_yaml

WINDOW = 3720.0


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "store")


TODAY = "2026-03-04"
SLOT = datetime(2026, 3, 4, 0, 10, tzinfo=UTC)


@pytest.mark.parametrize("content", [b"{broken", b'{"not": "a list"}', b"[1, 2]", b'{"workload_date": 1}'])
def test_a_corrupt_invalid_list_is_read_as_empty_with_a_warning(store, content, caplog):
    store.put_bytes(sps_saved_key(INVALID_REGIONS), content)
    assert SpsState(store).invalid_regions(TODAY, SLOT) == set()
    assert "SPS state" in caplog.text


def test_learned_invalid_values_accumulate_within_a_workload_date(store):
    state = SpsState(store)
    state.add_invalid(TODAY, SLOT, {"mars"}, set())
    state.add_invalid(TODAY, SLOT + timedelta(minutes=10), {"venus"}, {"Standard_Z1"})
    later = SLOT + timedelta(minutes=20)
    assert state.invalid_regions(TODAY, later) == {"mars", "venus"}
    assert state.invalid_sizes(TODAY, later) == {"Standard_Z1"}


def test_learned_invalid_values_expire_at_the_next_daily_replan_and_after_the_recheck_period(store):
    state = SpsState(store)
    state.add_invalid(TODAY, SLOT, {"japaneast"}, {"Standard_E2s_v5"})
    recheck = SLOT + timedelta(hours=INVALID_RECHECK_HOURS)
    assert state.invalid_regions(TODAY, recheck - timedelta(minutes=10)) == {"japaneast"}
    assert state.invalid_regions(TODAY, recheck) == set() and state.invalid_sizes(TODAY, recheck) == set()
    next_day = datetime(2026, 3, 5, 0, 0, tzinfo=UTC)
    assert state.invalid_regions("2026-03-05", next_day) == set()
    # Learning on the next day starts a new list: yesterday's values are not carried over.
    state.add_invalid("2026-03-05", next_day, {"mars"}, set())
    assert read_json(store, sps_saved_key(INVALID_REGIONS)) == {
        "workload_date": "2026-03-05", "learned": {"mars": "2026-03-05T00:00:00Z"}}


def test_an_undated_list_of_an_earlier_version_is_read_as_expired(store):
    store.put_bytes(sps_saved_key(INVALID_REGIONS), b'["japaneast"]')
    assert SpsState(store).invalid_regions(TODAY, SLOT) == set()


def test_a_corrupt_location_list_is_ignored(store):
    store.put_bytes(sps_saved_key(AVAILABLE_LOCATIONS), b'{"date": "2026-01-01"}')
    assert SpsState(store).available_locations() is None


def test_the_ledger_survives_a_save_and_load(store):
    state = SpsState(store)
    ledger = QuotaLedger(["s1", "s2"], ["eastus"], 10, WINDOW)
    for _ in range(3):
        ledger.acquire(1000.0)
    ledger.mark_over_limit(("s2", "eastus"), 1000.0)
    state.save_ledger(ledger, 1001.0)
    loaded = QuotaLedger(["s1", "s2"], ["eastus"], 10, WINDOW)
    state.load_ledger(loaded, 1002.0)
    assert loaded.call_history(1002.0) == ledger.call_history(1002.0)
    assert loaded.over_limit(1002.0) == ledger.over_limit(1002.0)
    assert loaded.acquire(1002.0) == ledger.acquire(1002.0)


def test_a_corrupt_call_history_assumes_full_use_at_the_end_of_the_last_run(store):
    state = SpsState(store)
    state.save_last_run({"finished_at": 5000.0})
    store.put_bytes(sps_saved_key(CALL_HISTORY), b"\x00garbage")
    ledger = QuotaLedger(["s1"], ["eastus", "westus"], 10, WINDOW)
    state.load_ledger(ledger, 6000.0)
    assert ledger.available(6000.0) == 0
    assert ledger.available(5000.0 + WINDOW) == 20


def test_a_corrupt_call_history_without_a_last_run_blocks_from_now(store):
    state = SpsState(store)
    store.put_bytes(sps_saved_key(CALL_HISTORY), b'{"calls": {"no-slash": [1]}}')
    store.put_bytes(sps_saved_key(LAST_RUN), b"nope")
    ledger = QuotaLedger(["s1"], ["eastus"], 10, WINDOW)
    state.load_ledger(ledger, 7000.0)
    assert ledger.available(7000.0 + WINDOW - 1) == 0


def test_a_corrupt_over_limit_list_resets_cool_downs(store):
    store.put_bytes(sps_saved_key(OVER_LIMIT), b'{"s1/eastus": "soon"}')
    ledger = QuotaLedger(["s1"], ["eastus"], 10, WINDOW)
    SpsState(store).load_ledger(ledger, 0.0)
    assert ledger.available(0.0) == 10


def test_load_sps_plan_prints_the_plan_json(tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("Region,InstanceType\neastus,Standard_A\nwestus,Standard_A\neastus,Standard_B\n")
    done = subprocess.run([sys.executable, "sps/load_sps.py", "plan", "--pairs", str(pairs)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["pairs"] == 3 and result["calls"] == 1 and result["lower_bound"] == 1
    assert result["plan"] == [{"regions": ["eastus", "westus"], "sizes": ["Standard_A", "Standard_B"]}]


def test_load_sps_plan_rejects_a_missing_file_with_exit_2(tmp_path):
    done = subprocess.run([sys.executable, "sps/load_sps.py", "plan", "--pairs", str(tmp_path / "none.csv")],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2


def test_a_second_concurrent_run_exits_1_with_a_clear_message(base_env, tmp_path):
    store = LocalStore(tmp_path / "store")
    acquire(store, STATE_LEASE, 600)
    env = {**os.environ, **base_env, "SPOTLAKE_EMULATOR_URL": "http://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "sps/collect_sps.py", "--timestamp", "2026-03-04 12:30"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "another run is in progress" in done.stderr


def test_the_snapshot_holds_what_each_state_file_says(store):
    """``read_snapshot`` reads every file the slot's plan needs, once, as the per-file readers do."""

    state = SpsState(store)
    state.add_invalid(TODAY, SLOT, {"mars"}, set())
    state.save_maps(TODAY, {"eastus": ["Standard_A"]}, {"Standard_A": ["eastus"]})
    calls = (PlannedCall(("eastus",), ("Standard_A",)),)
    save_plan(store, RequestPlan(calls=calls, pairs=1, regions=1, sizes=1, lower_bound=1, seconds=0.0), TODAY)
    state.save_available_locations(TODAY, ["westus", "eastus"])
    state.save_sweep_cursor(TODAY, 3)
    state.save_last_run({"finished_at": 5000.0})
    ledger = QuotaLedger(["s1"], ["eastus"], 10, WINDOW)
    ledger.acquire(4000.0)
    state.save_ledger(ledger, 4001.0)
    metadata = {"desired_count_index": 1, "workload_date": TODAY, "last_timestamp": "2026-03-04T00:00:00Z",
                "last_desired_count": 1}
    write_yaml(store, SPS_METADATA_KEY, metadata)
    write_parquet(store, sps_key(SLOT, 5), pd.DataFrame({"x": [1]}))

    snapshot = read_snapshot(store, SLOT)
    assert (snapshot.slot, snapshot.metadata, snapshot.stored_counts) == (SLOT, metadata, (5,))
    assert snapshot.learned_regions == LearnedInvalid(TODAY, {"mars": SLOT})
    assert snapshot.learned_sizes == LearnedInvalid("", {})
    assert (snapshot.workload_date, snapshot.region_map, snapshot.stored_plan) == (TODAY, {"eastus": ["Standard_A"]},
                                                                                  calls)
    assert (snapshot.locations.date, snapshot.locations.locations) == (TODAY, ["eastus", "westus"])
    assert snapshot.sweep_cursor == SweepCursor(TODAY, 3)
    assert snapshot.ledger == LedgerState({"window_seconds": WINDOW, "saved_at": 4001.0,
                                           "calls": {"s1/eastus": [4000.0]}}, True, 5000.0, {}, ("s1", "eastus"))
    # Another day: the plan is stale, the learned values are not in force (plan_slot), the cursor restarts.
    next_day = read_snapshot(store, datetime(2026, 3, 5, tzinfo=UTC))
    assert next_day.stored_plan is None and next_day.stored_counts == ()
    assert next_day.sweep_cursor.start("2026-03-05") == 0


def test_an_empty_store_gives_the_empty_snapshot(store):
    snapshot = read_snapshot(store, SLOT)
    assert (snapshot.metadata, snapshot.stored_counts, snapshot.stored_plan, snapshot.locations,
            snapshot.sweep_cursor) == (None, (), None, None, None)
    assert snapshot.learned_regions == snapshot.learned_sizes == LearnedInvalid("", {})
    assert (snapshot.workload_date, snapshot.region_map) == (None, {})
    assert snapshot.ledger == LedgerState(None, False, None, {}, None)
