"""Crash injection (docs/contract.md 8): crash the merge at each publish step, check the previous latest state is
untouched and the run fails with exit 1, rerun the slot, and compare every object and every time-series
record with a clean run's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from merge.snapshot_keys import snapshot_key
from merge.state import SUMMARY_KEY
from merge.upload_data import PUBLISH_STEPS
from tests.merge.builders import slot_at
from tests.merge.faults import CrashBeforeKeyStore, CrashingMetricsSink, CrashMidwayTimeseriesSink, InjectedCrash
from tests.merge.world import World, local_settings, merge_slot, sqlite_rows, store_snapshot
from utils.constants import ASSOCIATION_KEY, LATEST_JSON_KEY, LATEST_STATE_KEY, QUERY_SELECTOR_KEY, archive_key
from utils.errors import EXIT_FAILED
from utils.settings import Settings, TimeseriesConfig
from utils.store import LocalStore
from utils.timeseries import open_timeseries_sink

SLOTS = 3  # slots 0 and 1 commit; slot 2 crashes and is rerun
CRASH_SLOT = slot_at(SLOTS - 1)
KEY_OF_STEP = {
    "archive": archive_key(CRASH_SLOT),
    "latest_json": LATEST_JSON_KEY,
    "query_selector": QUERY_SELECTOR_KEY,
    "association": ASSOCIATION_KEY,
    "summary": SUMMARY_KEY,
    "snapshot": snapshot_key(CRASH_SLOT),
    "latest_state": LATEST_STATE_KEY,
}


def settings_for(tmp_path: Path, base_env: dict[str, str], sink: str) -> Settings:
    settings = local_settings(tmp_path, base_env)
    if sink == "parquet":
        settings = replace(settings, timeseries=TimeseriesConfig(kind="parquet"))
    return settings


def world_run(settings: Settings, store: LocalStore, world: World, index: int, **kwargs) -> dict:
    return merge_slot(settings, store, world.write(store, index), **kwargs)


@pytest.fixture(scope="module")
def clean_runs(tmp_path_factory: pytest.TempPathFactory):
    """Per sink kind: every object and time-series record after a clean run of all slots."""
    results = {}
    env = {"SPOTLAKE_AZURE_EMULATOR": "1"}
    for sink in ("sqlite", "parquet"):
        settings = settings_for(tmp_path_factory.mktemp(f"clean-{sink}"), env, sink)
        store, world = LocalStore(settings.store.root), World()
        world.spot_override[("Standard", "D2s_v3", "eastus")] = 0.02
        for index in range(SLOTS):
            if index == SLOTS - 1:
                world.spot_override.clear()  # the crashing slot has real changes to write
            world_run(settings, store, world, index)
        results[sink] = (store_snapshot(store), sqlite_rows(settings))
    return results


CASES = [(step, "sqlite") for step in PUBLISH_STEPS] + [("timeseries", "parquet"), ("summary", "parquet")]


@pytest.mark.parametrize(("step", "sink"), CASES)
def test_a_crash_at_each_publish_step_keeps_the_state_and_a_rerun_matches_a_clean_run(
    step: str, sink: str, clean_runs, tmp_path: Path, base_env: dict[str, str]
) -> None:
    settings = settings_for(tmp_path, base_env, sink)
    store, world = LocalStore(settings.store.root), World()
    world.spot_override[("Standard", "D2s_v3", "eastus")] = 0.02
    for index in range(SLOTS - 1):
        world_run(settings, store, world, index)
    world.spot_override.clear()
    committed_state = store.get_bytes(LATEST_STATE_KEY)
    key = world.write(store, SLOTS - 1)

    crashing_store: object = store
    sinks = {}
    if step in KEY_OF_STEP:
        crashing_store = CrashBeforeKeyStore(store, KEY_OF_STEP[step])
    elif step == "timeseries":
        sinks["timeseries_sink"] = CrashMidwayTimeseriesSink(open_timeseries_sink(settings, store))
    else:
        sinks["metrics_sink"] = CrashingMetricsSink()
    with pytest.raises(InjectedCrash) as crash:
        merge_slot(settings, crashing_store, key, **sinks)
    assert crash.value.exit_code == EXIT_FAILED
    assert store.get_bytes(LATEST_STATE_KEY) == committed_state

    merge_slot(settings, store, key)  # the rerun of the slot
    clean_objects, clean_records = clean_runs[sink]
    objects = store_snapshot(store)
    assert sorted(objects) == sorted(clean_objects)
    assert [k for k in objects if objects[k] != clean_objects[k]] == []
    records = sqlite_rows(settings)
    assert records == clean_records
    assert len(records) == len(set(records))
