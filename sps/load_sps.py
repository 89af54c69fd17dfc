#!/usr/bin/env python3
"""SPS collection core: rotation -> workload and plan (daily) -> quota-exact sweep -> raw object, handoff, state.

``collect_slot`` is what ``collect_sps.py`` runs for one slot. Order of the writes (docs/contract.md 2, 8):

1. learned invalid regions/sizes and the quota ledger (always, even when the sweep fails: the calls were
   spent); learned values expire at the next daily re-plan at the latest (``sps_shared_resources``);
2. the raw SPS object ``sps_key(slot, count)``;
3. the handoff file (``settings.sps_key_file``, temp + ``os.replace``) with that key;
4. the rotation metadata (``sps_metadata.yaml``) -- only now does the desired-count index advance;
5. ``last_run.json``.

Everything runs under the ``sps-state`` lease, so two SPS runs never interleave their state updates.

A sweep cut short by quota is *partial*, not failed (docs/contract.md 8): the probed rows are stored, the rest are
absent (merge keeps their T2/T3), ``last_run.json`` says ``partial: true`` with ``calls_not_made``, and the
run exits 0.

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

from sps_module import rotation
from sps_module.quota_ledger import QuotaLedger, subscriptions_needed
from sps_module.request_planner import plan_requests
from sps_module.sps_location_manager import endpoint_locations
from sps_module.sps_prepare_parameters import (
    drop_invalid,
    fetch_workload,
    load_plan,
    pairs_from_region_map,
    region_size_maps,
    save_plan,
)
from sps_module.sps_shared_resources import STATE_LEASE, SpsState
from sps_module.sweep import SweepResult, run_sweep
from utils import handoff
from utils.azure_api.retry import RetryPolicy
from utils.azure_api.sps import score_frame
from utils.constants import DESIRED_COUNTS, SPS_METADATA_KEY, parse_sps_key, sps_key
from utils.errors import CorruptObject, ObjectNotFound, RunFailed, UsageError
from utils.lease import held
from utils.settings import Settings
from utils.store import Store
from utils.store_io import read_yaml, write_parquet, write_yaml
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


def read_metadata(store: Store) -> dict[str, Any] | None:
    """The rotation metadata, or None when missing or corrupt (a warning says which)."""
    try:
        value = read_yaml(store, SPS_METADATA_KEY)
    except ObjectNotFound:
        log.info("no SPS rotation metadata yet (%s)", SPS_METADATA_KEY)
        return None
    except CorruptObject as exc:
        log.warning("SPS rotation metadata is corrupt (%s); treating it as missing", exc.reason)
        return None
    if not rotation.valid_metadata(value):
        log.warning("SPS rotation metadata has the wrong shape (%r); treating it as missing", value)
        return None
    return value


def write_handoff(path: Path, key: str) -> None:
    """Write ``key`` (one line) to the handoff file atomically (``utils.handoff``: O_EXCL temp file + rename)."""
    handoff.write_handoff(path, key)


def _pair_keys(regions: pd.Series, arm_names: pd.Series) -> pd.Series:
    return arm_names.astype(str).str.lower() + "|" + regions.astype(str).str.lower()


def _workload(settings: Settings, store: Store, state: SpsState, session: requests.Session, auth: Any, *,
              today: str, slot: datetime, rebuild: bool) -> tuple[pd.DataFrame, tuple[Any, ...]]:
    """(pairs, planned calls) of today: the stored ones, or rebuilt (first run of the day / missing)."""
    if not rebuild:
        calls = load_plan(store, today)
        workload_date, region_map = state.region_map()
        if calls is not None and workload_date == today and region_map:
            log.info("reusing today's SPS workload and plan (%d calls)", len(calls))
            return pairs_from_region_map(region_map), calls
        log.warning("today's SPS workload or plan is missing or stale; rebuilding it")
    pairs = fetch_workload(settings, session, auth, invalid_regions=state.invalid_regions(today, slot),
                           invalid_sizes=state.invalid_sizes(today, slot), progress_logger=log)
    region_map, size_map = region_size_maps(pairs)
    state.save_maps(today, region_map, size_map)
    plan = plan_requests(pairs)
    save_plan(store, plan, today)
    log.info("SPS request plan: %d calls for %d pairs (lower bound %d, %.2fs)", len(plan.calls), plan.pairs,
             plan.lower_bound, plan.seconds)
    return pairs, plan.calls


def collect_slot(settings: Settings, slot: datetime, *, store: Store, session: requests.Session, auth: Any,
                 clock: Callable[[], float] | None = None, retry_policy: RetryPolicy | None = None
                 ) -> dict[str, Any]:
    """Collect the SPS of one slot (see the module docstring); returns the ``last_run.json`` report.

    ``clock`` (epoch seconds) defaults to ``run_clock``; ``retry_policy`` to ``settings.retry`` (capped
    at 0.5 s base / 8 s max backoff).

    Raises:
        LeaseHeld: another SPS run holds the state lease (exit 1).
        RunFailed: a fault outlived its retries; no raw object, no handoff file, rotation not advanced.
    """
    clock = clock or run_clock(settings, slot)
    # One SPS call is small and quota is scarce: back off quicker than the page fetchers by default.
    retry_policy = retry_policy or RetryPolicy.from_settings(
        settings, base_delay=min(settings.retry.base_delay, 0.5), max_delay=min(settings.retry.max_delay, 8.0)
    )
    with held(store, STATE_LEASE, settings.lease_ttl_seconds):
        return _collect_locked(settings, slot, store=store, session=session, auth=auth, clock=clock,
                               retry_policy=retry_policy)


def stored_sps_counts(store: Store, slot: datetime) -> list[int]:
    """Desired counts of the raw SPS objects already stored for ``slot`` (normally none, or one)."""
    prefix = sps_key(slot, DESIRED_COUNTS[0]).rsplit("_sps_", 1)[0] + "_sps_"
    counts = []
    for key in store.list_keys(prefix):
        try:
            counts.append(parse_sps_key(key)[1])
        except UsageError:
            log.warning("ignoring an unexpected object under the SPS prefix: %s", key)  # not a raw SPS object
    return counts


def _collect_locked(settings: Settings, slot: datetime, *, store: Store, session: requests.Session, auth: Any,
                    clock: Callable[[], float], retry_policy: RetryPolicy | None) -> dict[str, Any]:
    metadata = read_metadata(store)
    decision = rotation.decide(metadata, slot, stored_sps_counts(store, slot))
    log.info("slot %s: desired count %d (%s)", slot_iso(slot), decision.desired_count, decision.reason)
    state = SpsState(store)
    today = rotation.slot_date(slot)
    pairs, planned = _workload(settings, store, state, session, auth, today=today, slot=slot,
                              rebuild=decision.rebuild_workload)

    invalid_regions, invalid_sizes = state.invalid_regions(today, slot), state.invalid_sizes(today, slot)
    calls = drop_invalid(planned, invalid_regions, invalid_sizes)
    locations = endpoint_locations(state, session, auth, today=today, timeout=settings.http_timeout,
                                   fallback=sorted(set(pairs["Region"])), policy=retry_policy)
    window_seconds = settings.sps_quota_window_minutes * 60
    ledger = QuotaLedger(auth.subscription_ids, locations, settings.sps_quota_per_location, window_seconds)
    state.load_ledger(ledger, clock())
    summary = ledger.summary(clock())
    needed = subscriptions_needed(len(calls), len(locations), settings.sps_quota_per_location,
                                  settings.sps_quota_window_minutes)
    log.info("SPS sweep: %d calls planned; quota available now %d calls over %d buckets (%d subscriptions x %d "
             "endpoint locations, %d cooling down); subscriptions needed per 10-minute slot: %d (configured: %d)",
             len(calls), summary.available_now, summary.buckets, len(auth.subscription_ids), len(locations),
             summary.cooling_down, needed, len(auth.subscription_ids))
    if needed > len(auth.subscription_ids):
        log.warning("SPS: %d subscriptions configured but a full sweep every 10 minutes needs %d; expect partial "
                    "sweeps", len(auth.subscription_ids), needed)

    # A partial sweep leaves the tail of its order unprobed; the next sweep starts there, so with too few
    # subscriptions every pair is still probed in turn instead of the same tail never being probed.
    start = state.sweep_cursor(today) % len(calls) if calls else 0
    calls = calls[start:] + calls[:start]
    result = SweepResult()
    try:
        run_sweep(calls, session=session, auth=auth, ledger=ledger, clock=clock,
                  desired_count=decision.desired_count, workers=settings.sps_workers, timeout=settings.http_timeout,
                  known_invalid_regions=invalid_regions, known_invalid_sizes=invalid_sizes, progress_logger=log,
                  result=result, policy=retry_policy)
    finally:
        # The calls were spent whatever the outcome: persist them (and what the API taught us) first.
        state.save_ledger(ledger, clock())
        state.add_invalid(today, slot, result.invalid_regions, result.invalid_sizes)
        state.save_sweep_cursor(today, (start + result.calls_made + result.calls_dropped) % len(calls) if calls else 0)

    if result.calls_dropped and not result.calls_made:
        # One unreadable 400 loses one call's pairs; every call refused so is the API or our request broken.
        raise RunFailed(f"every SPS call was dropped after unreadable 400s ({result.calls_dropped} calls)")

    bad_regions = {r.lower() for r in invalid_regions | result.invalid_regions}
    bad_sizes = {s.lower() for s in invalid_sizes | result.invalid_sizes}
    pairs = pairs[~pairs["Region"].str.lower().isin(bad_regions)
                  & ~pairs["InstanceType"].str.lower().isin(bad_sizes)]
    wanted = set(_pair_keys(pairs["Region"], pairs["InstanceType"]))
    frame, conflicts = score_frame(result.items, decision.desired_count, slot)
    frame_keys = _pair_keys(frame["Region"], frame["InstanceTier"] + "_" + frame["InstanceType"])
    frame = frame[frame_keys.isin(wanted)].reset_index(drop=True)
    pairs_scored = int(frame_keys[frame_keys.isin(wanted)].nunique())
    if result.items_ignored or result.pairs_unanswered or conflicts:
        log.warning("SPS answers: %d items for pairs their call did not ask ignored (unasked pair or unmatched "
                    "region name), %d asked pairs unanswered, %d conflicting duplicate scores (first in plan "
                    "order kept)", result.items_ignored, result.pairs_unanswered, conflicts)
    if result.calls_dropped:
        log.warning("SPS: %d calls dropped after unreadable 400s, %d pairs not scored this slot (they keep their "
                    "previous T2/T3)", result.calls_dropped, result.pairs_dropped)

    key = sps_key(slot, decision.desired_count)
    write_parquet(store, key, frame)
    write_handoff(settings.sps_key_file, key)
    write_yaml(store, SPS_METADATA_KEY, rotation.advance(metadata, decision, slot))
    report = {
        "slot": slot_iso(slot),
        "desired_count": decision.desired_count,
        "key": key,
        "planned_calls": len(calls),
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
        "pairs_scored": pairs_scored,
        "rows": len(frame),
        "partial": result.partial,
        "subscriptions": len(auth.subscription_ids),
        "endpoint_locations": len(locations),
        "subscriptions_needed_per_slot": needed,
        "finished_at": round(clock(), 3),
    }
    state.save_last_run(report)
    level = logging.WARNING if result.partial else logging.INFO
    log.log(level, "SPS slot %s count %d: %d/%d calls made, %d not made (quota), %d pairs of %d scored, %d rows, "
            "%d 429s, %d retries -> %s", report["slot"], decision.desired_count, result.calls_made, len(calls),
            result.calls_not_made, pairs_scored, len(wanted), len(frame), result.http_429, result.retries, key)
    return report


def main(argv: list[str] | None = None) -> int:
    """``plan --pairs PAIRS.csv [--max-regions 8] [--max-sizes 5]``: delegates to ``sps_module.plan_cli``."""
    from sps_module import plan_cli

    return plan_cli.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
