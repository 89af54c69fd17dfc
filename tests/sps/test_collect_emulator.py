"""The SPS collector end to end against the bundled emulator (quota on, injectable clock, faults)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import requests

from emulator.catalog import load_catalog
from emulator.testing import RunningEmulator, running_emulator
from sps.load_sps import collect_slot
from sps_module.quota_ledger import subscriptions_needed
from sps_module.request_planner import plan_requests
from sps_module.sps_shared_resources import CALL_HISTORY, LAST_RUN, OVER_LIMIT, STATE_LEASE
from tests.conftest import REPO_ROOT
from tests.sps.helpers import sps_settings, write_small_catalog
from utils.azure_api.auth import load_azure_auth
from utils.azure_api.retry import RetryPolicy
from utils.constants import SPS_COLUMNS, SPS_METADATA_KEY, sps_key, sps_saved_key
from utils.errors import RunFailed
from utils.lease import LeaseHeld, acquire
from utils.settings import Settings
from utils.store import LocalStore
from utils.store_io import read_json, read_parquet, read_yaml

DAY = datetime(2026, 3, 4, tzinfo=UTC)
FAST_RETRIES = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05)
BOGUS_REGION = "marsnorth"
BOGUS_SIZE = "Standard_Z99zz_v9"


@pytest.fixture(scope="module")
def small_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_catalog(tmp_path_factory.mktemp("catalog") / "small_catalog.csv")


@pytest.fixture(scope="module")
def planned_calls(small_catalog: Path) -> int:
    return len(plan_requests(load_catalog(small_catalog).spot_pairs()).calls)


class Harness:
    """One store, one emulator, one session/auth; ``run(slot)`` drives the emulator clock to the slot."""

    def __init__(self, emu: RunningEmulator, settings: Settings, session: requests.Session) -> None:
        self.emu = emu
        self.settings = settings
        self.session = session
        self.store = LocalStore(settings.store.root)
        self.auth = load_azure_auth(settings, session=session)

    def run(self, slot: datetime, emulator_now: datetime | None = None) -> dict:
        self.emu.set_now(emulator_now or slot)
        return collect_slot(self.settings, slot, store=self.store, session=self.session, auth=self.auth,
                            retry_policy=FAST_RETRIES)

    def statuses(self) -> dict[str, int]:
        return self.emu.stats()["sps"]["status"]


def harness(emu: RunningEmulator, env: dict[str, str], session: requests.Session, *, subscriptions: int = 12,
            quota: int = 10, **changes: object) -> Harness:
    base = sps_settings(env, emu.url)
    changes.setdefault("sps_workers", 4)
    settings = dataclasses.replace(
        base, clock="slot", sps_quota_per_location=quota,
        emulator=dataclasses.replace(base.emulator, subscriptions=subscriptions), **changes)
    return Harness(emu, settings, session)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def slots(count: int, start: datetime = DAY) -> list[datetime]:
    return [start + timedelta(minutes=10 * i) for i in range(count)]


@pytest.mark.slow
def test_a_day_of_slots_with_enough_subscriptions_scores_every_pair_with_zero_429s(
        small_catalog, planned_calls, base_env, session):
    quota = 3
    needed = subscriptions_needed(planned_calls, 10, quota, 62)
    with running_emulator(catalog=small_catalog, sps_quota=quota) as emu:
        h = harness(emu, base_env, session, subscriptions=needed, quota=quota)
        reports = [h.run(slot) for slot in slots(144)]
        assert "429" not in h.statuses()
    assert all(r["http_429"] == 0 and not r["partial"] for r in reports)
    assert all(r["pairs_scored"] == r["pairs_planned"] == reports[0]["pairs_planned"] > 0 for r in reports)
    assert [r["desired_count"] for r in reports[:12]] == [1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 1]
    assert reports[0]["subscriptions_needed_per_slot"] == needed
    frame = read_parquet(h.store, reports[-1]["key"], columns=SPS_COLUMNS)
    assert frame["Time"].iloc[0] == pd.Timestamp(slots(144)[-1])


@pytest.mark.slow
def test_too_few_subscriptions_give_partial_sweeps_that_are_recorded_and_later_runs_continue(
        small_catalog, planned_calls, base_env, session):
    quota = 2
    with running_emulator(catalog=small_catalog, sps_quota=quota) as emu:
        h = harness(emu, base_env, session, subscriptions=1, quota=quota)
        reports = [h.run(slot) for slot in slots(12)]
        # Once the window has passed, a full sweep is possible again.
        later = h.run(DAY + timedelta(hours=3))
        assert "429" not in h.statuses()
    partial = [r for r in reports if r["partial"]]
    assert partial, "10 locations x 2 calls per window cannot carry a sweep every 10 minutes"
    assert all(r["calls_made"] + r["calls_not_made"] == r["planned_calls"] for r in reports)
    assert all(r["calls_not_made"] > 0 and r["pairs_scored"] < r["pairs_planned"] for r in partial)
    assert reports[0]["subscriptions_needed_per_slot"] > 1
    assert read_json(h.store, sps_saved_key(LAST_RUN)) == later
    # Every slot stored its raw object and advanced the rotation, partial or not.
    assert [r["desired_count"] for r in reports] == [1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 1]
    assert all(h.store.exists(r["key"]) for r in reports)
    # Each partial sweep starts where the previous one stopped: together they probe every pair.
    probed = pd.concat([read_parquet(h.store, r["key"]) for r in partial if r["calls_made"] > 0])
    assert len(probed.drop_duplicates(["InstanceType", "Region"])) == reports[0]["pairs_planned"]
    assert not later["partial"] and later["pairs_scored"] == later["pairs_planned"]


def test_a_429_anyway_benches_that_bucket_and_moves_the_call(small_catalog, base_env, session):
    with running_emulator(catalog=small_catalog, faults="sps:429@calls=2,3") as emu:
        h = harness(emu, base_env, session)
        report = h.run(DAY)
    assert report["http_429"] == 2 and not report["partial"]
    assert report["pairs_scored"] == report["pairs_planned"]
    assert len(read_json(h.store, sps_saved_key(OVER_LIMIT))) == 2


def test_invalid_regions_and_sizes_are_learned_dropped_and_the_call_retried(small_catalog, base_env, session):
    with running_emulator(catalog=small_catalog) as emu:
        h = harness(emu, base_env, session)
        first = h.run(DAY)
        # Put a region and a size the emulator does not know into today's workload and plan.
        from sps_module.request_planner import PlannedCall
        from sps_module.sps_prepare_parameters import load_plan, region_size_maps, save_plan
        from sps_module.sps_shared_resources import SpsState

        state = SpsState(h.store)
        _, region_map = state.region_map()
        region_map[BOGUS_REGION] = [BOGUS_SIZE]
        region_map["eastus"] = sorted([*region_map["eastus"], BOGUS_SIZE])
        pairs = pd.DataFrame([(r, s) for r, sizes in region_map.items() for s in sizes],
                             columns=["Region", "InstanceType"])
        state.save_maps("2026-03-04", *region_size_maps(pairs))
        calls = list(load_plan(h.store, "2026-03-04"))
        calls[0] = PlannedCall(tuple(sorted({*calls[0].regions[:7], BOGUS_REGION})),
                               tuple(sorted({*calls[0].sizes[:4], BOGUS_SIZE})))
        plan = plan_requests(pairs)
        save_plan(h.store, dataclasses.replace(plan, calls=tuple(calls) + plan.calls), "2026-03-04")
        second = h.run(DAY + timedelta(minutes=10))
        assert h.statuses()["400"] >= 2
    assert read_json(h.store, sps_saved_key("invalid_regions.json")) == {
        "workload_date": "2026-03-04", "learned": {BOGUS_REGION: "2026-03-04T00:10:00Z"}}
    assert read_json(h.store, sps_saved_key("invalid_sizes.json")) == {
        "workload_date": "2026-03-04", "learned": {BOGUS_SIZE: "2026-03-04T00:10:00Z"}}
    assert second["pairs_planned"] == first["pairs_planned"]
    assert second["pairs_scored"] == second["pairs_planned"] and not second["partial"]
    frame = read_parquet(h.store, second["key"])
    assert BOGUS_REGION not in set(frame["Region"]) and "Z99zz_v9" not in set(frame["InstanceType"])


def test_an_expired_token_is_refreshed_and_the_sweep_goes_on(small_catalog, base_env, session):
    with running_emulator(catalog=small_catalog, token_ttl=600) as emu:
        h = harness(emu, base_env, session)
        h.run(DAY)
        # The cached token was issued at DAY by the emulator clock; two hours later it has expired.
        report = h.run(DAY + timedelta(minutes=10), emulator_now=DAY + timedelta(hours=2))
        assert h.statuses().get("401", 0) >= 1
    assert report["token_refreshes"] >= 1
    assert report["pairs_scored"] == report["pairs_planned"] and not report["partial"]


@pytest.mark.parametrize("fault", [
    "sps:500@calls=1,2", "sps:502@calls=2", "sps:503@calls=1,3", "sps:reset@calls=1,2", "sps:truncated@calls=2",
    "sps:malformed@calls=1", "sps:slow(5)@calls=1", "sps:429(5)@calls=1", "token:500@calls=1",
    "token:503@calls=1", "sps:500@rate=0.2",
])
def test_every_transient_fault_kind_is_recovered(small_catalog, base_env, session, fault):
    with running_emulator(catalog=small_catalog) as emu:
        # A timeout well above an answer's time on a loaded machine (0.5 s made healthy calls time out five
        # times in a row under load), and well below the 5 s of the slow fault.
        h = harness(emu, base_env, session, http_timeout=2.0)
        h.run(DAY)  # builds workload, plan and locations without faults
        emu.set_faults(fault)
        report = h.run(DAY + timedelta(minutes=10))
    assert report["pairs_scored"] == report["pairs_planned"] and not report["partial"]
    assert report["retries"] + report["http_429"] + report["token_refreshes"] >= (0 if "token" in fault else 1)


def test_rate_faults_hit_the_same_calls_whatever_the_number_of_workers(small_catalog, base_env, tmp_path):
    """Fault draws follow each call's body and attempt, not the order threads reach the emulator: every
    planned call meets the same answers, in the same order, with 1 worker and with 4."""
    answers: list[dict[bytes, list[int]]] = []
    for workers in (1, 4):
        env = {**base_env, "SPOTLAKE_STORE": str(tmp_path / f"store{workers}"),
               "SPS_KEY_FILE": str(tmp_path / f"key{workers}.txt")}
        seen: dict[bytes, list[int]] = {}

        def record(response: requests.Response, *args: object, seen: dict = seen, **kwargs: object) -> None:
            if "placementScores" in response.url and response.request.body:
                seen.setdefault(bytes(response.request.body), []).append(response.status_code)

        with running_emulator(catalog=small_catalog) as emu, requests.Session() as session:
            h = harness(emu, env, session, sps_workers=workers)
            h.run(DAY)
            emu.set_faults("sps:500@rate=0.3")
            session.hooks["response"].append(record)
            h.run(DAY + timedelta(minutes=10))
        answers.append(seen)
    assert answers[0] == answers[1]
    assert any(500 in statuses for statuses in answers[0].values())


@pytest.mark.parametrize("fault", ["sps:500", "sps:reset", "sps:malformed", "sps:truncated"])
def test_a_fault_that_outlives_its_retries_fails_the_run_without_raw_object_or_handoff(
        small_catalog, base_env, session, fault):
    with running_emulator(catalog=small_catalog) as emu:
        h = harness(emu, base_env, session)
        h.run(DAY)
        h.settings.sps_key_file.unlink()
        emu.set_faults(fault)
        slot = DAY + timedelta(minutes=10)
        with pytest.raises(RunFailed, match="SPS call failed"):
            h.run(slot)
    assert not h.store.exists(sps_key(slot, 5))
    assert not h.settings.sps_key_file.exists()
    assert read_yaml(h.store, SPS_METADATA_KEY)["last_timestamp"] == "2026-03-04T00:00:00Z"
    assert read_json(h.store, sps_saved_key(CALL_HISTORY))["calls"], "spent calls are still recorded"


@pytest.mark.slow
def test_a_token_endpoint_that_keeps_failing_fails_the_run_without_raw_object_or_handoff(
        small_catalog, base_env, session):
    with running_emulator(catalog=small_catalog, token_ttl=600) as emu:
        h = harness(emu, base_env, session, sps_workers=1)
        h.run(DAY)
        h.settings.sps_key_file.unlink()
        emu.set_faults("token:500")
        slot = DAY + timedelta(minutes=10)
        with pytest.raises(RunFailed, match="no Azure token"):
            h.run(slot, emulator_now=DAY + timedelta(hours=2))  # the cached token has expired
    assert not h.store.exists(sps_key(slot, 5))
    assert not h.settings.sps_key_file.exists()


def test_a_second_concurrent_run_is_refused_by_the_state_lease(small_catalog, base_env, session):
    with running_emulator(catalog=small_catalog) as emu:
        h = harness(emu, base_env, session)
        acquire(h.store, STATE_LEASE, 600)
        with pytest.raises(LeaseHeld, match="another run is in progress"):
            h.run(DAY)
    assert not h.store.exists(sps_key(DAY, 1))


def test_corrupt_metadata_restarts_the_rotation_and_a_corrupt_ledger_spends_nothing_for_a_window(
        small_catalog, base_env, session):
    with running_emulator(catalog=small_catalog) as emu:
        h = harness(emu, base_env, session)
        h.run(DAY)
        h.run(DAY + timedelta(minutes=10))
        h.store.put_bytes(SPS_METADATA_KEY, b"desired_count_index: [unclosed")
        h.store.put_bytes(sps_saved_key(CALL_HISTORY), b"{not json")
        blocked = h.run(DAY + timedelta(minutes=20))
        assert blocked["desired_count"] == 1
        assert blocked["partial"] and blocked["calls_made"] == 0
        recovered = h.run(DAY + timedelta(minutes=90))
        assert "429" not in h.statuses()
    assert recovered["desired_count"] == 5 and not recovered["partial"]


def test_the_script_by_path_writes_the_raw_object_the_handoff_file_and_the_metadata(small_catalog, base_env):
    with running_emulator(catalog=small_catalog) as emu:
        env = {**os.environ, **base_env, "SPOTLAKE_EMULATOR_URL": emu.url, "SPOTLAKE_EMULATOR_SUBSCRIPTIONS": "3"}
        done = subprocess.run([sys.executable, "sps/collect_sps.py", "--timestamp", "2026-03-04T12:34:56Z"],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    key = sps_key(datetime(2026, 3, 4, 12, 30, tzinfo=UTC), 1)
    assert Path(base_env["SPS_KEY_FILE"]).read_text() == key + "\n"
    store = LocalStore(Path(base_env["SPOTLAKE_STORE"]))
    frame = read_parquet(store, key, columns=SPS_COLUMNS)
    assert len(frame) > 0
    assert read_yaml(store, SPS_METADATA_KEY)["last_timestamp"] == "2026-03-04T12:30:00Z"
    assert "[sps]" in done.stderr


def test_the_script_rejects_a_bad_timestamp_with_exit_2(base_env):
    env = {**os.environ, **base_env, "SPOTLAKE_EMULATOR_URL": "http://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "sps/collect_sps.py", "--timestamp", "yesterday"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "accepted forms" in done.stderr
    assert not Path(base_env["SPS_KEY_FILE"]).exists()


def test_rerunning_an_older_slot_after_newer_ones_probes_its_own_count_again(small_catalog, base_env, session):
    first, second = slots(2)
    with running_emulator(catalog=small_catalog) as emu:
        h = harness(emu, base_env, session)
        assert h.run(first)["desired_count"] == 1
        assert h.run(second)["desired_count"] == 5
        metadata = h.store.get_bytes(SPS_METADATA_KEY)
        rerun = h.run(first)
    assert rerun["desired_count"] == 1
    assert h.store.get_bytes(SPS_METADATA_KEY) == metadata
    assert [k.rsplit("/", 1)[1] for k in h.store.list_keys(sps_key(first, 1).rsplit("_sps_", 1)[0])] == [
        "00-00_sps_1.parquet"
    ]


def _without(catalog: Path, target: Path, *, region: str | None = None, size: str | None = None) -> Path:
    """The catalog CSV without one region or one size (as if Azure did not know it for a while)."""
    frame = pd.read_csv(catalog, dtype=str, keep_default_na=False)
    keep = (frame["Region"] != region) & (frame["InstanceType"] != size)
    frame[keep].to_csv(target, index=False)
    return target


def _scored(h: Harness, report: dict) -> pd.DataFrame:
    frame = read_parquet(h.store, report["key"])
    return frame[frame["Score"].notna() | frame["ScoreLabel"].notna()]


@pytest.mark.parametrize("gone_value", ["region:japaneast", "size:Standard_D16s_v5"])
def test_a_region_or_size_gone_for_one_slot_is_asked_about_again_later_and_scored_again(
        small_catalog, base_env, session, tmp_path, gone_value):
    """Issue 14.7: the slot without it learns it invalid from the explicit 400; the value is skipped for a
    while (no 400 per slot), re-checked ``INVALID_RECHECK_HOURS`` later and at the next daily re-plan."""
    from sps_module.sps_shared_resources import INVALID_RECHECK_HOURS

    what, _, name = gone_value.partition(":")
    region, size = (name, None) if what == "region" else (None, name)
    gone = _without(small_catalog, tmp_path / "gone.csv", region=region, size=size)

    def present(frame: pd.DataFrame) -> bool:
        if region is not None:
            return bool((frame["Region"] == region).any())
        return bool((frame["InstanceTier"] + "_" + frame["InstanceType"] == size).any())

    with running_emulator(catalog=small_catalog) as full, running_emulator(catalog=gone) as partial:
        h = harness(full, base_env, session)
        first = h.run(DAY)
        assert present(_scored(h, first))
        h_gone = harness(partial, base_env, session)
        missing = h_gone.run(DAY + timedelta(minutes=10))
        assert h_gone.statuses().get("400", 0) >= 1
        assert not present(_scored(h_gone, missing))
        assert missing["pairs_planned"] < first["pairs_planned"] and not missing["partial"]
        learned = read_json(h.store, sps_saved_key("invalid_regions.json" if region else "invalid_sizes.json"))
        assert learned["learned"] == {region or size: "2026-03-04T00:10:00Z"}
        full.reset()
        skipped = h.run(DAY + timedelta(minutes=20))  # back in the catalog, but still skipped: no 400
        assert "400" not in h.statuses() and not present(_scored(h, skipped))
        rechecked = h.run(DAY + timedelta(minutes=10, hours=INVALID_RECHECK_HOURS))
        assert present(_scored(h, rechecked)) and rechecked["pairs_scored"] == first["pairs_scored"]
        # Gone again late in the day: the next day's re-plan asks about it anyway.
        h_gone.run(DAY + timedelta(hours=23, minutes=50))
        next_day = h.run(DAY + timedelta(days=1))
    assert next_day["desired_count"] == 1 and present(_scored(h, next_day))
    assert next_day["pairs_planned"] == first["pairs_planned"]


@pytest.mark.parametrize("fault", ["sps:casing", "sps:unasked"])
def test_upper_case_names_and_scores_for_unasked_pairs_leave_the_raw_object_as_a_clean_run(
        small_catalog, base_env, session, tmp_path, fault):
    """Issue 14.8/14.10: ``STANDARD_D2S_V3`` keeps its score under the asked name; a score for a pair the
    call did not ask (another region of the workload, another label) never overrides the real one."""
    frames, reports = [], []
    for name, spec in (("clean", None), ("faulted", fault)):
        env = {**base_env, "SPOTLAKE_STORE": str(tmp_path / name), "SPS_KEY_FILE": str(tmp_path / f"{name}.txt")}
        with running_emulator(catalog=small_catalog) as emu:
            h = harness(emu, env, session)
            h.run(DAY)
            emu.set_faults(spec)
            reports.append(h.run(DAY + timedelta(minutes=10)))
            frames.append(read_parquet(h.store, reports[-1]["key"]))
    pd.testing.assert_frame_equal(frames[1], frames[0])
    assert reports[1]["pairs_scored"] == reports[1]["pairs_planned"]
    if fault == "sps:unasked":
        assert reports[1]["answer_items_ignored"] > 0 and reports[0]["answer_items_ignored"] == 0


def test_an_unreadable_400_loses_that_calls_pairs_and_the_sweep_goes_on(small_catalog, base_env, session):
    """Issue 14.9: one call answered twice with a 400 naming nothing is dropped (counted); the rest scored."""
    with running_emulator(catalog=small_catalog) as emu:
        h = harness(emu, base_env, session, sps_workers=1)  # one worker: calls 1 and 2 are one call's attempts
        h.run(DAY)
        before = h.statuses().get("400", 0)  # the endpoint location discovery's NoRegisteredProviderFound
        emu.set_faults("sps:badrequest@calls=1,2")
        report = h.run(DAY + timedelta(minutes=10))
        assert h.statuses()["400"] - before == 2
    assert report["calls_dropped"] == 1 and report["pairs_dropped"] > 0
    assert report["calls_made"] == report["planned_calls"] - 1 and not report["partial"]
    assert 0 < report["pairs_scored"] < report["pairs_planned"]
    assert h.store.exists(report["key"])


def test_a_400_on_every_call_fails_the_run_loudly(small_catalog, base_env, session):
    with running_emulator(catalog=small_catalog) as emu:
        h = harness(emu, base_env, session)
        h.run(DAY)
        emu.set_faults("sps:badrequest")
        slot = DAY + timedelta(minutes=10)
        with pytest.raises(RunFailed, match="every SPS call was dropped"):
            h.run(slot)
    assert not h.store.exists(sps_key(slot, 5))


class RecordingStore(LocalStore):
    """A local store that records every read and write (lease objects apart) and, at each write, whether the
    handoff file already holds the slot's key."""

    def __init__(self, root: Path, handoff_file: Path) -> None:
        super().__init__(root)
        self.handoff_file = handoff_file
        self.reads: list[tuple[str, str]] = []
        self.writes: list[tuple[str, str | None]] = []

    def get_bytes(self, key: str) -> bytes:
        self.reads.append(("get", key))
        return super().get_bytes(key)

    def exists(self, key: str) -> bool:
        self.reads.append(("exists", key))
        return super().exists(key)

    def list_keys(self, prefix: str) -> list[str]:
        self.reads.append(("list", prefix))
        return super().list_keys(prefix)

    def put_bytes(self, key: str, data: bytes, **kwargs: object) -> None:
        handoff = self.handoff_file.read_text().strip() if self.handoff_file.exists() else None
        self.writes.append((key, handoff))
        super().put_bytes(key, data, **kwargs)

    def clear(self) -> None:
        self.reads.clear()
        self.writes.clear()


def test_a_slot_reads_its_state_once_and_writes_in_the_documented_order(small_catalog, base_env, session):
    """sps/load_sps.py: 0 workload, plan and locations (first run of the day only), 1 ledger and cursor, 2 raw
    object, 3 handoff file, 4 rotation metadata, 5 last_run.json; every state object read at most once."""
    from sps_module.sps_shared_resources import (
        AVAILABLE_LOCATIONS,
        LAST_SUBSCRIPTION_LOCATION,
        REGION_MAP,
        SIZE_MAP,
        SWEEP_CURSOR,
    )
    from utils.constants import SPS_REQUEST_PLAN_KEY

    ledger = [sps_saved_key(n) for n in (CALL_HISTORY, OVER_LIMIT, LAST_SUBSCRIPTION_LOCATION, SWEEP_CURSOR)]
    with running_emulator(catalog=small_catalog) as emu:
        h = harness(emu, base_env, session, sps_workers=1)
        h.store = store = RecordingStore(h.settings.store.root, h.settings.sps_key_file)
        for slot, count, daily in ((DAY, 1, True), (DAY + timedelta(minutes=10), 5, False)):
            store.clear()
            report = h.run(slot)
            key = sps_key(slot, count)
            assert report["key"] == key
            previous = None if daily else sps_key(DAY, 1)
            before_sweep = [(sps_saved_key(REGION_MAP), None), (sps_saved_key(SIZE_MAP), None),
                            (SPS_REQUEST_PLAN_KEY, None), (sps_saved_key(AVAILABLE_LOCATIONS), None)] if daily else []
            assert [(k, v) for k, v in store.writes if not k.startswith("locks/")] == [
                *before_sweep, *((k, previous) for k in ledger),
                (key, previous), (SPS_METADATA_KEY, key), (sps_saved_key(LAST_RUN), key)]
            state_reads = [(op, k) for op, k in store.reads if not k.startswith("locks/")]
            assert len(state_reads) == len(set(state_reads)), state_reads
