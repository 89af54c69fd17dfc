"""Orphan slots (docs/contract.md 8; ``merge.orphans``): a slot whose merge wrote the time series and died
before its commit, and that is never rerun, must not leave a reader of the series with its values.

The scenario of the bug, in process and for every sink: slot 0 commits; slot 1 moves one size's spot price
and its merge dies right after the time-series step; slot 2 sees the old price again. Against the committed
state (slot 0) slot 2 has no change for that size, so without the orphan rule nothing is written and the
series' latest point is slot 1's price for good. Every slot probes the same desired count, so a row
without a price move is no change at all and the series shows exactly what change detection decided.
The same through ``scripts/run_collection.sh``: tests/scripts/test_orphan_slot_e2e.py.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import boto3
import pandas as pd
import pytest

from merge.orphans import Orphans, find_orphans, forced_row_keys, orphan_slots
from merge.state import SUMMARY_KEY
from tests.merge.builders import merged_frame, slot_at
from tests.merge.faults import CrashingMetricsSink, InjectedCrash
from tests.merge.world import World, local_settings, merge_slot
from tests.utils.series_points import parquet_points, series_mismatches, sqlite_points, timestream_points
from utils.constants import LATEST_JSON_KEY, ROW_KEY_COLUMNS
from utils.settings import Settings, TimeseriesConfig
from utils.store import LocalStore
from utils.store_io import read_json
from utils.timeseries import TimestreamSink, list_written_ledgers, open_timeseries_sink, timeseries_written_key
from utils.timestamps import slot_iso

MOVED = ("Standard", "D2s_v3", "eastus")  # its three zones are the orphan's keys that matter


class SameCount(World):
    def count(self, index: int) -> int:
        return 1


class Sinks:
    """One sink kind for a test: how to open it and how to read its points back."""

    def __init__(self, kind: str, tmp_path: Path, base_env: dict[str, str], request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.settings: Settings = local_settings(tmp_path, base_env)
        if kind == "parquet":
            self.settings = replace(self.settings, timeseries=TimeseriesConfig(kind="parquet"))
        self.store = LocalStore(self.settings.store.root)
        if kind == "timestream":
            endpoint = request.getfixturevalue("moto_endpoint")
            self.client = boto3.client("timestream-write", endpoint_url=endpoint, region_name="us-west-2")
            self.client.create_database(DatabaseName="spotlake")
            self.client.create_table(DatabaseName="spotlake", TableName="azure")
            self.clock = iter(range(1_800_000_000, 1_900_000_000, 10))  # a later Version for every write

    def sink(self):
        if self.kind == "timestream":
            return TimestreamSink(self.client, "spotlake", "azure", version_clock=lambda: next(self.clock))
        return open_timeseries_sink(self.settings, self.store)

    def merge(self, world: World, index: int, *, crash: bool = False) -> dict:
        key = world.write(self.store, index)
        if not crash:
            return merge_slot(self.settings, self.store, key, timeseries_sink=self.sink())
        with pytest.raises(InjectedCrash):  # the metrics step: right after the time series, before the commit
            merge_slot(self.settings, self.store, key, timeseries_sink=self.sink(), metrics_sink=CrashingMetricsSink())
        return {}

    def points(self) -> pd.DataFrame:
        if self.kind == "sqlite":
            return sqlite_points(Path(self.settings.timeseries.sqlite_path))
        if self.kind == "parquet":
            return parquet_points(self.store)
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.timestreamwrite.models import timestreamwrite_backends

        backend = timestreamwrite_backends[DEFAULT_ACCOUNT_ID]["us-west-2"]
        return timestream_points(backend.databases["spotlake"].tables["azure"].records)

    def mismatches(self, slot: datetime) -> list[str]:
        return series_mismatches(self.points(), slot, read_json(self.store, LATEST_JSON_KEY))


def crashed_after_the_time_series(kind: str, tmp_path: Path, base_env: dict[str, str],
                                  request: pytest.FixtureRequest) -> tuple[Sinks, SameCount]:
    """Slot 0 committed; slot 1 moved one size's spot price, wrote the time series and died before its commit."""
    sinks, world = Sinks(kind, tmp_path, base_env, request), SameCount()
    sinks.merge(world, 0)
    world.spot_override[MOVED] = 0.05
    sinks.merge(world, 1, crash=True)
    return sinks, world


SINK_KINDS = ["sqlite", "parquet", "timestream"]


@pytest.mark.parametrize("kind", SINK_KINDS)
def test_a_slot_that_died_after_the_time_series_is_corrected_by_the_next_slot(
    kind: str, tmp_path: Path, base_env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    sinks, world = crashed_after_the_time_series(kind, tmp_path, base_env, request)
    assert sinks.store.exists(timeseries_written_key(slot_at(1)))  # recorded before the write, for every sink
    world.spot_override.clear()
    result = sinks.merge(world, 2)

    assert sinks.mismatches(slot_at(2)) == []
    assert result["orphan_slots"] == [slot_iso(slot_at(1))]
    assert result["orphan_keys_republished"] == 3  # the moved size's three zones, unchanged since slot 0
    assert result["orphan_keys_forgotten"] == 0
    assert result["changes"] == result["timeseries_records"] == 3  # forced rows count as changes
    assert json.loads(sinks.store.get_bytes(SUMMARY_KEY))["orphan_keys_republished"] == 3
    # The orphan slot's points stay: genuine observations of that slot.
    points = sinks.points()
    at_1 = points[(points["time"] == pd.Timestamp(slot_at(1))) & (points["InstanceType"] == "D2s_v3")
                  & (points["Region"] == "US East")]  # fmt: skip
    assert sorted(at_1["SpotPrice"].tolist()) == [0.05, 0.05, 0.05]


def test_without_an_orphan_the_summary_and_records_are_as_before(tmp_path: Path, base_env: dict[str, str],
                                                                 request: pytest.FixtureRequest) -> None:  # fmt: skip
    sinks, world = Sinks("sqlite", tmp_path, base_env, request), SameCount()
    sinks.merge(world, 0)
    world.spot_override[MOVED] = 0.05
    result = sinks.merge(world, 1)
    assert not any(name.startswith("orphan") for name in result)
    assert result["changes"] == 3
    # Committed: slot 0's ledger is pruned (at or before the base), slot 1's is kept.
    assert [at for at, _key in list_written_ledgers(sinks.store)] == [slot_at(1)]


@pytest.mark.parametrize("kind", ["sqlite", "timestream"])
def test_an_orphan_key_without_a_row_is_published_as_new_when_it_returns(
    kind: str, tmp_path: Path, base_env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    sinks, world = crashed_after_the_time_series(kind, tmp_path, base_env, request)
    world.spot_override.clear()
    world.unpriced.add(MOVED)
    world.unprobed.add(MOVED)  # dropped at slot 2: no row to publish
    dropped = sinks.merge(world, 2)
    assert dropped["orphan_keys_forgotten"] == 3
    assert sinks.mismatches(slot_at(2)) == []
    world.unpriced.clear()
    world.unprobed.clear()  # back at slot 3 with slot 0's values: new, so published
    back = sinks.merge(world, 3)
    assert back["new_rows"] == 3
    assert not any(name.startswith("orphan") for name in back)
    assert sinks.mismatches(slot_at(3)) == []


def test_a_committed_rerun_after_an_orphan_republishes_the_same_bytes(
    tmp_path: Path, base_env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    # The orphan's ledger is kept until the slot after the one that republished it, so a rerun of that slot
    # (a Batch retry after a failure past its commit) finds the same orphans and reproduces its snapshot.
    sinks, world = Sinks("sqlite", tmp_path, base_env, request), SameCount()
    sinks.merge(world, 0)
    world.spot_override[MOVED] = 0.05
    sinks.merge(world, 1, crash=True)
    world.spot_override.clear()
    first = sinks.merge(world, 2)
    objects = {k: sinks.store.get_bytes(k) for k in sinks.store.list_keys("latest_data/")}
    again = sinks.merge(world, 2)  # committed: must reproduce the snapshot, or it is refused (exit 2)
    assert again == first
    assert {k: sinks.store.get_bytes(k) for k in sinks.store.list_keys("latest_data/")} == objects
    assert sinks.store.exists(timeseries_written_key(slot_at(1)))
    sinks.merge(world, 3)
    assert [at for at, _key in list_written_ledgers(sinks.store)] == [slot_at(3)]


# --- the pure parts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ledgers", "base", "slot", "orphans"),
    [
        ([0, 1, 2], 0, 2, [1]),  # the slot's own ledger is a rerun's business, the base's is committed
        ([0, 1, 2, 3], 0, 4, [1, 2, 3]),
        ([1], None, 2, []),  # no base slot: a keyframe republishes everything anyway
        ([3], 0, 2, []),  # newer than the slot (cannot happen: slot order) is no orphan of it
        ([], 0, 2, []),
    ],
)
def test_orphan_slots_are_the_ledgers_strictly_between_the_base_and_the_slot(
    ledgers: list[int], base: int | None, slot: int, orphans: list[int]
) -> None:
    at = [slot_at(i) for i in ledgers]
    assert orphan_slots(at, None if base is None else slot_at(base), slot_at(slot)) == [slot_at(i) for i in orphans]


def test_forced_row_keys_map_the_public_series_keys_to_internal_row_keys() -> None:
    current = merged_frame([{"AvailabilityZone": "1"}, {"AvailabilityZone": "2"},
                            {"Region": "westus", "RegionName": None, "AvailabilityZone": "1"}])  # fmt: skip
    base = merged_frame([{"InstanceType": "E4s_v5", "Region": "westeurope", "RegionName": "EU West"}])
    keys = frozenset({("Standard", "D2s_v3", "US East", "2"), ("Standard", "D2s_v3", "westus", "1"),
                      ("Standard", "E4s_v5", "EU West", "1"), ("Standard", "F2s_v2", "US East", "1")})  # fmt: skip
    forced = forced_row_keys(Orphans((slot_at(1),), keys), current, base, pd.DataFrame(columns=ROW_KEY_COLUMNS))
    assert sorted(map(tuple, forced[ROW_KEY_COLUMNS].to_numpy().tolist())) == [
        ("Standard", "D2s_v3", "eastus", "2"),  # display location -> ARM code
        ("Standard", "D2s_v3", "westus", "1"),  # a region without a display location keeps its code
        ("Standard", "E4s_v5", "westeurope", "1"),  # only in the base: gone now, so forgotten by compare
    ]  # F2s_v2 is in neither: nothing observed to force


def test_an_unreadable_orphan_ledger_forces_every_known_row(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.put_bytes(timeseries_written_key(slot_at(1)), b"[1, 2")
    orphans = find_orphans(store, slot_at(0), slot_at(2))
    assert orphans.slots == (slot_at(1),) and orphans.keys is None
    current = merged_frame([{"AvailabilityZone": "1"}])
    observations = merged_frame([{"AvailabilityZone": "1"}, {"AvailabilityZone": "3"}])
    forced = forced_row_keys(orphans, current, current, observations)
    assert sorted(forced["AvailabilityZone"].tolist()) == ["1", "3"]
