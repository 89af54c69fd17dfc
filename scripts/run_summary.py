#!/usr/bin/env python3
"""Print where one run's outputs are and a short summary of it (the last thing ``make run`` shows).

Usage:
    run_summary.py --slot SLOT [--status NAME=CODE ...] [--failure TEXT ...] [--emulator-url URL]

The verdict is the run's outcome as the orchestrator decided it, never re-derived from the statuses: ``OK``
when no ``--failure`` is given (the run exits 0), else ``FAILED`` (exit 1) followed by one ``cause:`` line each.

Reads only what the run stored: the slot's objects (present or missing), the merge summary
(``latest_data/azure/last_merge_summary.json``: rows, changes, fallback slots), the SPS collector's
``last_run.json`` (calls made / not made, HTTP 429), the monitoring objects (durations, peak memory), and,
in emulator mode, the emulator's own counters (``GET URL/_emulator/stats``). A summary source that is
missing or belongs to another slot is reported as such, never guessed.

Exit codes: 0 printed; 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run by path: make the repository root importable, then check the interpreter
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from utils.runtime import require_runtime

    require_runtime()

import pandas as pd
import requests

from utils.constants import (
    LATEST_JSON_KEY,
    LATEST_STATE_KEY,
    QUERY_SELECTOR_KEY,
    SPS_METADATA_KEY,
    SPS_PREFIX,
    SPS_REQUEST_PLAN_KEY,
    archive_key,
    if_key,
    monitoring_key,
    price_key,
    sps_saved_key,
)
from utils.entrypoint import run_mapped
from utils.errors import EXIT_OK, CorruptObject, ObjectNotFound, UsageError
from utils.settings import Settings, load_settings
from utils.store import Store, open_store
from utils.store_io import read_csv_gz, read_json
from utils.timestamps import parse_slot, slot_date_path, slot_hhmm, slot_iso

MERGE_SUMMARY_KEY = "latest_data/azure/last_merge_summary.json"
SPS_LAST_RUN_KEY = sps_saved_key("last_run.json")


def slot_output_keys(store: Store, slot: datetime) -> dict[str, str]:
    """Label -> key of every object a run of ``slot`` writes or updates (docs/contract.md 5)."""
    sps_keys = store.list_keys(f"{SPS_PREFIX}/{slot_date_path(slot)}/{slot_hhmm(slot)}_sps_")
    return {
        "raw price": price_key(slot),
        "raw IF": if_key(slot),
        "raw SPS": sps_keys[0] if sps_keys else f"{SPS_PREFIX}/{slot_date_path(slot)}/{slot_hhmm(slot)}_sps_N.parquet",
        "SPS metadata": SPS_METADATA_KEY,
        "SPS request plan": SPS_REQUEST_PLAN_KEY,
        "archive": archive_key(slot),
        "latest JSON": LATEST_JSON_KEY,
        "latest state": LATEST_STATE_KEY,
        "query selector": QUERY_SELECTOR_KEY,
        "memory": monitoring_key("memory", slot, "memory.csv.gz"),
        "execution time": monitoring_key("executionTime", slot, "execution_time.csv.gz"),
        "instance type": monitoring_key("instanceType", slot, "instance_type.txt"),
    }


def _read_for_slot(store: Store, key: str, slot: datetime) -> tuple[dict[str, Any] | None, str]:
    """A JSON summary object if it describes ``slot``; otherwise None and why."""
    try:
        value = read_json(store, key)
    except ObjectNotFound:
        return None, "not written"
    except CorruptObject as exc:
        return None, f"unreadable ({exc.reason})"
    if not isinstance(value, dict) or value.get("slot") != slot_iso(slot):
        found = value.get("slot") if isinstance(value, dict) else None
        return None, f"not written for this slot (last one is for {found})"
    return value, ""


def describe_merge(summary: dict[str, Any] | None, why: str) -> str:
    if summary is None:
        return f"merge: {why}"
    fallbacks = [f"{kind} from slot {summary[f'{kind}_slot']}" for kind in ("price", "if")
                 if summary.get(f"{kind}_slot") not in (None, summary.get("slot"))]  # fmt: skip
    line = (f"merge: {summary.get('rows')} rows, {summary.get('changes')} changes, desired count "
            f"{summary.get('desired_count')}, {summary.get('timeseries_records')} time-series records")  # fmt: skip
    return line + (f" (fallback: {', '.join(fallbacks)})" if fallbacks else "")


def describe_sps(last_run: dict[str, Any] | None, why: str) -> str:
    if last_run is None:
        return f"SPS calls: {why}"
    partial = ", partial sweep" if last_run.get("partial") else ""
    return (f"SPS calls: {last_run.get('calls_made')} made, {last_run.get('calls_not_made')} not made of "
            f"{last_run.get('planned_calls')} planned, {last_run.get('http_429')} HTTP 429; desired count "
            f"{last_run.get('desired_count')}{partial}")  # fmt: skip


def describe_emulator(stats: dict[str, Any]) -> str:
    """``emulator: sps 40 calls (200: 38, 429: 2); prices 3 calls (200: 3); ...``"""
    parts = []
    for api, entry in sorted(stats.items()):
        if not isinstance(entry, dict) or not entry.get("calls"):
            continue
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(entry.get("status", {}).items()))
        parts.append(f"{api} {entry['calls']} calls ({statuses})")
    return "emulator: " + ("; ".join(parts) if parts else "no calls")


def describe_durations(timings: pd.DataFrame) -> str:
    if timings.empty:
        return "durations: not recorded"
    items = [f"{row.phase} {row.seconds:.1f}s" + ("" if row.exit_code == 0 else f" (exit {row.exit_code})")
             for row in timings.itertuples(index=False)]  # fmt: skip
    return "durations: " + ", ".join(items)


def describe_memory(samples: pd.DataFrame) -> str:
    if samples.empty:
        return "peak memory: not sampled"
    peaks = samples.groupby("component")["rss_mb"].max()
    return "peak memory: " + ", ".join(f"{name} {mb:.0f} MiB" for name, mb in peaks.items())


def _read_frame(store: Store, key: str) -> pd.DataFrame:
    try:
        return read_csv_gz(store, key)
    except (ObjectNotFound, CorruptObject):
        # The summary reports what was stored; an absent monitoring object is shown as "not recorded".
        return pd.DataFrame()


def _emulator_stats(url: str, timeout: float) -> str:
    try:
        response = requests.get(f"{url.rstrip('/')}/_emulator/stats", timeout=timeout)
        response.raise_for_status()
        return describe_emulator(response.json())
    except (requests.RequestException, ValueError) as exc:
        return f"emulator: stats unavailable ({type(exc).__name__})"


def sink_description(settings: Settings) -> str:
    ts = settings.timeseries
    target = {"sqlite": str(ts.sqlite_path), "timestream": f"{ts.database}/{ts.table}"}.get(ts.kind, "")
    metrics = settings.metrics
    metrics_target = {"file": str(metrics.path), "cloudwatch": f"{metrics.log_group}/{metrics.log_stream}"}.get(
        metrics.kind, ""
    )
    return f"time series: {ts.kind} {target}".rstrip() + f"; metrics: {metrics.kind} {metrics_target}".rstrip()


def verdict_lines(slot: datetime, statuses: Mapping[str, str], failures: Sequence[str]) -> list[str]:
    """The first line (``OK`` exactly when ``failures`` is empty, the exit code 0) and one line per cause."""
    verdict = "FAILED" if failures else "OK"
    status_text = " ".join(f"{name}={code}" for name, code in statuses.items())
    lines = [f"SpotLake Azure run {slot_iso(slot)}: {verdict}" + (f" ({status_text})" if status_text else "")]
    lines.extend(f"  cause: {failure}" for failure in failures)
    return lines


def render_summary(
    store: Store, settings: Settings, slot: datetime, statuses: Mapping[str, str], emulator_url: str | None,
    *, failures: Sequence[str] = (),
) -> str:
    lines = verdict_lines(slot, statuses, failures)
    lines.append(f"outputs in {store.describe()}:")
    for label, key in slot_output_keys(store, slot).items():
        mark = "" if store.exists(key) else "  (missing)"
        lines.append(f"  {label:<16} {store.describe(key)}{mark}")
    lines.append(sink_description(settings))
    lines.append(describe_merge(*_read_for_slot(store, MERGE_SUMMARY_KEY, slot)))
    lines.append(describe_sps(*_read_for_slot(store, SPS_LAST_RUN_KEY, slot)))
    if emulator_url:
        lines.append(_emulator_stats(emulator_url, settings.http_timeout))
    lines.append(describe_durations(_read_frame(store, monitoring_key("executionTime", slot, "execution_time.csv.gz"))))
    lines.append(describe_memory(_read_frame(store, monitoring_key("memory", slot, "memory.csv.gz"))))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_summary.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--slot", required=True)
    parser.add_argument("--status", action="append", default=[], metavar="NAME=CODE")
    parser.add_argument("--failure", action="append", default=[], metavar="TEXT",
                        help="one cause of a failed run (repeatable); none = the run succeeded")  # fmt: skip
    parser.add_argument("--emulator-url", default=None)
    args = parser.parse_args(argv)
    statuses = dict(item.partition("=")[::2] for item in args.status)

    def summary() -> int:
        settings = load_settings(os.environ if env is None else env, azure_credential=False)
        slot = parse_slot(args.slot)
        sys.stdout.write(render_summary(open_store(settings), settings, slot, statuses, args.emulator_url,
                                        failures=args.failure))  # fmt: skip
        return EXIT_OK

    return run_mapped(summary, lambda exc, _code: print(f"error: {exc}", file=sys.stderr), catch=(UsageError,))


if __name__ == "__main__":
    sys.exit(main())
