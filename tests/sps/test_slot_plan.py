"""The pure plan of an SPS slot (``sps_module.slot_plan``): no store, no clock, no emulator.

Table-driven cases for each step, and properties for the invariants: the rotation order over consecutive
slots, a rerun of a slot converging on the plan of its first run, and consecutive (partial) sweeps probing
the calls in turn from the stored cursor.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sps_module.request_planner import PlannedCall
from sps_module.slot_plan import (
    REPORT_KEYS,
    QuotaParams,
    SlotOutcome,
    WorkloadSource,
    plan_slot,
    plan_sweep,
    slot_outcome,
)
from sps_module.snapshot import SpsSnapshot
from sps_module.sps_shared_resources import INVALID_RECHECK_HOURS, NO_LEARNED, LearnedInvalid, LedgerState, SweepCursor
from sps_module.sweep import SweepOutcome, SweepResult
from utils.constants import DESIRED_COUNTS, sps_key
from utils.errors import UsageError
from utils.timestamps import slot_iso

DAY = datetime(2026, 3, 4, tzinfo=UTC)
TODAY = "2026-03-04"
SLOT = DAY + timedelta(hours=12, minutes=30)
CALLS = (
    PlannedCall(("eastus", "westus"), ("Standard_D2s_v3", "Standard_D4s_v3")),
    PlannedCall(("japaneast",), ("Standard_D2s_v3",)),
    PlannedCall(("eastus",), ("Standard_E2s_v5",)),
)
REGION_MAP = {"eastus": ["Standard_D2s_v3", "Standard_D4s_v3", "Standard_E2s_v5"],
              "japaneast": ["Standard_D2s_v3"], "westus": ["Standard_D2s_v3", "Standard_D4s_v3"]}
NO_LEDGER = LedgerState(None, False, None, {}, None)
QUOTA = QuotaParams(per_location=10, window_minutes=62)


def meta(index: int, last: str = "2026-03-04T12:20:00Z", date: str = TODAY, count: int | None = 5) -> dict:
    return {"desired_count_index": index, "workload_date": date, "last_timestamp": last, "last_desired_count": count}


def snapshot(slot: datetime = SLOT, **changes: object) -> SpsSnapshot:
    """Today's workload and plan stored, the metadata of the slot before (index 2), nothing learned."""
    base = SpsSnapshot(slot=slot, metadata=meta(2), stored_counts=(), learned_regions=NO_LEARNED,
                       learned_sizes=NO_LEARNED, workload_date=TODAY, region_map=REGION_MAP, stored_plan=CALLS,
                       locations=None, sweep_cursor=None, ledger=NO_LEDGER)
    return dataclasses.replace(base, **changes)


def result(made: int = 0, not_made: int = 0, dropped: int = 0, **changes: object) -> SweepResult:
    return SweepResult(calls_planned=made + not_made + dropped, calls_made=made, calls_not_made=not_made,
                       calls_dropped=dropped, **changes)


# -- plan_slot ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "count", "workload", "rerun"), [
    pytest.param({"metadata": None}, 1, WorkloadSource.DAILY, False, id="no metadata: count 1, re-plan"),
    pytest.param({"metadata": meta(4, date="2026-03-03", last="2026-03-03T23:50:00Z")}, 1, WorkloadSource.DAILY,
                 False, id="first run of the day re-plans even with a stored plan"),
    pytest.param({}, DESIRED_COUNTS[2], WorkloadSource.STORED, False, id="next slot of the day reuses the plan"),
    pytest.param({"stored_plan": None}, DESIRED_COUNTS[2], WorkloadSource.STALE, False,
                 id="no plan stored for today: rebuilt"),
    pytest.param({"workload_date": "2026-03-03"}, DESIRED_COUNTS[2], WorkloadSource.STALE, False,
                 id="workload of another day: rebuilt"),
    pytest.param({"region_map": {}}, DESIRED_COUNTS[2], WorkloadSource.STALE, False, id="empty workload: rebuilt"),
    pytest.param({"metadata": meta(3, last="2026-03-04T12:30:00Z", count=10)}, 10, WorkloadSource.STORED, True,
                 id="same slot again keeps its count"),
    pytest.param({"metadata": meta(5, last="2026-03-04T13:00:00Z"), "stored_counts": (15,)}, 15,
                 WorkloadSource.STORED, True, id="older slot with its raw object reruns with that count"),
])
def test_plan_slot_picks_the_count_and_the_workload(changes, count, workload, rerun):
    plan = plan_slot(SLOT, snapshot(**changes))
    assert (plan.desired_count, plan.workload, plan.decision.rerun) == (count, workload, rerun)
    assert plan.key == sps_key(SLOT, count) and plan.today == TODAY
    reused = workload is WorkloadSource.STORED
    assert plan.stored_calls == (CALLS if reused else ())
    assert plan.stored_region_map == (REGION_MAP if reused else {})


def test_plan_slot_gives_the_stored_workload_as_pairs():
    pairs, calls = plan_slot(SLOT, snapshot()).stored_workload()
    assert calls == CALLS
    assert list(pairs.itertuples(index=False, name=None)) == sorted(
        (region, size) for region, sizes in REGION_MAP.items() for size in sizes)


@pytest.mark.parametrize(("changes", "after"), [
    pytest.param({}, meta(3, last="2026-03-04T12:30:00Z", count=DESIRED_COUNTS[2]), id="advances"),
    pytest.param({"metadata": None}, meta(1, last="2026-03-04T12:30:00Z", count=1), id="restarts at 1"),
    pytest.param({"metadata": meta(10)}, meta(0, last="2026-03-04T12:30:00Z", count=50), id="wraps after 50"),
    pytest.param({"metadata": meta(5, last="2026-03-04T13:00:00Z"), "stored_counts": (15,)},
                 meta(5, last="2026-03-04T13:00:00Z"), id="rerun of an older slot leaves it"),
    pytest.param({"metadata": meta(1), "stored_counts": (5,)}, meta(2, last="2026-03-04T12:30:00Z", count=5),
                 id="rerun after a failed metadata write records the slot"),
])
def test_plan_slot_says_which_metadata_to_store_after_the_raw_object(changes, after):
    assert plan_slot(SLOT, snapshot(**changes)).metadata_after == after


def test_plan_slot_refuses_a_late_slot_and_a_snapshot_of_another_slot():
    with pytest.raises(UsageError, match="late slots are refused"):
        plan_slot(SLOT, snapshot(metadata=meta(5, last="2026-03-04T13:00:00Z")))
    with pytest.raises(ValueError, match="snapshot of"):
        plan_slot(SLOT, snapshot(slot=SLOT - timedelta(minutes=10)))


@pytest.mark.parametrize(("learned", "in_force"), [
    pytest.param(LearnedInvalid(TODAY, {"mars": SLOT - timedelta(minutes=10)}), {"mars"}, id="learned today"),
    pytest.param(LearnedInvalid(TODAY, {"mars": SLOT - timedelta(hours=INVALID_RECHECK_HOURS)}), set(),
                 id="asked again after the recheck period"),
    pytest.param(LearnedInvalid("2026-03-03", {"mars": SLOT - timedelta(minutes=10)}), set(),
                 id="expired at the daily re-plan"),
    pytest.param(NO_LEARNED, set(), id="nothing learned"),
])
def test_plan_slot_keeps_the_learned_invalid_values_in_force(learned, in_force):
    plan = plan_slot(SLOT, snapshot(learned_regions=learned, learned_sizes=learned))
    assert plan.invalid_regions == plan.invalid_sizes == in_force


@pytest.mark.parametrize(("cursor", "start"), [
    (None, 0), (SweepCursor(TODAY, 2), 2), (SweepCursor(TODAY, 7), 7), (SweepCursor("2026-03-03", 2), 0),
    (SweepCursor(TODAY, -1), 0), (SweepCursor(TODAY, "2"), 0),
])
def test_plan_slot_starts_at_todays_stored_cursor(cursor, start):
    assert plan_slot(SLOT, snapshot(sweep_cursor=cursor)).cursor == start


# -- plan_sweep and the state after it ------------------------------------------------------------------

@pytest.mark.parametrize(("cursor", "invalid_regions", "calls", "start"), [
    pytest.param(0, {}, CALLS, 0, id="plan order"),
    pytest.param(1, {}, (CALLS[1], CALLS[2], CALLS[0]), 1, id="from the cursor, wrapping"),
    pytest.param(4, {}, (CALLS[1], CALLS[2], CALLS[0]), 1, id="cursor taken modulo the calls"),
    pytest.param(0, {"japaneast"}, (CALLS[0], CALLS[2]), 0, id="a call emptied by invalid values is gone"),
    pytest.param(0, {"westus"}, (PlannedCall(("eastus",), CALLS[0].sizes), *CALLS[1:]), 0,
                 id="invalid values leave the call"),
])
def test_plan_sweep_orders_the_valid_calls_from_the_cursor(cursor, invalid_regions, calls, start):
    learned = LearnedInvalid(TODAY, dict.fromkeys(invalid_regions, SLOT))
    plan = plan_slot(SLOT, snapshot(sweep_cursor=SweepCursor(TODAY, cursor), learned_regions=learned))
    sweep = plan_sweep(plan, CALLS, ["eastus", "westus"], subscriptions=1, quota=QUOTA)
    assert (sweep.calls, sweep.start) == (calls, start)


@pytest.mark.parametrize(("calls", "subscriptions", "needed", "short"), [
    (871, 11, 11, False), (871, 10, 11, True), (0, 1, 0, False),
])
def test_plan_sweep_counts_the_subscriptions_a_full_sweep_needs(calls, subscriptions, needed, short):
    planned = [PlannedCall((f"r{i}",), ("Standard_A",)) for i in range(calls)]
    plan = plan_slot(SLOT, snapshot())
    sweep = plan_sweep(plan, planned, [f"l{i}" for i in range(58)], subscriptions=subscriptions, quota=QUOTA)
    assert (sweep.subscriptions_needed, sweep.short_of_subscriptions) == (needed, short)
    assert sweep.window_seconds == 62 * 60 and sweep.locations == tuple(f"l{i}" for i in range(58))


@pytest.mark.parametrize(("cursor", "made", "dropped", "next_cursor"), [
    (0, 3, 0, 0), (0, 1, 0, 1), (2, 1, 0, 0), (1, 1, 1, 0), (0, 0, 0, 0),
])
def test_the_next_sweep_starts_after_the_calls_this_one_sent(cursor, made, dropped, next_cursor):
    plan = plan_slot(SLOT, snapshot(sweep_cursor=SweepCursor(TODAY, cursor)))
    sweep = plan_sweep(plan, CALLS, ["eastus"], subscriptions=1, quota=QUOTA)
    after = sweep.state_after(result(made=made, not_made=3 - made - dropped, dropped=dropped))
    assert after.next_cursor == next_cursor


def test_an_empty_plan_keeps_the_cursor_at_0():
    sweep = plan_sweep(plan_slot(SLOT, snapshot(sweep_cursor=SweepCursor(TODAY, 5))), [], [], subscriptions=1,
                       quota=QUOTA)
    assert (sweep.calls, sweep.start, sweep.state_after(result()).next_cursor) == ((), 0, 0)


@pytest.mark.parametrize(("stored", "learned", "expected"), [
    pytest.param(NO_LEARNED, set(), None, id="nothing learned: file left as it is"),
    pytest.param(NO_LEARNED, {"mars"}, LearnedInvalid(TODAY, {"mars": SLOT}), id="first value"),
    pytest.param(LearnedInvalid(TODAY, {"venus": DAY}), {"mars"}, LearnedInvalid(TODAY, {"venus": DAY, "mars": SLOT}),
                 id="added to today's"),
    pytest.param(LearnedInvalid("2026-03-03", {"venus": DAY}), {"mars"}, LearnedInvalid(TODAY, {"mars": SLOT}),
                 id="yesterday's dropped"),
    pytest.param(LearnedInvalid(TODAY, {"mars": DAY}), {"mars"}, LearnedInvalid(TODAY, {"mars": SLOT}),
                 id="relearned at this slot"),
])
def test_the_values_a_sweep_learns_extend_the_stored_ones(stored, learned, expected):
    plan = plan_slot(SLOT, snapshot(learned_regions=stored, learned_sizes=stored))
    sweep = plan_sweep(plan, CALLS, ["eastus"], subscriptions=1, quota=QUOTA)
    after = sweep.state_after(result(invalid_regions=set(learned), invalid_sizes=set(learned)))
    assert after.learned_regions == after.learned_sizes == expected


def test_learned_values_are_stored_sorted_with_the_slot_that_learned_them():
    learned = LearnedInvalid(TODAY, {"venus": DAY}).add(TODAY, SLOT, {"mars"})
    assert learned.to_json() == {"workload_date": TODAY,
                                 "learned": {"mars": "2026-03-04T12:30:00Z", "venus": "2026-03-04T00:00:00Z"}}


# -- outcomes and writes --------------------------------------------------------------------------------

@pytest.mark.parametrize(("made", "not_made", "dropped", "sweep", "slot"), [
    (3, 0, 0, SweepOutcome.COMPLETE, SlotOutcome.OK),
    (0, 0, 0, SweepOutcome.COMPLETE, SlotOutcome.OK),
    (2, 0, 1, SweepOutcome.COMPLETE, SlotOutcome.OK),
    (1, 2, 0, SweepOutcome.PARTIAL, SlotOutcome.PARTIAL),
    (0, 3, 0, SweepOutcome.PARTIAL, SlotOutcome.PARTIAL),
    (1, 1, 1, SweepOutcome.PARTIAL, SlotOutcome.PARTIAL),
    (0, 0, 2, SweepOutcome.ALL_DROPPED, SlotOutcome.FAILED),
    (0, 2, 1, SweepOutcome.ALL_DROPPED, SlotOutcome.FAILED),
])
def test_the_outcome_of_a_sweep_and_of_its_slot(made, not_made, dropped, sweep, slot):
    done = result(made=made, not_made=not_made, dropped=dropped)
    assert (done.outcome, slot_outcome(done)) == (sweep, slot)
    assert done.partial == (not_made > 0)


def scores(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """A raw SPS frame's key columns (Region, InstanceTier, InstanceType) and a score."""
    def column(values: list) -> pd.Series:
        return pd.Series(values, dtype=object)

    return pd.DataFrame({"InstanceTier": column([t for _, t, _ in rows]),
                         "InstanceType": column([s for _, _, s in rows]),
                         "Region": column([r for r, _, _ in rows]), "Score": [3.0] * len(rows)})


def workload_pairs() -> pd.DataFrame:
    return pd.DataFrame([(r, s) for r, sizes in REGION_MAP.items() for s in sizes], columns=["Region", "InstanceType"])


def test_the_writes_keep_the_workloads_valid_pairs_and_report_in_the_stored_order():
    learned = LearnedInvalid(TODAY, {"japaneast": SLOT})
    plan = plan_slot(SLOT, snapshot(learned_regions=learned))
    sweep = plan_sweep(plan, CALLS, ["eastus", "westus"], subscriptions=3, quota=QUOTA)
    done = result(made=2, http_requests=3, http_429=1, invalid_sizes={"Standard_E2s_v5"})
    frame = scores([("eastus", "Standard", "D2s_v3"), ("eastus", "Standard", "D2s_v3"),  # two zones, one pair
                    ("westus", "Standard", "D4s_v3"), ("japaneast", "Standard", "D2s_v3"),  # known invalid
                    ("eastus", "Standard", "E2s_v5"),  # learned invalid by this sweep
                    ("northeurope", "Standard", "D2s_v3")])  # not in the workload
    writes = sweep.writes(done, workload_pairs(), frame, conflicts=1)
    assert (writes.outcome, writes.key, writes.metadata) == (SlotOutcome.OK, plan.key, plan.metadata_after)
    assert list(writes.frame.itertuples(index=False, name=None)) == [
        ("Standard", "D2s_v3", "eastus", 3.0), ("Standard", "D2s_v3", "eastus", 3.0),
        ("Standard", "D4s_v3", "westus", 3.0)]
    report = writes.report(finished_at=1772627400.12345)
    assert tuple(report) == REPORT_KEYS
    assert report == {
        "slot": slot_iso(SLOT), "desired_count": DESIRED_COUNTS[2], "key": plan.key, "planned_calls": 2,
        "calls_made": 2, "calls_not_made": 0, "calls_dropped": 0, "pairs_dropped": 0, "answer_items_ignored": 0,
        "pairs_unanswered": 0, "score_conflicts": 1, "http_requests": 3, "http_429": 1, "retries": 0,
        "token_refreshes": 0, "pairs_planned": 4, "pairs_scored": 2, "rows": 3, "partial": False,
        "subscriptions": 3, "endpoint_locations": 2, "subscriptions_needed_per_slot": 1,
        "finished_at": 1772627400.123,
    }


def test_a_partial_sweep_is_reported_partial_and_a_failed_one_publishes_nothing():
    sweep = plan_sweep(plan_slot(SLOT, snapshot()), CALLS, ["eastus"], subscriptions=1, quota=QUOTA)
    writes = sweep.writes(result(made=1, not_made=2), workload_pairs(), scores([]), conflicts=0)
    assert writes.outcome is SlotOutcome.PARTIAL and writes.report(0.0)["partial"] is True
    with pytest.raises(ValueError, match="publishes nothing"):
        sweep.writes(result(dropped=3), workload_pairs(), scores([]), conflicts=0)


# -- properties -----------------------------------------------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(index=st.integers(0, len(DESIRED_COUNTS) - 1), first=st.integers(1, 120), slots=st.integers(1, 24))
def test_consecutive_slots_of_a_day_probe_the_counts_in_rotation_order(index, first, slots):
    """From any metadata of the day, each next slot probes the next count (wrapping after 50) on the stored
    workload, the metadata each slot stores being the next slot's input; the next day starts again at 1
    and re-plans."""
    metadata = meta(index, last=slot_iso(DAY + timedelta(minutes=10 * (first - 1))))
    seen = []
    for step in range(slots):
        slot = DAY + timedelta(minutes=10 * (first + step))
        plan = plan_slot(slot, snapshot(slot, metadata=metadata))
        assert plan.workload is WorkloadSource.STORED and not plan.decision.rerun
        seen.append(plan.desired_count)
        metadata = plan.metadata_after
    assert seen == [DESIRED_COUNTS[(index + i) % len(DESIRED_COUNTS)] for i in range(slots)]
    tomorrow = DAY + timedelta(days=1)
    plan = plan_slot(tomorrow, snapshot(tomorrow, metadata=metadata))
    assert (plan.desired_count, plan.workload) == (DESIRED_COUNTS[0], WorkloadSource.DAILY)


metadata_values = st.one_of(
    st.none(),
    st.builds(meta, index=st.integers(0, len(DESIRED_COUNTS) - 1),
              last=st.integers(-3, 3).map(lambda d: slot_iso(SLOT + timedelta(minutes=10 * d))),
              date=st.sampled_from([TODAY, "2026-03-03"]), count=st.sampled_from([None, *DESIRED_COUNTS])),
)


@settings(max_examples=200, deadline=None)
@given(metadata=metadata_values, stored=st.lists(st.sampled_from(DESIRED_COUNTS), max_size=2),
       has_plan=st.booleans(), cursor=st.integers(0, 10), learned_at=st.integers(0, 48))
def test_a_rerun_of_the_same_slot_converges_on_the_plan_of_its_first_run(metadata, stored, has_plan, cursor,
                                                                        learned_at):
    """docs/contract.md 8: a rerun leaves the rotation metadata of a slot already recorded; once a slot's raw
    object and metadata are stored, running it again plans the same count and key, stores the same metadata,
    and keeps planning so (idempotent)."""
    learned = LearnedInvalid(TODAY, {"japaneast": SLOT - timedelta(minutes=10 * learned_at)})
    snap = snapshot(metadata=metadata, stored_counts=tuple(stored), stored_plan=CALLS if has_plan else None,
                    sweep_cursor=SweepCursor(TODAY, cursor), learned_regions=learned)
    try:
        first = plan_slot(SLOT, snap)
    except UsageError:
        assert not stored and metadata is not None and metadata["last_timestamp"] > slot_iso(SLOT)
        return
    assert plan_slot(SLOT, snap) == first  # pure: same inputs, same plan
    if metadata is not None and metadata["last_timestamp"] >= slot_iso(SLOT):
        assert first.metadata_after == metadata  # a rerun never moves the rotation (back)
    rerun_snapshot = dataclasses.replace(snap, metadata=first.metadata_after,
                                         stored_counts=tuple({*stored, first.desired_count}), stored_plan=CALLS)
    rerun = plan_slot(SLOT, rerun_snapshot)
    assert (rerun.desired_count, rerun.key) == (first.desired_count, first.key)
    assert rerun.metadata_after == first.metadata_after
    assert rerun.invalid_regions == first.invalid_regions and rerun.cursor == first.cursor
    again = plan_slot(SLOT, dataclasses.replace(rerun_snapshot, metadata=rerun.metadata_after))
    assert again == rerun


@settings(max_examples=150, deadline=None)
@given(calls=st.integers(1, 12), cursor=st.integers(0, 40),
       made=st.lists(st.integers(0, 12), min_size=1, max_size=8))
def test_consecutive_partial_sweeps_probe_the_calls_in_turn(calls, cursor, made):
    """Each sweep starts where the previous one stopped: the calls sent over consecutive slots are the plan
    read cyclically from the stored cursor, so with too few subscriptions no call is starved."""
    planned = [PlannedCall((f"r{i:02d}",), ("Standard_A",)) for i in range(calls)]
    stored = SweepCursor(TODAY, cursor)
    sent: list[PlannedCall] = []
    for step, wanted in enumerate(made):
        slot = SLOT + timedelta(minutes=10 * step)
        plan = plan_slot(slot, snapshot(slot, metadata=None, sweep_cursor=stored))
        sweep = plan_sweep(plan, planned, ["eastus"], subscriptions=1, quota=QUOTA)
        assert sorted(sweep.calls, key=planned.index) == planned  # a rotation of the plan, nothing lost
        count = min(wanted, calls)
        sent.extend(sweep.calls[:count])
        stored = SweepCursor(TODAY, sweep.state_after(result(made=count, not_made=calls - count)).next_cursor)
    assert sent == [planned[(cursor + i) % calls] for i in range(len(sent))]


@pytest.mark.parametrize(("cursor", "not_made", "next_cursor"), [
    (0, {0}, 0), (0, {1}, 1), (1, {0, 2}, 1), (2, {1}, 0), (0, set(), 0),
])
def test_the_next_sweep_starts_at_the_first_call_that_got_no_quota_even_when_a_later_one_was_made(
        cursor, not_made, next_cursor):
    # Threads race for the last quota units: call 1 may get the last one while call 0 gets none. The next
    # sweep must start at call 0, or call 0 could be skipped sweep after sweep.
    plan = plan_slot(SLOT, snapshot(sweep_cursor=SweepCursor(TODAY, cursor)))
    sweep = plan_sweep(plan, CALLS, ["eastus"], subscriptions=1, quota=QUOTA)
    outcome = result(made=3 - len(not_made), not_made=len(not_made))
    outcome.not_made = set(not_made)
    assert sweep.state_after(outcome).next_cursor == next_cursor
