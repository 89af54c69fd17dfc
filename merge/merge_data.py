#!/usr/bin/env python3
"""Merge entry point (docs/contract.md 2 step 5): ``python3 merge/merge_data.py --sps_key KEY`` or ``--timestamp T``.

Loads the slot's raw SPS (the key names the slot and desired count), price and IF (with fallback) and the
base state concurrently, builds the merged dataset (``merge.join``), detects changes (``merge.compare_data``)
and publishes (``merge.upload_data``), replacing the latest state last. One merge at a time per store
(lease ``merge``).

Slot order (``merge.slot_order``): a slot older than the newest committed one is refused (exit 2); a merge
of a committed slot must reproduce its snapshot byte for byte (a rerun after a failure past the snapshot)
or is refused (exit 2), so a committed slot is never rewritten with other data. The first run of each UTC
day (its base state is from an earlier day, or there is none) is a keyframe: every row is published.

Orphan slots (``merge.orphans``): the series keys a slot wrote to the time series before dying uncommitted
(and never rerun) are published again by the next merge, changed or not, so the series is right again.

Exit codes: 0 published; 1 run failed (inputs unavailable, a publish step failed: the previous state is
untouched and a rerun of the slot is idempotent); 2 bad usage or input (a malformed key, a key naming a
missing object, a corrupt SPS object or state).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from utils.runtime import require_runtime

    require_runtime()

from merge.compare_data import compare, restatement_rows
from merge.inputs import find_sps_key, load_inputs
from merge.join import build_merged
from merge.orphans import find_orphans, forced_row_keys, log_orphans, orphan_details
from merge.report import publish_report
from merge.slot_order import COMMITTED, slot_status
from merge.snapshot_keys import snapshot_key
from merge.state import BaseState, state_bytes
from merge.upload_data import Publication, publish
from utils.constants import SPS_PREFIX, parse_sps_key
from utils.entrypoint import add_timestamp_argument, describe_settings, run_entry
from utils.errors import ObjectNotFound, UsageError
from utils.lease import held
from utils.metrics import MetricsSink, open_metrics_sink
from utils.settings import Settings
from utils.store import Store, open_store
from utils.timeseries import TimeseriesSink, open_timeseries_sink
from utils.timestamps import parse_slot, slot_iso

log = logging.getLogger("merge")

LEASE_NAME = "merge"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="merge_data.py", description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--sps_key", help="raw SPS object key written by collect_sps.py (rawdata/azure/sps/...)")
    add_timestamp_argument(target)  # type: ignore[arg-type]  # a group offers the same add_argument
    return parser


def store_relative_sps_key(key: str) -> str:
    """The store-relative key of a handoff value, which may carry a store location in front
    (``/abs/store/rawdata/...`` or ``prefix/rawdata/...``); UsageError when it is not an SPS key."""
    parse_sps_key(key)
    key = key.strip()
    return key[key.index(f"{SPS_PREFIX}/") :]


def is_keyframe(base: BaseState, slot: datetime) -> bool:
    """The first run of a UTC day publishes every row: its base is from an earlier day, or unknown."""
    return base.slot is None or base.slot.date() != slot.date()


def check_committed_unchanged(store: Store, slot: datetime, state: bytes) -> None:
    """A merge of a committed slot must give the bytes of its snapshot (see the module docstring)."""
    try:
        stored = store.get_bytes(snapshot_key(slot))
    except ObjectNotFound:
        return  # pruned or removed meanwhile: nothing committed to protect
    if stored != state:
        raise UsageError(f"slot {slot_iso(slot)} is already committed with other data ({snapshot_key(slot)}); "
                         "a committed slot is never rewritten: its raw data changed since it was merged")  # fmt: skip
    log.info("slot %s is committed and its merge reproduces the snapshot: re-publishing it", slot_iso(slot))


def run_merge(
    settings: Settings, store: Store, sps_key: str, *, timeseries_sink: TimeseriesSink, metrics_sink: MetricsSink
) -> dict[str, Any]:
    """Merge and publish the slot named by ``sps_key``; returns the run summary."""
    started = time.monotonic()
    slot, desired_count = parse_sps_key(sps_key)
    status = slot_status(store, slot)  # UsageError for a late or replayed slot, before anything is read
    inputs = load_inputs(store, sps_key, slot, timedelta(hours=settings.fallback_max_age_hours))
    log.info("inputs for %s: sps=%d rows (count %d) price=%d rows from %s if=%d rows from %s base=%s (%d rows, "
             "%d observations)", slot_iso(slot), len(inputs.sps), desired_count, len(inputs.price.frame),
             slot_iso(inputs.price.slot), len(inputs.if_data.frame), slot_iso(inputs.if_data.slot),
             inputs.base.key or "none", len(inputs.base.merged), len(inputs.base.observations))  # fmt: skip
    joined = build_merged(inputs.sps, inputs.price.frame, inputs.if_data.frame, inputs.base.merged, slot)
    match = joined.match
    log.info("join: %d rows (%d probed, %d carried, %d previous rows dropped without a spot price); match rates: "
             "sps with price %s, sps with IF %s, price pairs with SPS %s; duplicate keys dropped %s",
             len(joined.merged), joined.probed_rows, joined.carried_rows, joined.dropped_previous_rows,
             match.sps_with_price, match.sps_with_if, match.price_with_sps, joined.duplicate_rows)  # fmt: skip
    keyframe = is_keyframe(inputs.base, slot)
    orphans = find_orphans(store, inputs.base.slot, slot)
    forced = forced_row_keys(orphans, joined.merged, inputs.base.merged, inputs.base.observations) if orphans else None
    report = compare(inputs.base.observations, joined.merged, keyframe=keyframe, forced=forced)
    log_orphans(orphans, report.forced_rows, report.forgotten_keys)
    log.info("changes: %d of %d rows (%d new)%s; per field %s", report.changed_rows, report.total_rows,
             report.new_rows, ", keyframe: every row published" if keyframe else "", report.field_changes)  # fmt: skip
    if status == COMMITTED:
        check_committed_unchanged(store, slot, state_bytes(joined.merged, report.observations))
    publication = Publication(
        slot=slot,
        desired_count=desired_count,
        merged=joined.merged,
        report=report,
        match=match,
        price_slot=inputs.price.slot,
        if_slot=inputs.if_data.slot,
        base_key=inputs.base.key,
        baseline=restatement_rows(joined.merged, inputs.base.merged),
        details={
            "keyframe": keyframe,
            "probed_rows": joined.probed_rows,
            "carried_rows": joined.carried_rows,
            "dropped_previous_rows": joined.dropped_previous_rows,
            # Only present after orphan slots, so a normal run's summary is what it always was.
            **orphan_details(orphans, report.forced_rows, report.forgotten_keys),
        },
    )
    result = publish(store, publication, timeseries_sink, metrics_sink)
    if publication.update_latest:  # after the commit; a report failure is alerted, never fails the run
        publish_report(settings, store, joined.merged, result, slot)
    log.info("merge of %s done in %.1fs: %d rows, %d changes, %d time-series records", slot_iso(slot),
             time.monotonic() - started, result["rows"], result["changes"], result["timeseries_records"])  # fmt: skip
    return result


def main(args: argparse.Namespace, settings: Settings) -> int:
    log.info("merge starting: %s", describe_settings(settings))
    # Validate the target before touching the store, so bad usage has no side effect.
    sps_key = store_relative_sps_key(args.sps_key) if args.sps_key is not None else None
    slot = parse_slot(args.timestamp) if sps_key is None else None
    store = open_store(settings)
    if sps_key is None:
        sps_key = find_sps_key(store, slot)
    with held(store, LEASE_NAME, settings.lease_ttl_seconds):
        run_merge(
            settings,
            store,
            sps_key,
            timeseries_sink=open_timeseries_sink(settings, store),
            metrics_sink=open_metrics_sink(settings),
        )
    return 0


if __name__ == "__main__":
    # The merge reads the store and writes the sinks; it never calls Azure, so it needs no Azure credential.
    sys.exit(run_entry("merge", build_parser(), main, azure_credential=False))
