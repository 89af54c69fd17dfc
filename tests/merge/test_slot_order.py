"""Slot order (issue 14 item 6) and the daily keyframe (issue 11 item 4): a late or replayed slot is refused
before anything is read or written, a committed slot is never rewritten with other data, and the first run of
a UTC day publishes every row."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from merge.slot_order import COMMITTED, NEW, decide_slot, slot_status
from merge.snapshot_keys import snapshot_key
from tests.merge.builders import slot_at
from tests.merge.world import World, local_settings, merge_slot, sqlite_rows, store_snapshot
from utils.constants import price_key
from utils.errors import UsageError
from utils.store import LocalStore
from utils.store_io import read_parquet, write_parquet
from utils.timestamps import slot_iso

S = slot_at(3)


def test_the_order_rule_is_pure_and_total() -> None:
    assert decide_slot(S, None, None) == NEW
    assert decide_slot(S, S - timedelta(minutes=10), slot_iso(S)) == NEW  # SPS ran, merge failed: a rerun
    assert decide_slot(S, S, slot_iso(S)) == COMMITTED
    with pytest.raises(UsageError, match="older than the last committed slot"):
        decide_slot(S, S + timedelta(minutes=10), None)
    with pytest.raises(UsageError, match="older than the last SPS run"):
        decide_slot(S, S - timedelta(minutes=10), slot_iso(S + timedelta(minutes=10)))
    with pytest.raises(UsageError, match="late and replayed slots are refused"):
        decide_slot(S - timedelta(days=1), S, None)  # a replay of yesterday


@pytest.fixture
def env(tmp_path: Path, base_env: dict[str, str]):
    settings = local_settings(tmp_path, base_env)
    return settings, LocalStore(settings.store.root), World()


def test_a_late_slot_is_refused_and_the_next_slot_compares_with_the_last_committed_one(
    env, tmp_path: Path, base_env: dict[str, str]
) -> None:
    # Issue 14.6: 03:30, then 03:20 (late), then 03:40. Here slots 0, 2, then 1 (late), then 3.
    settings, store, world = env
    merge_slot(settings, store, world.write(store, 0))
    merge_slot(settings, store, world.write(store, 2))
    late_key = world.write(store, 1)  # its raw data arrives late
    objects = store_snapshot(store)
    records = sqlite_rows(settings)
    with pytest.raises(UsageError, match="older than the last committed slot"):
        merge_slot(settings, store, late_key)
    assert store_snapshot(store) == objects and sqlite_rows(settings) == records
    after = merge_slot(settings, store, world.write(store, 3))
    assert after["base_state"] == snapshot_key(slot_at(2))

    clean_settings = local_settings(tmp_path / "clean", {**base_env, "SPOTLAKE_STORE": str(tmp_path / "clean/store")})
    clean_store, clean_world = LocalStore(clean_settings.store.root), World()
    for index in (0, 2, 3):
        clean = merge_slot(clean_settings, clean_store, clean_world.write(clean_store, index))
    assert (after["changes"], after["field_changes"]) == (clean["changes"], clean["field_changes"])
    assert sqlite_rows(settings) == sqlite_rows(clean_settings)


def test_a_committed_slot_is_republished_identically_but_never_rewritten_with_other_data(env) -> None:
    settings, store, world = env
    merge_slot(settings, store, world.write(store, 0))
    key = world.write(store, 1)
    merge_slot(settings, store, key)
    assert slot_status(store, slot_at(1)) == COMMITTED
    objects, records = store_snapshot(store), sqlite_rows(settings)
    merge_slot(settings, store, key)  # a rerun after a failure past the commit: same bytes
    assert store_snapshot(store) == objects and sqlite_rows(settings) == records
    # The slot's raw prices change (a collector run again by hand): the merge refuses to rewrite the slot.
    prices = read_parquet(store, price_key(slot_at(1)))
    write_parquet(store, price_key(slot_at(1)), prices.assign(SpotPrice=prices["SpotPrice"] * 2))
    changed = store_snapshot(store)
    with pytest.raises(UsageError, match="already committed with other data"):
        merge_slot(settings, store, key)
    assert store_snapshot(store) == changed and sqlite_rows(settings) == records


def test_the_first_run_of_a_utc_day_publishes_every_row(env) -> None:
    settings, store, world = env
    first = merge_slot(settings, store, world.write(store, 0))  # 13:00
    midnight = 11 * 6  # slot 66 = 00:00 the next day
    assert slot_at(midnight).date() != slot_at(0).date() and slot_at(midnight).hour == 0
    keyframe = merge_slot(settings, store, world.write(store, midnight))
    assert keyframe["keyframe"] and keyframe["changes"] == keyframe["rows"] == first["rows"]
    assert keyframe["timeseries_records"] == keyframe["rows"]
    after = merge_slot(settings, store, world.write(store, midnight + 1))
    assert not after["keyframe"] and after["changes"] < after["rows"]
