"""The plan of one SPS slot: pure functions from what the slot read (``SpsSnapshot``) and fetched to what it does
and writes.

Why: every decision of a slot (which desired count, whether to re-plan the workload, which calls in which
order, what the learned values, the sweep cursor, the rotation metadata and the run report become) is a
function of the stored state, the settings and what the network answered. Keeping those decisions here,
without I/O, clock or network, lets them be tested table by table and by property (the rotation order, a
rerun of the same slot converging on the same plan) and leaves ``sps/load_sps.py`` a thin shell that reads
the snapshot, fetches, sweeps and writes in the documented order (docs/contract.md 2, 8).

A slot is planned in the three steps its network calls separate:

1. ``plan_slot(slot, snapshot)`` -> ``SlotPlan``: the rotation decision, whether the stored workload and
   plan are reused (``WorkloadSource``), the learned invalid values in force, the raw object's key and the
   rotation metadata to store once that object is stored;
2. ``plan_sweep(plan, planned calls, endpoint locations, ...)`` -> ``SweepPlan``: the calls without the
   values known invalid, in sweep order (starting at the stored cursor), and the subscriptions a full
   sweep every slot needs;
3. from the sweep's result: ``SweepPlan.state_after`` (the learned values and cursor to store, also when
   the sweep failed: its calls were spent), ``slot_outcome`` and ``SweepPlan.writes`` (the raw frame, its
   key, the metadata and the ``last_run.json`` report).

The report keeps its keys, order and values (``REPORT_KEYS``); the outcomes are ``StrEnum`` values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import pandas as pd

from sps_module import rotation
from sps_module.quota_ledger import subscriptions_needed
from sps_module.request_planner import PlannedCall
from sps_module.snapshot import SpsSnapshot
from sps_module.sps_prepare_parameters import drop_invalid, pairs_from_region_map
from sps_module.sps_shared_resources import LearnedInvalid
from sps_module.sweep import SweepOutcome, SweepResult
from utils.constants import sps_key
from utils.timestamps import slot_iso

# ``last_run.json`` (docs/contract.md 5), in the order it is written; ``finished_at`` is added last by the shell.
REPORT_KEYS = (
    "slot", "desired_count", "key", "planned_calls", "calls_made", "calls_not_made", "calls_dropped",
    "pairs_dropped", "answer_items_ignored", "pairs_unanswered", "score_conflicts", "http_requests", "http_429",
    "retries", "token_refreshes", "pairs_planned", "pairs_scored", "rows", "partial", "subscriptions",
    "endpoint_locations", "subscriptions_needed_per_slot", "finished_at",
)  # fmt: skip


class WorkloadSource(StrEnum):
    """Where the slot's (region, size) pairs and request plan come from."""

    STORED = "stored"  # today's stored workload and plan
    DAILY = "daily"  # the rotation re-plans: first run of the UTC day, or no usable rotation metadata
    STALE = "stale"  # the rotation would reuse them, but they are missing, empty or of another day


class SlotOutcome(StrEnum):
    """How a slot whose sweep returned ends (a fault that outlives its retries raises ``RunFailed`` earlier)."""

    OK = "ok"  # every planned call made (some may have been dropped after unreadable 400s)
    PARTIAL = "partial"  # quota ran out: a partial success, exit 0 (docs/contract.md 8)
    FAILED = "failed"  # every call sent was dropped after unreadable 400s: RunFailed, nothing published


@dataclass(frozen=True)
class QuotaParams:
    """The settings the sweep's quota depends on (``settings.sps_quota_*``)."""

    per_location: int
    window_minutes: float

    @property
    def window_seconds(self) -> float:
        return self.window_minutes * 60


@dataclass(frozen=True)
class SlotPlan:
    """What the slot does before anything is fetched (``plan_slot``).

    Attributes:
        slot, today: the slot and its UTC date (the workload date).
        decision: the rotation decision (desired count, rerun, reason).
        workload: whether the stored workload and plan are reused or rebuilt.
        stored_region_map, stored_calls: the stored workload and plan (``STORED`` only; empty otherwise).
        invalid_regions, invalid_sizes: the learned invalid values in force at the slot: skipped when the
            workload is rebuilt, dropped from the planned calls, told to the sweep.
        learned_regions, learned_sizes: the learned files as stored, which the sweep's lessons extend.
        cursor: the stored sweep cursor for today (0 for a new workload); taken modulo the calls.
        key: the raw SPS object of the slot.
        metadata_after: the rotation metadata to store once the raw object is stored.
    """

    slot: datetime
    today: str
    decision: rotation.RotationDecision
    workload: WorkloadSource
    stored_region_map: dict[str, list[str]]
    stored_calls: tuple[PlannedCall, ...]
    invalid_regions: frozenset[str]
    invalid_sizes: frozenset[str]
    learned_regions: LearnedInvalid
    learned_sizes: LearnedInvalid
    cursor: int
    key: str
    metadata_after: dict[str, Any]

    @property
    def desired_count(self) -> int:
        return self.decision.desired_count

    def stored_workload(self) -> tuple[pd.DataFrame, tuple[PlannedCall, ...]]:
        """(pairs, planned calls) of the stored workload (``workload`` is ``STORED``)."""
        return pairs_from_region_map(self.stored_region_map), self.stored_calls


def plan_slot(slot: datetime, snapshot: SpsSnapshot) -> SlotPlan:
    """Plan ``slot`` from the state it read.

    Raises:
        UsageError: a late slot (older than the last SPS run, never probed; ``rotation.decide``).
        ValueError: ``snapshot`` was read for another slot.
    """
    if snapshot.slot != slot:
        raise ValueError(f"snapshot of {slot_iso(snapshot.slot)} used to plan {slot_iso(slot)}")
    decision = rotation.decide(snapshot.metadata, slot, snapshot.stored_counts)
    today = rotation.slot_date(slot)
    stored = (snapshot.stored_plan is not None and snapshot.workload_date == today and bool(snapshot.region_map))
    if decision.rebuild_workload:
        workload = WorkloadSource.DAILY
    else:
        workload = WorkloadSource.STORED if stored else WorkloadSource.STALE
    reuse = workload is WorkloadSource.STORED
    return SlotPlan(
        slot=slot,
        today=today,
        decision=decision,
        workload=workload,
        stored_region_map=snapshot.region_map if reuse else {},
        stored_calls=(snapshot.stored_plan or ()) if reuse else (),
        invalid_regions=frozenset(snapshot.learned_regions.in_force(today, slot)),
        invalid_sizes=frozenset(snapshot.learned_sizes.in_force(today, slot)),
        learned_regions=snapshot.learned_regions,
        learned_sizes=snapshot.learned_sizes,
        cursor=0 if snapshot.sweep_cursor is None else snapshot.sweep_cursor.start(today),
        key=sps_key(slot, decision.desired_count),
        metadata_after=rotation.advance(snapshot.metadata, decision, slot),
    )


@dataclass(frozen=True)
class StateAfterSweep:
    """The state files a sweep changes besides the ledger, written even when it failed.

    ``learned_regions``/``learned_sizes`` are None when the sweep learned none (the file is left as it is).
    """

    learned_regions: LearnedInvalid | None
    learned_sizes: LearnedInvalid | None
    next_cursor: int


@dataclass(frozen=True, eq=False)
class SlotWrites:
    """What a slot whose sweep returned publishes, in the documented order (``frame`` is a DataFrame, so
    instances compare by identity)."""

    outcome: SlotOutcome
    key: str
    frame: pd.DataFrame
    metadata: dict[str, Any]
    report_fields: dict[str, Any]

    def report(self, finished_at: float) -> dict[str, Any]:
        """``last_run.json``: the fields, then ``finished_at`` (epoch seconds, 3 decimals)."""
        return {**self.report_fields, "finished_at": round(finished_at, 3)}


def slot_outcome(result: SweepResult) -> SlotOutcome:
    """The slot's outcome from its sweep's (``SweepResult.outcome``)."""
    return {
        SweepOutcome.COMPLETE: SlotOutcome.OK,
        SweepOutcome.PARTIAL: SlotOutcome.PARTIAL,
        SweepOutcome.ALL_DROPPED: SlotOutcome.FAILED,
    }[result.outcome]


def _pair_keys(regions: pd.Series, arm_names: pd.Series) -> pd.Series:
    return arm_names.astype(str).str.lower() + "|" + regions.astype(str).str.lower()


@dataclass(frozen=True)
class SweepPlan:
    """The slot's sweep (``plan_sweep``) and, from its result, what to store.

    Attributes:
        plan: the slot's plan.
        calls: the planned calls without the values known invalid, in sweep order.
        start: index (in the plan order) of the first call of the sweep order.
        locations: the endpoint locations (one quota bucket per subscription and location).
        subscriptions: the subscriptions configured.
        subscriptions_needed: those a full sweep every slot needs (``quota_ledger.subscriptions_needed``).
        window_seconds: the quota window.
    """

    plan: SlotPlan
    calls: tuple[PlannedCall, ...]
    start: int
    locations: tuple[str, ...]
    subscriptions: int
    subscriptions_needed: int
    window_seconds: float

    @property
    def short_of_subscriptions(self) -> bool:
        """Too few subscriptions for a full sweep every slot: expect partial sweeps."""
        return self.subscriptions_needed > self.subscriptions

    def state_after(self, result: SweepResult) -> StateAfterSweep:
        """The learned values and the cursor to store after the sweep (also one that raised: ``result``
        then holds what it did before). A partial sweep leaves the tail of its order unprobed; the next
        sweep starts at its first call that got no quota, so with too few subscriptions every pair is still
        probed in turn (the threads race for the last quota units, so a call after it may have been made: it
        is made again next time rather than a call before it never). Without per-call outcomes (a sweep that
        raised before any call ended), the made and dropped calls count from the start."""
        plan = self.plan
        first_not_made = result.first_not_made()
        done = result.calls_made + result.calls_dropped if first_not_made is None else first_not_made
        return StateAfterSweep(
            learned_regions=(plan.learned_regions.add(plan.today, plan.slot, result.invalid_regions)
                             if result.invalid_regions else None),
            learned_sizes=(plan.learned_sizes.add(plan.today, plan.slot, result.invalid_sizes)
                           if result.invalid_sizes else None),
            next_cursor=(self.start + done) % len(self.calls) if self.calls else 0,
        )

    def writes(self, result: SweepResult, pairs: pd.DataFrame, frame: pd.DataFrame, conflicts: int) -> SlotWrites:
        """What to publish from the sweep's ``result``: ``frame``/``conflicts`` are its scores
        (``utils.azure_api.sps.score_frame``), kept for the workload ``pairs`` not known invalid, whose count is
        ``pairs_planned``.

        Raises:
            ValueError: the outcome is ``FAILED`` (the shell raises RunFailed before publishing anything).
        """
        outcome = slot_outcome(result)
        if outcome is SlotOutcome.FAILED:
            raise ValueError("a slot whose every call was dropped publishes nothing")
        plan = self.plan
        bad_regions = {r.lower() for r in plan.invalid_regions | result.invalid_regions}
        bad_sizes = {s.lower() for s in plan.invalid_sizes | result.invalid_sizes}
        pairs = pairs[~pairs["Region"].str.lower().isin(bad_regions)
                      & ~pairs["InstanceType"].str.lower().isin(bad_sizes)]
        wanted = set(_pair_keys(pairs["Region"], pairs["InstanceType"]))
        frame_keys = _pair_keys(frame["Region"], frame["InstanceTier"] + "_" + frame["InstanceType"])
        frame = frame[frame_keys.isin(wanted)].reset_index(drop=True)
        fields = {
            "slot": slot_iso(plan.slot),
            "desired_count": plan.desired_count,
            "key": plan.key,
            "planned_calls": len(self.calls),
            "calls_made": result.calls_made,
            "calls_not_made": result.calls_not_made,
            "calls_dropped": result.calls_dropped,
            "pairs_dropped": result.pairs_dropped,
            "answer_items_ignored": result.items_ignored,
            "pairs_unanswered": result.pairs_unanswered,
            "score_conflicts": conflicts,
            "http_requests": result.http_requests,
            "http_429": result.http_429,
            "retries": result.retries,
            "token_refreshes": result.token_refreshes,
            "pairs_planned": len(wanted),
            "pairs_scored": int(frame_keys[frame_keys.isin(wanted)].nunique()),
            "rows": len(frame),
            "partial": outcome is SlotOutcome.PARTIAL,
            "subscriptions": self.subscriptions,
            "endpoint_locations": len(self.locations),
            "subscriptions_needed_per_slot": self.subscriptions_needed,
        }
        return SlotWrites(outcome, plan.key, frame, plan.metadata_after, fields)


def plan_sweep(plan: SlotPlan, planned: Sequence[PlannedCall], locations: Sequence[str], *, subscriptions: int,
               quota: QuotaParams) -> SweepPlan:
    """The sweep of ``plan`` over today's ``planned`` calls and the endpoint ``locations``."""
    calls = drop_invalid(planned, set(plan.invalid_regions), set(plan.invalid_sizes))
    start = plan.cursor % len(calls) if calls else 0
    return SweepPlan(
        plan=plan,
        calls=tuple(calls[start:] + calls[:start]),
        start=start,
        locations=tuple(locations),
        subscriptions=subscriptions,
        subscriptions_needed=subscriptions_needed(len(calls), len(locations), quota.per_location,
                                                  quota.window_minutes),
        window_seconds=quota.window_seconds,
    )
