#!/usr/bin/env python3
"""SPS collection core: rotation -> workload and plan (daily) -> quota-exact sweep -> raw object, handoff, state.

``collect_slot`` is what ``collect_sps.py`` runs for one slot. This module is the slot's shell: it reads the
state once (``sps_module.snapshot.read_snapshot``), lets the pure plan (``sps_module.slot_plan``) decide,
does the network calls and writes what the plan says, in this order and nothing else -- the decisions
live in the plan so they can be tested without a store, a clock or an emulator. Order of the writes
(docs/contract.md 2, 8):

0. before the sweep, only when the plan says so: today's workload and request plan (``region_map.json``,
   ``size_map.json``, the request plan; first run of the day or stale), then the endpoint locations
   (``available_locations.json``; discovered once a day);
1. the quota ledger and the learned invalid regions/sizes and the sweep cursor (always, even when the sweep
   fails: the calls were spent); learned values expire at the next daily re-plan at the latest
   (``sps_shared_resources``);
2. the raw SPS object ``sps_key(slot, count)``;
3. the handoff file (``settings.sps_key_file``, temp + ``os.replace``) with that key;
4. the rotation metadata (``sps_metadata.yaml``) -- only now does the desired-count index advance;
5. ``last_run.json``.

Everything runs under the ``sps-state`` lease, so two SPS runs never interleave their state updates (and
nothing changes the state between the snapshot and the writes).

A sweep cut short by quota is *partial*, not failed (docs/contract.md 8, ``SlotOutcome.PARTIAL``): the probed
rows are stored, the rest are absent (merge keeps their T2/T3), ``last_run.json`` says ``partial: true`` with
``calls_not_made``, and the run exits 0. A sweep whose every call was dropped after unreadable 400s
(``SlotOutcome.FAILED``) raises ``RunFailed`` after step 1.

CLI: ``python3 sps/load_sps.py plan --pairs PAIRS.csv [--max-regions 8] [--max-sizes 5]`` prints the request
plan of a CSV of (Region, InstanceType) pairs as one JSON object (``sps_module.plan_cli``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from utils.runtime import require_runtime

    require_runtime()

import pandas as pd
import requests

from sps_module.quota_ledger import LedgerSummary, QuotaLedger
from sps_module.request_planner import PlannedCall, plan_requests
from sps_module.slot_plan import (
    QuotaParams,
    SlotOutcome,
    SlotPlan,
    SweepPlan,
    WorkloadSource,
    plan_slot,
    plan_sweep,
    slot_outcome,
)
from sps_module.snapshot import read_snapshot
from sps_module.sps_location_manager import endpoint_locations
from sps_module.sps_prepare_parameters import fetch_workload, region_size_maps, save_plan
from sps_module.sps_shared_resources import STATE_LEASE, SpsState, restore_ledger
from sps_module.sweep import SweepResult, run_sweep
from utils import handoff
from utils.azure_api.retry import RetryPolicy
from utils.azure_api.sps import score_frame
from utils.constants import SPS_METADATA_KEY
from utils.errors import RunFailed
from utils.lease import held
from utils.settings import Settings
from utils.store import Store
from utils.store_io import write_parquet, write_yaml
from utils.timestamps import slot_iso

log = logging.getLogger("sps")


def run_clock(settings: Settings, slot: datetime) -> Callable[[], float]:
    """Epoch seconds "now" for the quota ledger: real UTC time (``wall``), or the slot time plus the elapsed
    monotonic time (``slot``: soak tests drive the emulator clock to the same slot times)."""
    if settings.clock == "slot":
        start = time.monotonic()
        base = slot.timestamp()
        return lambda: base + (time.monotonic() - start)
    return time.time


def write_handoff(path: Path, key: str) -> None:
    """Write ``key`` (one line) to the handoff file atomically (``utils.handoff``: O_EXCL temp file + rename)."""
    handoff.write_handoff(path, key)


def _workload(settings: Settings, store: Store, state: SpsState, session: requests.Session, auth: Any, *,
              plan: SlotPlan, page_policy: RetryPolicy) -> tuple[pd.DataFrame, tuple[PlannedCall, ...]]:
    """(pairs, planned calls) of today: the stored ones, or rebuilt and stored (write 0)."""
    if plan.workload is WorkloadSource.STORED:
        pairs, calls = plan.stored_workload()
        log.info("reusing today's SPS workload and plan (%d calls)", len(calls))
        return pairs, calls
    if plan.workload is WorkloadSource.STALE:
        log.warning("today's SPS workload or plan is missing or stale; rebuilding it")
    pairs = fetch_workload(settings, session, auth, invalid_regions=set(plan.invalid_regions),
                           invalid_sizes=set(plan.invalid_sizes), retry_policy=page_policy, progress_logger=log)
    region_map, size_map = region_size_maps(pairs)
    state.save_maps(plan.today, region_map, size_map)
    request_plan = plan_requests(pairs)
    save_plan(store, request_plan, plan.today)
    log.info("SPS request plan: %d calls for %d pairs (lower bound %d, %.2fs)", len(request_plan.calls),
             request_plan.pairs, request_plan.lower_bound, request_plan.seconds)
    return pairs, request_plan.calls


def collect_slot(settings: Settings, slot: datetime, *, store: Store, session: requests.Session, auth: Any,
                 clock: Callable[[], float] | None = None, retry_policy: RetryPolicy | None = None,
                 page_policy: RetryPolicy | None = None) -> dict[str, Any]:
    """Collect the SPS of one slot (see the module docstring); returns the ``last_run.json`` report.

    ``clock`` (epoch seconds) defaults to ``run_clock``. The retry policies are built here, once, from
    ``settings.retry`` (SPOTLAKE_RETRY_*) and passed down: ``retry_policy`` for the SPS calls and the
    endpoint-location discovery (capped at 0.5 s base / 8 s max backoff), ``page_policy`` for the pages of
    the day's workload (the price list and the SKU listing).

    Raises:
        LeaseHeld: another SPS run holds the state lease (exit 1).
        RunFailed: a fault outlived its retries; no raw object, no handoff file, rotation not advanced.
    """
    clock = clock or run_clock(settings, slot)
    # One SPS call is small and quota is scarce: back off quicker than the page fetchers by default.
    retry_policy = retry_policy or RetryPolicy.from_settings(
        settings, base_delay=min(settings.retry.base_delay, 0.5), max_delay=min(settings.retry.max_delay, 8.0)
    )
    page_policy = page_policy or RetryPolicy.from_settings(settings)
    with held(store, STATE_LEASE, settings.lease_ttl_seconds):
        return _collect_locked(settings, slot, store=store, session=session, auth=auth, clock=clock,
                               retry_policy=retry_policy, page_policy=page_policy)


def _log_quota(sweep: SweepPlan, summary: LedgerSummary) -> None:
    log.info("SPS sweep: %d calls planned; quota available now %d calls over %d buckets (%d subscriptions x %d "
             "endpoint locations, %d cooling down); subscriptions needed per 10-minute slot: %d (configured: %d)",
             len(sweep.calls), summary.available_now, summary.buckets, sweep.subscriptions, len(sweep.locations),
             summary.cooling_down, sweep.subscriptions_needed, sweep.subscriptions)
    if sweep.short_of_subscriptions:
        log.warning("SPS: %d subscriptions configured but a full sweep every 10 minutes needs %d; expect partial "
                    "sweeps", sweep.subscriptions, sweep.subscriptions_needed)


def _log_answers(result: SweepResult, conflicts: int) -> None:
    if result.items_ignored or result.pairs_unanswered or conflicts:
        log.warning("SPS answers: %d items for pairs their call did not ask ignored (unasked pair or unmatched "
                    "region name), %d asked pairs unanswered, %d conflicting duplicate scores (first in plan "
                    "order kept)", result.items_ignored, result.pairs_unanswered, conflicts)
    if result.calls_dropped:
        log.warning("SPS: %d calls dropped after unreadable 400s, %d pairs not scored this slot (they keep their "
                    "previous T2/T3)", result.calls_dropped, result.pairs_dropped)


def _log_slot(report: dict[str, Any], outcome: SlotOutcome) -> None:
    level = logging.INFO if outcome is SlotOutcome.OK else logging.WARNING
    log.log(level, "SPS slot %s count %d: %d/%d calls made, %d not made (quota), %d pairs of %d scored, %d rows, "
            "%d 429s, %d retries -> %s", report["slot"], report["desired_count"], report["calls_made"],
            report["planned_calls"], report["calls_not_made"], report["pairs_scored"], report["pairs_planned"],
            report["rows"], report["http_429"], report["retries"], report["key"])


def _collect_locked(settings: Settings, slot: datetime, *, store: Store, session: requests.Session, auth: Any,
                    clock: Callable[[], float], retry_policy: RetryPolicy, page_policy: RetryPolicy
                    ) -> dict[str, Any]:
    snapshot = read_snapshot(store, slot)
    plan = plan_slot(slot, snapshot)
    log.info("slot %s: desired count %d (%s)", slot_iso(slot), plan.desired_count, plan.decision.reason)
    state = SpsState(store)
    pairs, planned = _workload(settings, store, state, session, auth, plan=plan, page_policy=page_policy)  # 0
    locations = endpoint_locations(state, snapshot.locations, session, auth, today=plan.today,
                                   timeout=settings.http_timeout, fallback=sorted(set(pairs["Region"])),
                                   policy=retry_policy)  # 0
    quota = QuotaParams(settings.sps_quota_per_location, settings.sps_quota_window_minutes)
    sweep = plan_sweep(plan, planned, locations, subscriptions=len(auth.subscription_ids), quota=quota)
    ledger = QuotaLedger(auth.subscription_ids, sweep.locations, quota.per_location, sweep.window_seconds)
    restore_ledger(ledger, snapshot.ledger, clock())
    _log_quota(sweep, ledger.summary(clock()))
    result = SweepResult()
    try:
        run_sweep(sweep.calls, session=session, auth=auth, ledger=ledger, clock=clock,
                  desired_count=plan.desired_count, workers=settings.sps_workers, timeout=settings.http_timeout,
                  known_invalid_regions=set(plan.invalid_regions), known_invalid_sizes=set(plan.invalid_sizes),
                  progress_logger=log, result=result, policy=retry_policy)
    finally:  # 1: the calls were spent whatever the outcome: persist them (and what the API taught us) first
        after = sweep.state_after(result)
        state.save_ledger(ledger, clock())
        state.save_learned(after.learned_regions, after.learned_sizes)
        state.save_sweep_cursor(plan.today, after.next_cursor)
    if slot_outcome(result) is SlotOutcome.FAILED:
        # One unreadable 400 loses one call's pairs; every call refused so is the API or our request broken.
        raise RunFailed(f"every SPS call was dropped after unreadable 400s ({result.calls_dropped} calls)")
    frame, conflicts = score_frame(result.items, plan.desired_count, slot)
    _log_answers(result, conflicts)
    writes = sweep.writes(result, pairs, frame, conflicts)
    write_parquet(store, writes.key, writes.frame)  # 2
    write_handoff(settings.sps_key_file, writes.key)  # 3
    write_yaml(store, SPS_METADATA_KEY, writes.metadata)  # 4
    report = writes.report(finished_at=clock())
    state.save_last_run(report)  # 5
    _log_slot(report, writes.outcome)
    return report


def main(argv: list[str] | None = None) -> int:
    """``plan --pairs PAIRS.csv [--max-regions 8] [--max-sizes 5]``: delegates to ``sps_module.plan_cli``."""
    from sps_module import plan_cli

    return plan_cli.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
