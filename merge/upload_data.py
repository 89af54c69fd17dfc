"""Publishing one merged slot (docs/contract.md 5, 7, 8): consume the ``ChangeReport``, never recompute it.

Order (each step idempotent: a rerun of the slot writes the same bytes / upserts the same records):

1. ``archive``: public CSV.gz of the merged dataset at ``archive_key(slot)``;
2. ``query_selector``: ``QUERY_SELECTOR_KEY`` = the previous selector united with this dataset's pairs;
3. ``association``: ``ASSOCIATION_KEY``, the web client's dropdown file, from that selector;
4. ``timeseries``: the changed rows to the time-series sink (time = slot);
5. ``metrics``: the collection-count line to the metrics sink;
6. ``summary``: ``latest_data/azure/last_merge_summary.json`` (no wall-clock values, so reruns match);
7. ``snapshot``: the immutable state snapshot of the slot;
8. ``latest_json``: ``LATEST_JSON_KEY`` (public JSON records), just before the commit so a run failing at an
   earlier step leaves the public latest dataset as it was, consistent with the time series;
9. ``latest_state``: ``LATEST_STATE_KEY``, the commit point, written last.

Public objects (archive, selector, association, latest JSON) are in SpotLake's naming, all built by
``merge.public.public_frame``. Any failure propagates (exit 1) before ``latest_state`` is replaced. When a
newer slot has already been committed (a backfill or late rerun of an older slot), the "latest" objects
(steps 2, 3, 6, 8 and 9) are left alone so the newest run stays the latest; the slot's own objects, records
and snapshot are still written. Afterwards snapshots older than ``SNAPSHOT_RETENTION`` are pruned, and
the time-series key ledgers the commit made unnecessary (``utils.timeseries.ledgers_to_prune``: at or
before the base slot, or older than 48 h); only after the commit, because until then the ledgers between
the base and this slot are what the next merge needs to find this slot's orphans (``merge.orphans``).

Cutover from the earlier public naming (ARM codes in public ``Region``): the state needs no rewrite (it
keeps ARM codes, so no row changes for the renaming alone); the first run renames the previous selector's
entries to display locations and logs it once (``cutover:``); the SQLite sink renames its earlier rows as
their regions are written again (``utils.timeseries``).
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pandas as pd

from merge.compare_data import ChangeReport
from merge.join import MatchRates
from merge.public import (
    association,
    metrics_message,
    public_frame,
    query_selector,
    region_display_names,
    unknown_display_rows,
)
from merge.records import archive_bytes, latest_json_bytes, timeseries_records
from merge.snapshot_keys import list_snapshots, snapshot_key, snapshot_slot
from merge.state import SUMMARY_KEY, snapshots_to_prune, state_bytes
from utils.constants import ASSOCIATION_KEY, LATEST_JSON_KEY, LATEST_STATE_KEY, QUERY_SELECTOR_KEY, archive_key
from utils.errors import CorruptObject, ObjectNotFound
from utils.metrics import MetricsSink
from utils.store import Store
from utils.store_io import read_json, write_json
from utils.timeseries import TimeseriesSink, prune_ledgers, with_restatements
from utils.timestamps import slot_iso
from utils.vm_specs import with_public_specs, with_specs_of

log = logging.getLogger(__name__)

class PublishStep(enum.StrEnum):
    """The publish steps, in the order they run (the module docstring says why this order); the values are
    the names the log lines and the crash-injection tests use."""

    ARCHIVE = "archive"
    QUERY_SELECTOR = "query_selector"
    ASSOCIATION = "association"
    TIMESERIES = "timeseries"
    METRICS = "metrics"
    SUMMARY = "summary"
    SNAPSHOT = "snapshot"
    LATEST_JSON = "latest_json"
    LATEST_STATE = "latest_state"


PUBLISH_STEPS: tuple[PublishStep, ...] = tuple(PublishStep)
# The steps that make the slot the latest one: skipped when a newer slot is already committed.
LATEST_STEPS = frozenset({PublishStep.LATEST_JSON, PublishStep.QUERY_SELECTOR, PublishStep.ASSOCIATION,
                          PublishStep.SUMMARY, PublishStep.LATEST_STATE})


@dataclass(frozen=True)
class Publication:
    """Everything one slot publishes, computed before the first write."""

    slot: datetime
    desired_count: int
    merged: pd.DataFrame
    report: ChangeReport
    match: MatchRates
    price_slot: datetime
    if_slot: datetime
    base_key: str | None
    update_latest: bool = True
    baseline: pd.DataFrame | None = None  # merge.compare_data.restatement_rows: for sinks that cannot delete
    details: dict[str, Any] = field(default_factory=dict)  # extra deterministic counters for the summary


def summary(publication: Publication, timeseries_written: int) -> dict[str, Any]:
    """``last_merge_summary.json``: deterministic for a slot's inputs (no wall-clock values)."""
    report = publication.report
    return {
        "slot": slot_iso(publication.slot),
        "desired_count": publication.desired_count,
        "rows": len(publication.merged),
        "changes": report.changed_rows,
        "new_rows": report.new_rows,
        "field_changes": report.field_changes,
        "price_slot": slot_iso(publication.price_slot),
        "if_slot": slot_iso(publication.if_slot),
        "timeseries_records": timeseries_written,
        "match_rates": publication.match.as_dict(),
        "rows_without_display_location": unknown_display_rows(publication.merged),
        "base_state": publication.base_key,
        **publication.details,
    }


def _previous_selector(store: Store) -> list[dict[str, Any]] | None:
    try:
        previous = read_json(store, QUERY_SELECTOR_KEY)
    except ObjectNotFound:
        return None
    except CorruptObject as exc:
        # The selector is an index derived from published data; rebuilding it from this dataset keeps the
        # run correct (pairs seen only in the past reappear as soon as they are priced again).
        log.warning("query selector unreadable, rebuilding it: %s", exc)
        return None
    if not isinstance(previous, list) or not all(isinstance(item, dict) for item in previous):
        log.warning("query selector is not a list of objects, rebuilding it")
        return None
    return previous


def publish(
    store: Store, publication: Publication, timeseries_sink: TimeseriesSink, metrics_sink: MetricsSink
) -> dict[str, Any]:
    """Run the publish steps in order (see the module docstring); returns the summary written."""
    slot = publication.slot
    public = public_frame(publication.merged)
    unknown = unknown_display_rows(publication.merged)
    if unknown:
        log.warning("%d of %d rows have no display location (no price row in their region); their public "
                    "Region is the ARM code", unknown, len(public))  # fmt: skip
    state = state_bytes(publication.merged, publication.report.observations)
    # The VM specs go to the SQLite / Parquet sinks as extra columns (never Timestream measures).
    records = with_specs_of(timeseries_records(publication.report), publication.report.changes)
    baseline = None if publication.baseline is None else with_specs_of(timeseries_records(
        replace(publication.report, changes=publication.baseline)), publication.baseline)  # what a rerun restates
    written = 0
    result: dict[str, Any] = {}
    selector: list[dict[str, str]] = []
    for step in PUBLISH_STEPS:
        if step is PublishStep.SUMMARY:
            result = summary(publication, written)
        if step in LATEST_STEPS and not publication.update_latest:
            log.warning("publish %s skipped: a newer slot than %s is already committed", step, slot_iso(slot))
            continue
        started = time.monotonic()
        if step is PublishStep.ARCHIVE:
            # The archive carries the VM specs (utils.vm_specs); the latest JSON does not (SpotLake's shape).
            store.put_bytes(archive_key(slot), archive_bytes(with_public_specs(public, publication.merged)),
                            content_type="application/gzip", public=True)  # fmt: skip
        elif step is PublishStep.LATEST_JSON:
            store.put_bytes(LATEST_JSON_KEY, latest_json_bytes(public), content_type="application/json", public=True)
        elif step is PublishStep.QUERY_SELECTOR:
            selector, renamed = query_selector(_previous_selector(store), public,
                                               region_display_names(publication.merged))  # fmt: skip
            if renamed:
                log.warning("cutover: the query selector named %d entries by ARM region code; renamed to display "
                            "locations (public Region is now the display location, RegionCode the ARM code); "
                            "the state needs no rewrite (it keeps ARM codes)", renamed)  # fmt: skip
            write_json(store, QUERY_SELECTOR_KEY, selector, public=True)
        elif step is PublishStep.ASSOCIATION:
            write_json(store, ASSOCIATION_KEY, association(selector), public=True)
        elif step is PublishStep.TIMESERIES:
            written = timeseries_sink.write(with_restatements(timeseries_sink, store, slot, records, baseline), slot)
        elif step is PublishStep.METRICS:
            metrics_sink.put(metrics_message(publication.merged), slot)
        elif step is PublishStep.SUMMARY:
            write_json(store, SUMMARY_KEY, result)
        elif step is PublishStep.SNAPSHOT:
            store.put_bytes(snapshot_key(slot), state, content_type="application/vnd.apache.parquet")
        else:  # PublishStep.LATEST_STATE: last, so a failure before it leaves the previous state in force
            store.put_bytes(LATEST_STATE_KEY, state, content_type="application/vnd.apache.parquet")
        log.info("publish %s done in %.2fs", step, time.monotonic() - started)
    _prune(store, slot, publication.base_key)
    return result


def _prune(store: Store, slot: datetime, base_key: str | None) -> None:
    stale = snapshots_to_prune(list_snapshots(store), slot, keep=base_key)
    for key in stale:
        store.delete(key)
    if stale:
        log.info("pruned %d state snapshots older than the retention", len(stale))
    # The base's slot; None when the base is no snapshot (none at all, or the latest state restored by hand).
    ledgers = prune_ledgers(store, slot, None if base_key is None else snapshot_slot(base_key))
    if ledgers:
        log.info("pruned %d time-series key ledgers at or before the base slot or older than 48 h", ledgers)

