"""Cutover: a store written in the earlier public naming (ARM codes in the public ``Region``, ISO ``Time``, no
``RegionCode``, no association file, a SQLite table without ``RegionCode``) is migrated by its first run.

The reference is a control store that ran the same slots in the new naming from the start: after the first
run on the migrated store, every object and every time-series row is the control's, so nothing is reported
as a change for the renaming alone and T2/T3 are kept.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from pathlib import Path

import pytest

from merge.state import SUMMARY_KEY, read_state
from tests.merge.world import World, local_settings, merge_slot, sqlite_rows, store_snapshot
from tests.utils.sink_records import pre_cutover_table
from utils.constants import ASSOCIATION_KEY, LATEST_JSON_KEY, LATEST_STATE_KEY, MERGED_COLUMNS, QUERY_SELECTOR_KEY
from utils.settings import Settings
from utils.store import LocalStore
from utils.store_io import read_json, write_json

BEFORE, CUTOVER = 2, 2  # slots 0-1 committed before the cutover; slot 2 is the first run after it
# Every time-series row, columns named (an upgraded table has RegionCode last).
ROWS_SQL = ("SELECT InstanceTier, InstanceType, Region, AvailabilityZone, RegionCode, DesiredCount, OndemandPrice, "
            "SpotPrice, Savings, IF, T2, T3, Score, time FROM azure_timeseries ORDER BY 1, 2, 3, 4, time")

# The SQLite table as the collector created it before RegionCode existed.
PRE_CUTOVER_TABLE = pre_cutover_table("old") + """
INSERT INTO old SELECT InstanceTier, InstanceType, RegionCode, AvailabilityZone, DesiredCount, OndemandPrice,
    SpotPrice, Savings, IF, T2, T3, Score, time FROM azure_timeseries;
DROP TABLE azure_timeseries;
ALTER TABLE old RENAME TO azure_timeseries;
CREATE INDEX azure_timeseries_type_region_time ON azure_timeseries (InstanceType, Region, time);
"""


def run_slots(settings: Settings, store: LocalStore, world: World, indexes: range) -> list[dict]:
    return [merge_slot(settings, store, world.write(store, index)) for index in indexes]


def rewrite_in_the_old_naming(settings: Settings, store: LocalStore) -> None:
    """What the collector's earlier public outputs looked like, from the committed state."""
    merged, _observations = read_state(store, LATEST_STATE_KEY)
    selector = merged[["InstanceTier", "InstanceType", "Region"]].drop_duplicates().sort_values(
        ["InstanceTier", "InstanceType", "Region"])  # fmt: skip
    write_json(store, QUERY_SELECTOR_KEY, selector.to_dict(orient="records"), public=True)
    old = merged[MERGED_COLUMNS].assign(Time=merged["Time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    store.put_bytes(LATEST_JSON_KEY, old.to_json(orient="records").encode(), public=True)
    store.delete(ASSOCIATION_KEY)
    with sqlite3.connect(settings.timeseries.sqlite_path) as db:
        db.executescript(PRE_CUTOVER_TABLE)


@pytest.fixture
def stores(tmp_path: Path, base_env: dict[str, str]):
    control = local_settings(tmp_path / "control", base_env)
    migrated = local_settings(tmp_path / "migrated", base_env)
    return (control, LocalStore(control.store.root)), (migrated, LocalStore(migrated.store.root))


def test_the_first_run_on_an_old_naming_store_migrates_it_to_exactly_the_new_naming(stores, caplog) -> None:
    (control, control_store), (migrated, migrated_store) = stores
    run_slots(control, control_store, World(), range(BEFORE + 1))
    run_slots(migrated, migrated_store, World(), range(BEFORE))
    rewrite_in_the_old_naming(migrated, migrated_store)
    old_selector = read_json(migrated_store, QUERY_SELECTOR_KEY)
    assert {entry["Region"] for entry in old_selector} == {"eastus", "westeurope"}
    state_before, _ = read_state(migrated_store, LATEST_STATE_KEY)

    caplog.set_level(logging.INFO)
    (summary,) = run_slots(migrated, migrated_store, World(), range(CUTOVER, CUTOVER + 1))

    cutover = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cutover:")]
    assert cutover == [f"cutover: the query selector named {len(old_selector)} entries by ARM region code; "
                       "renamed to display locations (public Region is now the display location, RegionCode "
                       "the ARM code); the state needs no rewrite (it keeps ARM codes)"]  # fmt: skip
    assert "time-series cutover:" in caplog.text
    # Nothing changed for the renaming alone: the summary, state (T2/T3 included), public objects and
    # time-series rows are the control store's.
    assert summary == read_json(control_store, SUMMARY_KEY)
    assert store_snapshot(migrated_store) == store_snapshot(control_store)
    assert sqlite_rows(migrated, ROWS_SQL) == sqlite_rows(control, ROWS_SQL)
    state_after, _ = read_state(migrated_store, LATEST_STATE_KEY)
    carried = state_before.merge(state_after, on=["InstanceTier", "InstanceType", "Region", "AvailabilityZone"])
    assert (carried["T2_y"] >= carried["T3_y"]).all() and len(carried) == len(state_before)
    latest = json.loads(migrated_store.get_bytes(LATEST_JSON_KEY))
    assert {(r["Region"], r["RegionCode"]) for r in latest} == {("US East", "eastus"), ("EU West", "westeurope")}

    caplog.clear()
    run_slots(migrated, migrated_store, World(), range(CUTOVER + 1, CUTOVER + 2))
    assert "cutover" not in caplog.text  # once: the next run finds the store in the new naming


def test_a_pre_cutover_sqlite_table_gets_its_rows_renamed_without_duplicates(stores, tmp_path: Path) -> None:
    (control, control_store), (migrated, migrated_store) = stores
    run_slots(control, control_store, World(), range(BEFORE + 1))
    shutil.copytree(control_store.root, migrated_store.root, dirs_exist_ok=True)
    shutil.copy(control.timeseries.sqlite_path, migrated.timeseries.sqlite_path)
    rewrite_in_the_old_naming(migrated, migrated_store)
    # A rerun of the last pre-cutover slot: its renamed points replace the old ones, none is duplicated.
    merge_slot(migrated, migrated_store, World().write(migrated_store, BEFORE))
    assert sqlite_rows(migrated, ROWS_SQL) == sqlite_rows(control, ROWS_SQL)
