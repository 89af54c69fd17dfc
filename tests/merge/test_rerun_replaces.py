"""A rerun of a slot that sees other Azure data replaces that slot's records in every sink (issue 14 item 5):
killed after the time-series write, rerun with other prices, every sink holds exactly what a clean run with
the rerun's data holds (SQLite and Parquet replace by slot; Timestream, which cannot delete, gets every series
key the first attempt wrote again with the rerun's values and a higher Version)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import boto3
import pandas as pd
import pytest

from bench.reliability.harness import normalise_records
from tests.merge.builders import slot_at
from tests.merge.faults import CrashingMetricsSink, InjectedCrash
from tests.merge.world import World, local_settings, merge_slot, sqlite_rows
from utils.settings import Settings, TimeseriesConfig
from utils.store import LocalStore
from utils.store_io import read_parquet
from utils.timeseries import TimestreamSink, open_timeseries_sink, timeseries_written_key

FIRST, MOVED = ("Standard", "D2s_v3", "eastus"), ("Standard", "D4s_v3", "eastus")


class SameCount(World):
    """Every slot probes count 1, so a slot without price moves publishes nothing."""

    def count(self, index: int) -> int:
        return 1


def _history(settings: Settings, store: LocalStore, sink_for, *, crash_first: bool) -> None:
    """Slot 0 clean; slot 1 with D2s_v3 at 0.05 (killed after the time-series write when ``crash_first``),
    then slot 1 with D4s_v3 at 0.07 instead (the rerun's Azure data)."""
    world = SameCount()
    merge_slot(settings, store, world.write(store, 0), timeseries_sink=sink_for())
    if crash_first:
        world.spot_override[FIRST] = 0.05
        key = world.write(store, 1)
        with pytest.raises(InjectedCrash):
            merge_slot(settings, store, key, timeseries_sink=sink_for(), metrics_sink=CrashingMetricsSink())
    world.spot_override.clear()
    world.spot_override[MOVED] = 0.07
    merge_slot(settings, store, world.write(store, 1), timeseries_sink=sink_for())


def _settings(tmp_path: Path, base_env: dict[str, str], name: str, kind: str) -> Settings:
    settings = local_settings(tmp_path / name, {**base_env, "SPOTLAKE_STORE": str(tmp_path / name / "store")})
    return replace(settings, timeseries=TimeseriesConfig(kind="parquet")) if kind == "parquet" else settings


def _parquet_records(store: LocalStore) -> pd.DataFrame:
    frames = [read_parquet(store, key) for key in sorted(store.list_keys("timeseries/azure/"))]
    return pd.concat(frames, ignore_index=True).sort_values(["time", "InstanceType", "AvailabilityZone"],
                                                            ignore_index=True)  # fmt: skip


@pytest.mark.parametrize("kind", ["sqlite", "parquet"])
def test_a_rerun_with_other_prices_leaves_no_record_of_the_first_attempt(
    kind: str, tmp_path: Path, base_env: dict[str, str]
) -> None:
    results = {}
    for name, crash in (("clean", False), ("rerun", True)):
        settings = _settings(tmp_path, base_env, name, kind)
        store = LocalStore(settings.store.root)
        _history(settings, store, lambda s=settings, st=store: open_timeseries_sink(s, st), crash_first=crash)
        results[name] = sqlite_rows(settings) if kind == "sqlite" else _parquet_records(store)
    if kind == "sqlite":
        assert results["rerun"] == results["clean"]
        assert not any(0.05 in row for row in results["rerun"])  # no stale price
        assert any(0.07 in row for row in results["rerun"])
    else:
        pd.testing.assert_frame_equal(results["rerun"], results["clean"])


def _points(client, table: str) -> dict:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.timestreamwrite.models import timestreamwrite_backends

    raw = timestreamwrite_backends[DEFAULT_ACCOUNT_ID]["us-west-2"].databases["spotlake"].tables[table].records
    points, conflicts = normalise_records(raw)
    assert conflicts == []
    return points


def test_timestream_a_rerun_rewrites_every_key_the_first_attempt_wrote(
    tmp_path: Path, base_env: dict[str, str], moto_endpoint: str
) -> None:
    client = boto3.client("timestream-write", endpoint_url=moto_endpoint, region_name="us-west-2")
    client.create_database(DatabaseName="spotlake")
    clock = iter(range(1_800_000_000, 1_900_000_000, 10))  # each write a later Version, as wall-clock time

    for name, crash in (("clean", False), ("rerun", True)):
        client.create_table(DatabaseName="spotlake", TableName=name)
        settings = _settings(tmp_path, base_env, name, "sqlite")
        store = LocalStore(settings.store.root)
        _history(settings, store, lambda t=name: TimestreamSink(client, "spotlake", t,
                                                                 version_clock=lambda: next(clock)),
                 crash_first=crash)  # fmt: skip
        if crash:
            assert store.exists(timeseries_written_key(slot_at(1)))
    clean, rerun = _points(client, "clean"), _points(client, "rerun")
    assert clean.keys() <= rerun.keys()
    stale = {key: values for key, values in rerun.items() if key in clean and clean[key] != values}
    assert stale == {}  # every point both hold has the rerun's values
    extra = rerun.keys() - clean.keys()
    # The first attempt wrote the D2s_v3 points at 0.05; the rerun (no change there) restates them with the
    # values a reader should see at that slot, which equal the last published ones.
    assert extra and all(dict(key[0])["InstanceType"] == "D2s_v3" for key in extra)
    assert all(("SpotPrice", "0.0192", "DOUBLE") in rerun[key] for key in extra)
