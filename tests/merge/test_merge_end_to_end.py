"""End to end in-process: a LocalStore with synthetic raw inputs, several slots rotating the desired count,
real SQLite and file metrics sinks; every published object checked."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from merge.merge_data import LEASE_NAME, build_parser, main
from merge.public import PUBLIC_COLUMNS, public_frame
from merge.snapshot_keys import list_snapshots, snapshot_key
from merge.state import SUMMARY_KEY, read_state
from tests.merge.builders import slot_at, write_slot_inputs
from tests.merge.world import World, local_settings, merge_slot, sqlite_rows, store_snapshot
from utils.constants import (
    LATEST_JSON_KEY,
    LATEST_STATE_KEY,
    QUERY_SELECTOR_KEY,
    archive_key,
    price_key,
    sps_key,
)
from utils.entrypoint import run_entry
from utils.errors import CorruptObject, RunFailed, UsageError
from utils.lease import held
from utils.store import LocalStore
from utils.store_io import read_json, write_parquet
from utils.vm_specs import MERGED_SPEC_COLUMNS

# Spot price history of D2s_v3 in eastus: the one query an operator runs against the SQLite sink.
SPOT_HISTORY_SQL = """
SELECT time, AvailabilityZone, DesiredCount, SpotPrice, Score, T2, T3
FROM azure_timeseries WHERE InstanceType = 'D2s_v3' AND Region = 'US East' ORDER BY time, AvailabilityZone
"""


@pytest.fixture
def env(tmp_path: Path, base_env: dict[str, str]):
    settings = local_settings(tmp_path, base_env)
    return settings, LocalStore(settings.store.root), World()


def check_published_objects(store: LocalStore, index: int, summary: dict) -> pd.DataFrame:
    """The slot's objects agree with each other and with the committed state; returns the merged dataset."""
    merged, observations = read_state(store, LATEST_STATE_KEY)
    assert store.get_bytes(LATEST_STATE_KEY) == store.get_bytes(snapshot_key(slot_at(index)))
    public = public_frame(merged)
    archive = pd.read_csv(io.BytesIO(gzip.decompress(store.get_bytes(archive_key(slot_at(index))))),
                          keep_default_na=False, dtype={"AvailabilityZone": str})  # fmt: skip
    assert list(archive.columns) == [*PUBLIC_COLUMNS, *MERGED_SPEC_COLUMNS]  # the specs: archive only
    assert archive[PUBLIC_COLUMNS].values.tolist() == public.values.tolist()
    latest = json.loads(store.get_bytes(LATEST_JSON_KEY))
    assert [list(record) for record in latest[:1]] == [PUBLIC_COLUMNS]
    assert latest == public.to_dict(orient="records")
    assert not any(v is None or (isinstance(v, float) and np.isnan(v)) for r in latest for v in r.values())
    selector = read_json(store, QUERY_SELECTOR_KEY)
    pairs = {(r["InstanceTier"], r["InstanceType"], r["Region"]) for r in selector}
    assert set(map(tuple, public[["InstanceTier", "InstanceType", "Region"]].values.tolist())) <= pairs
    assert selector == sorted(selector, key=lambda r: (r["InstanceTier"], r["InstanceType"], r["Region"]))
    assert read_json(store, SUMMARY_KEY) == summary
    assert summary["rows"] == len(merged)
    assert summary["slot"] == slot_at(index).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(observations) >= len(merged)
    return merged


def test_several_slots_rotating_desired_counts_publish_consistent_objects_and_records(env) -> None:
    settings, store, world = env
    total_changes = 0
    for index in range(4):
        summary = merge_slot(settings, store, world.write(store, index))
        merged = check_published_objects(store, index, summary)
        total_changes += summary["changes"]
        assert summary["desired_count"] == world.count(index)
        assert summary["timeseries_records"] == summary["changes"]
        assert len(merged) == 18  # 6 pairs x 3 zones, one row each whatever the count
    # Both A1 tiers stay distinct rows everywhere: state, JSON, records.
    a1 = merged[merged["InstanceType"] == "A1"]
    assert sorted(a1["InstanceTier"].unique()) == ["Basic", "Standard"] and len(a1) == 6
    assert len(sqlite_rows(settings, "SELECT * FROM azure_timeseries WHERE InstanceType = 'A1'")) > 0
    tiers = {r[0] for r in sqlite_rows(settings, "SELECT DISTINCT InstanceTier FROM azure_timeseries "
                                                 "WHERE InstanceType = 'A1'")}  # fmt: skip
    assert tiers == {"Basic", "Standard"}
    assert len(sqlite_rows(settings)) == total_changes
    history = sqlite_rows(settings, SPOT_HISTORY_SQL)
    assert history[0] == ("2025-12-13 13:00:00", "1", 1.0, 0.0192, 3.0, 1.0, 1.0)
    assert sqlite_rows(settings, "SELECT DISTINCT Region, RegionCode FROM azure_timeseries ORDER BY 1") == [
        ("EU West", "westeurope"), ("US East", "eastus")]
    assert {row[0] for row in history} <= {f"2025-12-13 13:{m}0:00" for m in range(4)}
    metrics = (Path(settings.metrics.path)).read_text().splitlines()
    assert metrics[-1] == "2025-12-13T13:30:00Z AZUREONDEMAND: 18 AZURESPOT: 18 AZUREIF: 18 AZURESPS: 17"


def test_the_steady_state_writes_only_real_changes(env) -> None:
    settings, store, world = env
    # First rotation: every (row, count) is new once. Second: each count sees the settled T2/T3 once.
    changes = [merge_slot(settings, store, world.write(store, index))["changes"] for index in range(22)]
    assert changes[:11] == [18] + [17] * 10  # the stale zone keeps its count-1 probe (no score since)
    quiet = merge_slot(settings, store, world.write(store, 22))
    assert quiet["changes"] == 0 and quiet["timeseries_records"] == 0
    world.spot_override[("Standard", "D2s_v3", "eastus")] = 0.02
    moved = merge_slot(settings, store, world.write(store, 23))
    assert moved["changes"] == 3 and moved["field_changes"]["SpotPrice"] == 3  # the pair's three zones
    assert moved["field_changes"]["Savings"] == 3
    again = merge_slot(settings, store, world.write(store, 24))
    assert again["changes"] == 0  # the new price was published at slot 23 (count 5), whatever the count now
    world.spot_override.clear()
    back = merge_slot(settings, store, world.write(store, 25))
    assert back["changes"] == 3 and back["field_changes"]["SpotPrice"] == 3  # the revert is written (issue 14.4)
    history = sqlite_rows(settings, SPOT_HISTORY_SQL)
    assert [(r[0], r[3]) for r in history[-6:]] == [("2025-12-13 16:50:00", 0.02)] * 3 + [
        ("2025-12-13 17:10:00", 0.0192)] * 3  # fmt: skip


def test_rows_not_probed_are_carried_and_unpriced_unprobed_rows_leave(env) -> None:
    settings, store, world = env
    merge_slot(settings, store, world.write(store, 0))
    world.unprobed = {("Standard", "D4s_v3", "eastus"), ("Standard", "D2s_v3", "westeurope")}
    world.unpriced = {("Standard", "D2s_v3", "westeurope")}
    summary = merge_slot(settings, store, world.write(store, 1))
    merged = check_published_objects(store, 1, summary)
    assert (summary["probed_rows"], summary["carried_rows"], summary["dropped_previous_rows"]) == (12, 3, 3)
    carried = merged[merged["InstanceType"] == "D4s_v3"]
    assert carried["DesiredCount"].tolist() == [1, 1, 1]
    assert (carried["Time"] == pd.Timestamp(slot_at(0))).all()
    assert not ((merged["InstanceType"] == "D2s_v3") & (merged["Region"] == "westeurope")).any()
    # The query selector still remembers the pair that left.
    selector = read_json(store, QUERY_SELECTOR_KEY)
    assert {"InstanceTier": "Standard", "InstanceType": "D2s_v3", "Region": "EU West"} in selector


def test_rerunning_a_committed_slot_rewrites_identical_objects_and_no_duplicate_records(env) -> None:
    settings, store, world = env
    for index in range(3):
        merge_slot(settings, store, world.write(store, index))
    objects, records = store_snapshot(store), sqlite_rows(settings)
    assert merge_slot(settings, store, sps_key(slot_at(2), world.count(2)))["changes"] > 0
    assert store_snapshot(store) == objects
    assert sqlite_rows(settings) == records


def test_rerunning_an_older_slot_is_refused_and_changes_nothing(env) -> None:
    settings, store, world = env
    for index in range(3):
        merge_slot(settings, store, world.write(store, index))
    objects = store_snapshot(store)
    with pytest.raises(UsageError, match="older than the last committed slot"):
        merge_slot(settings, store, sps_key(slot_at(1), world.count(1)))
    assert store_snapshot(store) == objects


def test_missing_price_and_if_fall_back_to_the_newest_earlier_dataset_and_say_so(env) -> None:
    settings, store, world = env
    merge_slot(settings, store, world.write(store, 0))
    world.write(store, 1, price=False)  # slot 1: IF only
    key = world.write(store, 2, price=False, if_data=False)
    store.put_bytes(price_key(slot_at(2)), b"not parquet")  # a corrupt price object counts as missing
    summary = merge_slot(settings, store, key)
    assert summary["price_slot"] == "2025-12-13T13:00:00Z"
    assert summary["if_slot"] == "2025-12-13T13:10:00Z"
    assert summary["rows"] == 18


def test_no_price_within_the_fallback_window_fails_the_run_and_keeps_the_state(env) -> None:
    settings, store, world = env
    merge_slot(settings, store, world.write(store, 0))
    state = store.get_bytes(LATEST_STATE_KEY)
    late = 24 * 6 + 1  # 24 h and 10 min later
    with pytest.raises(RunFailed, match="price"):
        merge_slot(settings, store, world.write(store, late, price=False))
    assert store.get_bytes(LATEST_STATE_KEY) == state


def test_an_sps_object_not_matching_its_key_is_corrupt_input(env) -> None:
    settings, store, world = env
    key = world.write(store, 0)
    frame = pd.read_parquet(io.BytesIO(store.get_bytes(key)))
    write_parquet(store, sps_key(slot_at(0), 5), frame)  # rows say count 1, the key says 5
    with pytest.raises(CorruptObject, match="desired counts"):
        merge_slot(settings, store, sps_key(slot_at(0), 5))
    write_parquet(store, sps_key(slot_at(1), 1), frame)  # rows say 13:00, the key says 13:10
    with pytest.raises(CorruptObject, match="Time"):
        merge_slot(settings, store, sps_key(slot_at(1), 1))
    store.put_bytes(key, b"PAR1 truncated")
    with pytest.raises(CorruptObject):
        merge_slot(settings, store, key)


def test_a_key_naming_a_missing_sps_object_is_bad_input(env) -> None:
    settings, store, _world = env
    with pytest.raises(UsageError, match="missing object"):
        merge_slot(settings, store, sps_key(slot_at(0), 1))


def test_a_corrupt_base_state_stops_the_run_instead_of_starting_over(env) -> None:
    settings, store, world = env
    merge_slot(settings, store, world.write(store, 0))
    store.put_bytes(snapshot_key(slot_at(0)), b"garbage")
    with pytest.raises(CorruptObject):
        merge_slot(settings, store, world.write(store, 1))


def test_snapshots_older_than_the_retention_are_pruned_but_never_the_base(env) -> None:
    settings, store, world = env
    merge_slot(settings, store, world.write(store, 0))
    merge_slot(settings, store, world.write(store, 1))
    late = 6 * 49  # 49 h after slot 0
    summary = merge_slot(settings, store, world.write(store, late))
    assert summary["base_state"] == snapshot_key(slot_at(1))
    assert [s for s, _ in list_snapshots(store)] == [slot_at(1), slot_at(late)]  # slot 0 pruned, base kept
    merge_slot(settings, store, world.write(store, late + 1))
    assert [s for s, _ in list_snapshots(store)] == [slot_at(late), slot_at(late + 1)]


def test_a_second_merge_while_one_holds_the_lease_fails_with_exit_1(env, base_env, tmp_path) -> None:
    _settings, store, world = env
    key = world.write(store, 0)
    run_env = {**base_env, "SPOTLAKE_STORE": str(tmp_path / "store"),
               "SPOTLAKE_TIMESERIES": "none", "SPOTLAKE_METRICS": "none"}  # fmt: skip
    with held(store, LEASE_NAME, 600):
        assert run_entry("merge", build_parser(), main, argv=["--sps_key", key], env=run_env) == 1
    assert not store.exists(LATEST_STATE_KEY)
    assert run_entry("merge", build_parser(), main, argv=["--sps_key", key], env=run_env) == 0
    assert store.exists(LATEST_STATE_KEY)


def test_rows_of_a_region_no_price_names_publish_the_arm_code_and_log_one_warning(env, caplog) -> None:
    settings, store, _world = env
    key = write_slot_inputs(store, slot_at(0), 1, sps_rows=[("Standard", "D2s_v3", "eastus", "1", 3),
                                                            ("Standard", "D2s_v3", "newregion", "1", 3),
                                                            ("Standard", "D2s_v3", "newregion", "2", 2)],
                            price_rows=[("Standard", "D2s_v3", "eastus", 0.096, 0.0192)], if_rows=[])  # fmt: skip
    caplog.set_level("WARNING")
    summary = merge_slot(settings, store, key)
    latest = json.loads(store.get_bytes(LATEST_JSON_KEY))
    assert sorted({(r["Region"], r["RegionCode"]) for r in latest}) == [("US East", "eastus"),
                                                                         ("newregion", "newregion")]
    warnings = [r.getMessage() for r in caplog.records if "no display location" in r.getMessage()]
    assert warnings == ["2 of 3 rows have no display location (no price row in their region); their public "
                        "Region is the ARM code"]  # fmt: skip
    assert summary["rows_without_display_location"] == 2
