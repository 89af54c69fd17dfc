#!/usr/bin/env python3
"""Soak: many consecutive 10-minute slots (144 = one UTC day) through the real collectors and merge.

    .venv/bin/python bench/soak.py [--slots 144] [--faults SPEC] [--regions 10] [--sizes 30] [--json OUT]
                                   [--keep DIR] [--no-drift]

Setup: a soak catalog cut from the emulator's bundled world catalog (``--regions`` fixed regions x the
``--sizes`` sizes offered in most of them; 10 x 30 = 300 offers by default, so a slot takes about a second),
one emulator process (``emulator/server.py --catalog ... --faults ...``) whose clock is set to each slot
with ``POST /_emulator/clock``, a local store, the SQLite time-series sink, ``SPOTLAKE_CLOCK=slot`` (the SPS
quota ledger reads slot time) and fast retries. Faults default to a low rate of recoverable 500s on prices,
SKUs and SPS (``DEFAULT_FAULTS``), which the collectors' retries absorb.

Each slot runs the SPS, IF and price collectors and then the merge **in this process**, through each
component's own ``run_entry(component, parser, main, argv, env)`` (the same code path as the CLI: settings
from the environment, exit-code mapping). ``scripts/run_collection.sh`` per slot would be the most faithful,
but costs ~7 s a slot (four Python start-ups importing pandas/Azure SDKs, an emulator start, the monitoring
and summary scripts) = ~17 min a day; in-process it is ~1 s a slot. The collectors run one after another
(not in parallel) so each phase's time is its own. The merge decision follows run_collection.sh: the merge
runs when the SPS collector succeeded (price/IF failures fall back to earlier raw data).

Checks (each printed with its numbers, all must hold for exit 0):

- runs: every slot's collectors and merge exit 0;
- SPS 429s after the first hour (6 slots) = 0 (the emulator's own counter and the collector's last_run);
- state growth: bytes of latest_state + SPS saved variables/metadata/plan + state snapshots per slot; after
  the first hour the last value is at most ``GROWTH_TOLERANCE`` x the value at the end of the first hour
  (first/last/max printed);
- T2/T3: recomputed from the day's raw SPS objects (of the merged slots, in order) with the merge's pure
  ``merge.t2t3.update_t2_t3`` equal the published latest state for every row;
- time-series records = changes: sum of ``last_merge_summary.changes`` over the slots = sum of its
  ``timeseries_records`` = rows in the SQLite table (primary key includes the slot time, so an idempotent
  upsert can only hide duplicates within one slot, which would show as fewer rows than changes);
- the time series reconstructs every slot (issue 14.4): for every row of every slot's public archive, the
  latest SQLite record of the row at or before the slot holds the archive's OndemandPrice, SpotPrice,
  Savings, IF, T2 and T3, and the latest record at the row's desired count its Score; 0 mismatches.

Prices change and revert (``--drift``, on by default): the emulator serves fixed catalog prices, so after the
price collector stores a slot's raw price object, a deterministic drift is applied to it before the merge
(``drift_prices``: about 3 pairs in 7 run at 1.5 x the spot price for 4 slots in 12, then revert), so
reverts land on other desired counts than the changes they undo.

Exit codes: 0 every check holds; 1 a check failed; 2 bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run by path: use the project's interpreter (utils/runtime.py) or exit 2
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from utils.runtime import require_runtime

    require_runtime()

import numpy as np
import pandas as pd
import requests

REPO_ROOT = Path(__file__).resolve().parents[1]  # on sys.path: run by path (above) or imported as bench.*

from utils.constants import DESIRED_COUNTS, LATEST_STATE_KEY, ROW_KEY_COLUMNS, SPS_METADATA_KEY, SPS_REQUEST_PLAN_KEY  # noqa: E402

START = datetime(2026, 3, 4, 0, 0, tzinfo=UTC)  # a UTC midnight: the first slot re-plans the day
SLOT = timedelta(minutes=10)
STEADY_AFTER_SLOTS = 6  # the first hour may see 429s while the quota ledger learns; none after it
GROWTH_TOLERANCE = 1.10  # carried state at the end may exceed its size after one rotation by at most 10 %
SNAPSHOT_RETENTION_SLOTS = 48 * 6  # merge.state.SNAPSHOT_RETENTION (48 h) in slots
DEFAULT_FAULTS = "sps:500@rate=0.01;prices:500@rate=0.01;skus:500@rate=0.01"
SOAK_REGIONS = ("eastus", "westus2", "westeurope", "northeurope", "southeastasia", "japaneast",
                "australiacentral", "brazilsouth", "centralindia", "uksouth")  # fmt: skip
SAVED_PREFIXES = ("sps-collector/azure/saved_variable/",)
SAVED_KEYS = (SPS_METADATA_KEY, SPS_REQUEST_PLAN_KEY)
SNAPSHOT_PREFIX = "latest_data/azure/states/"
SQLITE_TABLE = "azure_timeseries"
PHASES = ("sps", "if", "price", "merge")


# ------------------------------------------------------------------------------------------------ setup


def soak_catalog(offers: pd.DataFrame, regions: Iterable[str] = SOAK_REGIONS, sizes: int = 30) -> pd.DataFrame:
    """The offers of ``regions`` for the ``sizes`` sizes offered in most of them (ties by name): a small,
    deterministic catalog with the world catalog's edge cases (zones, restrictions, regions without zones)."""
    regions = list(regions)
    mine = offers[offers["Region"].isin(regions)]
    counts = mine.groupby("InstanceType").size().reset_index(name="n")
    chosen = counts.sort_values(["n", "InstanceType"], ascending=[False, True])["InstanceType"].head(sizes)
    return mine[mine["InstanceType"].isin(set(chosen))].reset_index(drop=True)


def soak_env(store: Path, emulator_url: str) -> dict[str, str]:
    """The environment every component of the soak gets (settings are built from it by ``run_entry``)."""
    return {
        "SPOTLAKE_STORE": str(store),
        "SPOTLAKE_AZURE_EMULATOR": "1",
        "SPOTLAKE_EMULATOR_URL": emulator_url,
        "SPOTLAKE_CLOCK": "slot",
        "SPOTLAKE_ALERT_OWNER": "orchestrator",
        "SPS_KEY_FILE": str(store.parent / "sps_key.txt"),
        "SPOTLAKE_RETRY_BASE_DELAY": "0.05",
        "SPOTLAKE_RETRY_MAX_DELAY": "0.5",
        "SPOTLAKE_RETRY_MAX_AFTER": "1",
        "SPOTLAKE_LEASE_TTL": "60",
    }


# ------------------------------------------------------------------------------------------------ pure checks


def apply_probes(state: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """T2/T3 per row key (index ROW_KEY_COLUMNS, columns T2, T3) after one raw SPS frame, with the merge's own
    pure update rule; rows not in the frame keep their values."""
    from merge.t2t3 import update_t2_t3

    probes = frame.drop_duplicates(ROW_KEY_COLUMNS, keep="last").set_index(ROW_KEY_COLUMNS)
    previous = state.reindex(probes.index)
    t2, t3 = update_t2_t3(previous["T2"].to_numpy(dtype=float), previous["T3"].to_numpy(dtype=float),
                          probes["DesiredCount"].to_numpy(dtype=float), probes["Score"].to_numpy(dtype=float))
    updated = pd.DataFrame({"T2": t2.astype(float), "T3": t3.astype(float)}, index=probes.index)
    return pd.concat([state[~state.index.isin(updated.index)], updated]) if len(state) else updated


def empty_t2t3() -> pd.DataFrame:
    return pd.DataFrame({"T2": pd.Series(dtype=float), "T3": pd.Series(dtype=float)},
                        index=pd.MultiIndex.from_tuples([], names=ROW_KEY_COLUMNS))  # fmt: skip


def recompute_t2_t3(sps_frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """T2/T3 per row key after applying the raw SPS frames in order (see ``apply_probes``), as columns.

    Rows never probed with a score stay at 0 (the merge counts a missing previous T as 0)."""
    state = empty_t2t3()
    for frame in sps_frames:
        state = apply_probes(state, frame)
    return state.reset_index()


def t2t3_mismatches(expected: pd.DataFrame, published: pd.DataFrame) -> dict[str, int]:
    """Compare recomputed T2/T3 with the published merged rows (keys compared as published)."""
    left = expected.set_index(ROW_KEY_COLUMNS)
    right = published.set_index(ROW_KEY_COLUMNS)[["T2", "T3"]].astype(float).fillna(0.0)
    common = right.index.intersection(left.index)
    only_published = right.index.difference(left.index)
    diff = (left.loc[common, ["T2", "T3"]].to_numpy() != right.loc[common, ["T2", "T3"]].to_numpy()).any(axis=1)
    # A published row never probed with a score must carry T2 = T3 = 0.
    unprobed_nonzero = int((right.loc[only_published] != 0).any(axis=1).sum())
    return {"rows_compared": len(common), "mismatches": int(diff.sum()), "rows_never_probed": len(only_published),
            "never_probed_nonzero": unprobed_nonzero}  # fmt: skip


@dataclass
class SlotRecord:
    """What one soak slot did."""

    slot: str
    exit_codes: dict[str, int]
    seconds: dict[str, float]
    sps_429_emulator: int = 0
    sps_429_collector: int = 0
    state_bytes: dict[str, int] = field(default_factory=dict)
    merge_summary: dict[str, Any] | None = None
    snapshot_count: int = 0

    @property
    def ok(self) -> bool:
        return all(code == 0 for code in self.exit_codes.values())


def summarize_soak(records: list[SlotRecord], *, timeseries_rows: Mapping[str, int], t2t3: Mapping[str, int],
                   reconstruction: Mapping[str, int] | None = None,
                   steady_after: int = STEADY_AFTER_SLOTS, growth_tolerance: float = GROWTH_TOLERANCE,
                   snapshot_retention_slots: int = SNAPSHOT_RETENTION_SLOTS) -> dict[str, Any]:  # fmt: skip
    """The soak summary and the verdict of each check (pure: everything measured is passed in).

    State growth: the carried state (latest_state + SPS saved variables) fills up over the first rotation of
    desired counts (one observation per count) and must then stay flat (last <= ``growth_tolerance`` x its
    value after the first rotation); snapshots are one per slot by design, kept ``snapshot_retention_slots``,
    so their count must be min(slots, retention) and their bytes at most that count x the largest state."""
    ok = sum(r.ok for r in records)
    steady = records[steady_after:]
    steady_429 = sum(r.sps_429_emulator + r.sps_429_collector for r in steady)
    totals = [sum(r.state_bytes.values()) for r in records]
    carried = [r.state_bytes.get("latest_state", 0) + r.state_bytes.get("sps_saved", 0) for r in records]
    rotation = min(len(DESIRED_COUNTS), len(records))
    reference = carried[rotation - 1] if carried else 0
    largest_state = max((r.state_bytes.get("latest_state", 0) for r in records), default=0)
    last_snapshots = records[-1].snapshot_count if records else 0
    summaries = [r.merge_summary for r in records if r.merge_summary is not None]
    changes = sum(int(s["changes"]) for s in summaries)
    written = sum(int(s["timeseries_records"]) for s in summaries)
    sqlite_total = sum(timeseries_rows.values())
    slot_mismatches = [s["slot"] for s in summaries if timeseries_rows.get(s["slot"], 0) != int(s["changes"])]
    phase_seconds = {p: [r.seconds[p] for r in records if p in r.seconds] for p in (*PHASES, "slot")}
    phases = {p: {"mean": round(float(np.mean(v)), 3), "p95": round(float(np.percentile(v, 95)), 3),
                  "max": round(float(np.max(v)), 3)} for p, v in phase_seconds.items() if v}  # fmt: skip
    growth = {
        "first": totals[0] if totals else 0,
        "last": totals[-1] if totals else 0,
        "max": max(totals, default=0),
        "carried_first": carried[0] if carried else 0,
        "carried_after_first_rotation": reference,
        "carried_last": carried[-1] if carried else 0,
        "carried_max": max(carried, default=0),
        "snapshots_last": last_snapshots,
        "last_by_part": dict(records[-1].state_bytes) if records else {},
    }
    snapshots_expected = min(len(summaries), snapshot_retention_slots)
    snapshots_ok = (last_snapshots == snapshots_expected
                    and growth["last_by_part"].get("snapshots", 0) <= growth_tolerance * last_snapshots * largest_state)
    checks = {
        "all_runs_ok": ok == len(records) and bool(records),
        "no_429_in_steady_state": steady_429 == 0,
        "carried_state_bounded": bool(reference) and max(carried[rotation - 1:]) <= growth_tolerance * reference,
        "snapshots_as_retained": snapshots_ok,
        "t2t3_consistent": (t2t3.get("mismatches", 1) == 0 and t2t3.get("never_probed_nonzero", 1) == 0
                            and t2t3.get("snapshot_mismatches", 1) == 0),
        "timeseries_equals_changes": changes == written == sqlite_total and not slot_mismatches,
        "timeseries_reconstructs_every_slot": reconstruction is None or reconstruction.get("mismatches", 1) == 0,
    }
    return {
        "slots": len(records),
        "runs_ok": ok,
        "runs_failed": len(records) - ok,
        "failed_slots": [r.slot for r in records if not r.ok][:20],
        "sps_429_first_hour": sum(r.sps_429_emulator for r in records[:steady_after]),
        "sps_429_steady_state": steady_429,
        "state_bytes": growth,
        "t2t3": dict(t2t3),
        "reconstruction": dict(reconstruction or {}),
        "changes": changes,
        "timeseries_records_reported": written,
        "timeseries_rows_in_sqlite": sqlite_total,
        "slots_where_sqlite_rows_differ_from_changes": slot_mismatches[:20],
        "merged_rows_last": summaries[-1]["rows"] if summaries else 0,
        "desired_counts_seen": sorted({int(s["desired_count"]) for s in summaries}),
        "phase_seconds": phases,
        "checks": checks,
        "ok": all(checks.values()),
    }


def format_soak_summary(summary: Mapping[str, Any]) -> str:
    growth = summary["state_bytes"]
    t2t3 = summary["t2t3"]
    lines = [
        f"soak: {summary['slots']} slots, runs ok {summary['runs_ok']}, failed {summary['runs_failed']}"
        + (f" ({', '.join(summary['failed_slots'])})" if summary["failed_slots"] else ""),
        f"SPS 429: first hour {summary['sps_429_first_hour']}, steady state {summary['sps_429_steady_state']}",
        f"state bytes, latest_state + SPS saved variables: first {growth['carried_first']}, after the first "
        f"rotation {growth['carried_after_first_rotation']}, last {growth['carried_last']}, max "
        f"{growth['carried_max']}",
        f"state bytes incl. {growth['snapshots_last']} snapshots (one per slot, kept 48 h): first {growth['first']}, "
        f"last {growth['last']}, max {growth['max']}; last by part "
        + ", ".join(f"{k} {v}" for k, v in growth["last_by_part"].items()),
        f"T2/T3 recomputed from the raw SPS objects with merge.t2t3: latest state {t2t3.get('rows_compared')} rows, "
        f"{t2t3.get('mismatches')} mismatches, {t2t3.get('rows_never_probed')} rows never scored "
        f"({t2t3.get('never_probed_nonzero')} with non-zero T); {t2t3.get('slots_compared')} per-slot snapshots, "
        f"{t2t3.get('snapshot_mismatches')} row mismatches",
        f"time series: changes {summary['changes']}, records reported {summary['timeseries_records_reported']}, "
        f"rows in SQLite {summary['timeseries_rows_in_sqlite']} (slots where they differ: "
        f"{len(summary['slots_where_sqlite_rows_differ_from_changes'])}); merged rows (last) "
        f"{summary['merged_rows_last']}; "
        f"desired counts {summary['desired_counts_seen']}",
        "time series reconstructs the archives: " + (", ".join(f"{k} {v}" for k, v in summary["reconstruction"].items())
                                                       or "not checked"),
        "phase seconds (mean/p95/max): " + "; ".join(f"{p} {v['mean']}/{v['p95']}/{v['max']}"
                                                     for p, v in summary["phase_seconds"].items()),
        "checks: " + ", ".join(f"{name} {'PASS' if passed else 'FAIL'}" for name, passed in summary["checks"].items()),
        f"soak {'PASSED' if summary['ok'] else 'FAILED'}",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ running


def _component_entries() -> dict[str, tuple[Callable[..., int], Callable[[], Any], Callable[..., Any]]]:
    """component -> (run_entry, build_parser, main) of each real entry point."""
    from bench.modload import load_if_collector
    from merge import merge_data
    from price import collect_price
    from sps import collect_sps
    from utils.entrypoint import run_entry

    collect_if = load_if_collector()
    modules = {"sps": collect_sps, "if": collect_if, "price": collect_price, "merge": merge_data}
    return {name: (run_entry, module.build_parser, module.main) for name, module in modules.items()}


def state_sizes(store_root: Path) -> dict[str, int]:
    """Bytes of the state the pipeline carries between slots."""

    def tree(prefix: str) -> int:
        base = store_root / prefix
        return sum(p.stat().st_size for p in base.rglob("*") if p.is_file()) if base.exists() else 0

    def one(key: str) -> int:
        path = store_root / key
        return path.stat().st_size if path.exists() else 0

    return {
        "latest_state": one(LATEST_STATE_KEY),
        "sps_saved": sum(tree(p) for p in SAVED_PREFIXES) + sum(one(k) for k in SAVED_KEYS),
        "snapshots": tree(SNAPSHOT_PREFIX),
    }


def drift_prices(frame: pd.DataFrame, index: int) -> pd.DataFrame:
    """The raw price rows of slot ``index`` with the soak's price drift (see the module docstring); pure."""
    phase = pd.util.hash_pandas_object(frame[["InstanceType", "Region"]], index=False).to_numpy() % np.uint64(7)
    drifted = (((index + phase.astype(np.int64)) // 4) % 3 == 1) & (phase.astype(np.int64) < 3)
    out = frame.copy()
    spot = out["SpotPrice"].to_numpy(dtype=float)
    out["SpotPrice"] = np.where(drifted, np.round(spot * 1.5, 6), spot)
    od = out["OndemandPrice"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        savings = (od - out["SpotPrice"].to_numpy(dtype=float)) / od * 100
    out["Savings"] = np.where(drifted, np.where(od > 0, savings, np.nan), out["Savings"].to_numpy(dtype=float))
    return out


RECONSTRUCTED = ("OndemandPrice", "SpotPrice", "Savings", "IF", "T2", "T3")
SERIES_KEY = ["InstanceTier", "InstanceType", "Region", "AvailabilityZone"]


def reconstruction_mismatches(archives: pd.DataFrame, records: pd.DataFrame) -> dict[str, int]:
    """Rows of the public archives (one frame, a ``slot`` column) that the time-series records (a ``slot``
    column) do not reconstruct: no record of the row at or before the slot, a row field differing from the
    row's latest record, or Score differing from the latest record at the row's desired count. Pure."""
    left = archives.copy()
    right = records.copy()
    for frame in (left, right):
        for column in SERIES_KEY:
            frame[column] = frame[column].astype(str)
        frame["DesiredCount"] = frame["DesiredCount"].astype("int64")
        frame["slot"] = pd.to_datetime(frame["slot"], utc=True).astype("datetime64[ns, UTC]")
    left = left.sort_values("slot", kind="stable").reset_index(drop=True)
    right = right.sort_values("slot", kind="stable").reset_index(drop=True)
    fields = list(RECONSTRUCTED)
    latest = pd.merge_asof(left[["slot", *SERIES_KEY, *fields]], right[["slot", *SERIES_KEY, *fields]], on="slot",
                           by=SERIES_KEY, suffixes=("", "_ts"), direction="backward")  # fmt: skip
    at_count = pd.merge_asof(left[["slot", *SERIES_KEY, "DesiredCount", "Score"]],
                             right[["slot", *SERIES_KEY, "DesiredCount", "Score"]], on="slot",
                             by=[*SERIES_KEY, "DesiredCount"], suffixes=("", "_ts"), direction="backward")  # fmt: skip
    missing = latest[f"{fields[0]}_ts"].isna().to_numpy() & ~left[fields[0]].isna().to_numpy()
    differs = np.zeros(len(left), dtype=bool)
    for column in fields:
        differs |= latest[column].astype(float).to_numpy() != latest[f"{column}_ts"].astype(float).to_numpy()
    score_differs = at_count["Score"].astype(float).to_numpy() != at_count["Score_ts"].astype(float).to_numpy()
    return {"rows_checked": len(left), "no_record": int(missing.sum()), "field_mismatches": int(differs.sum()),
            "score_mismatches": int(score_differs.sum()),
            "mismatches": int((missing | differs | score_differs).sum())}  # fmt: skip


def verify_reconstruction(store_root: Path, records: list[SlotRecord]) -> dict[str, int]:
    """``reconstruction_mismatches`` of the merged slots' archives against the SQLite time series."""
    from utils.constants import archive_key
    from utils.store import LocalStore
    from utils.store_io import read_csv_gz
    from utils.timestamps import parse_slot

    store = LocalStore(store_root)
    slots = [parse_slot(r.slot) for r in records if r.merge_summary is not None]
    if not slots:
        return {"rows_checked": 0, "mismatches": 0}
    archives = pd.concat([read_csv_gz(store, archive_key(slot)).assign(slot=pd.Timestamp(slot)) for slot in slots],
                         ignore_index=True)  # fmt: skip
    path = store_root / "timeseries.db"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        series = pd.read_sql_query(f"SELECT * FROM {SQLITE_TABLE}", connection)
    series["slot"] = pd.to_datetime(series["time"], utc=True)
    return reconstruction_mismatches(archives, series)


def _sps_429(stats: Mapping[str, Any]) -> int:
    return int(stats.get("sps", {}).get("status", {}).get("429", 0))


def run_slot(slot: datetime, env: Mapping[str, str], emulator_url: str, store_root: Path,
             entries: Mapping[str, tuple[Callable[..., int], Callable[[], Any], Callable[..., Any]]],
             *, drift_index: int | None = None) -> SlotRecord:  # fmt: skip
    """One slot: set the emulator clock, run the three collectors, apply the price drift of ``drift_index``
    (None: none), then the merge (when SPS succeeded)."""
    from utils.errors import CorruptObject, ObjectNotFound
    from utils.store import LocalStore
    from utils.store_io import read_json
    from utils.timestamps import slot_iso

    timestamp = slot_iso(slot)
    requests.post(f"{emulator_url}/_emulator/clock", json={"now": timestamp}, timeout=10).raise_for_status()
    before = _sps_429(requests.get(f"{emulator_url}/_emulator/stats", timeout=10).json())
    codes: dict[str, int] = {}
    seconds: dict[str, float] = {}
    slot_started = time.perf_counter()
    for name in ("sps", "if", "price"):
        run_entry, build_parser, main = entries[name]
        started = time.perf_counter()
        codes[name] = run_entry(name, build_parser(), main, ["--timestamp", timestamp], dict(env))
        seconds[name] = round(time.perf_counter() - started, 3)
    store = LocalStore(store_root)
    if drift_index is not None and codes["price"] == 0:
        from utils.constants import price_key
        from utils.store_io import read_parquet, write_parquet

        write_parquet(store, price_key(slot), drift_prices(read_parquet(store, price_key(slot)), drift_index))
    summary = None
    if codes["sps"] == 0:
        key = Path(env["SPS_KEY_FILE"]).read_text().strip()
        run_entry, build_parser, main = entries["merge"]
        started = time.perf_counter()
        codes["merge"] = run_entry("merge", build_parser(), main, ["--sps_key", key], dict(env))
        seconds["merge"] = round(time.perf_counter() - started, 3)
        if codes["merge"] == 0:
            summary = read_json(store, "latest_data/azure/last_merge_summary.json")
    else:
        codes["merge"] = -1  # skipped: counted as a failed run
    seconds["slot"] = round(time.perf_counter() - slot_started, 3)
    after = _sps_429(requests.get(f"{emulator_url}/_emulator/stats", timeout=10).json())
    try:
        last_run = read_json(store, "sps-collector/azure/saved_variable/availability-zones-true/last_run.json")
        collector_429 = int(last_run.get("http_429", 0)) if last_run.get("slot") == timestamp else 0
    except (ObjectNotFound, CorruptObject) as exc:  # the emulator's 429 counter still covers this slot
        print(f"soak: {timestamp}: last_run.json unreadable ({type(exc).__name__})", file=sys.stderr)
        collector_429 = 0
    return SlotRecord(slot=timestamp, exit_codes=codes, seconds=seconds, sps_429_emulator=after - before,
                      sps_429_collector=collector_429, state_bytes=state_sizes(store_root), merge_summary=summary,
                      snapshot_count=len(list((store_root / SNAPSHOT_PREFIX).rglob("*.parquet"))))


def error_statuses(stats: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """API -> {status: count} of the non-200 answers in the emulator's stats (injected faults, 429s, 4xx)."""
    found = {}
    for api, entry in sorted(stats.items()):
        if isinstance(entry, dict) and isinstance(entry.get("status"), dict):
            errors = {code: int(n) for code, n in sorted(entry["status"].items()) if str(code) != "200"}
            if errors:
                found[api] = errors
    return found


def verify_t2t3(store_root: Path, records: list[SlotRecord]) -> dict[str, int]:
    """Recompute T2/T3 from the raw SPS objects of the merged slots, in order, and compare after every slot
    with that slot's state snapshot, and at the end with the latest state; mismatches are summed."""
    from merge.snapshot_keys import snapshot_key
    from merge.state import read_state
    from utils.constants import sps_key
    from utils.store import LocalStore
    from utils.store_io import read_parquet
    from utils.timestamps import parse_slot

    store = LocalStore(store_root)
    state = empty_t2t3()
    totals = {"slots_compared": 0, "snapshot_mismatches": 0}
    for record in records:
        if record.merge_summary is None:
            continue
        slot = parse_slot(record.slot)
        state = apply_probes(state, read_parquet(store, sps_key(slot, int(record.merge_summary["desired_count"]))))
        snapshot, _ = read_state(store, snapshot_key(slot))
        found = t2t3_mismatches(state.reset_index(), snapshot)
        totals["slots_compared"] += 1
        totals["snapshot_mismatches"] += found["mismatches"] + found["never_probed_nonzero"]
    merged, _ = read_state(store, LATEST_STATE_KEY)
    return {**t2t3_mismatches(state.reset_index(), merged), **totals}


def timeseries_rows_per_slot(path: Path) -> dict[str, int]:
    """SQLite rows per slot (``time`` text ``YYYY-MM-DD HH:MM:SS``), keyed by the slot in ISO form."""
    if not path.exists():
        return {}
    with contextlib.closing(sqlite3.connect(path)) as connection:
        rows = connection.execute(f"SELECT time, COUNT(*) FROM {SQLITE_TABLE} GROUP BY time").fetchall()
    return {f"{time_text.replace(' ', 'T')}Z": int(n) for time_text, n in rows}


def run_soak(slots: int, workdir: Path, *, faults: str | None = DEFAULT_FAULTS, regions: int = 10, sizes: int = 30,
             start: datetime = START, progress: Callable[[str], None] | None = None,
             drift: bool = True) -> dict[str, Any]:  # fmt: skip
    """Run the soak in ``workdir`` (store, catalog, log) and return its summary (see ``summarize_soak``)."""
    from emulator.catalog import load_catalog
    from emulator.launch import EmulatorProcess

    catalog = soak_catalog(load_catalog().offers, SOAK_REGIONS[:regions], sizes)
    catalog_path = workdir / "soak_catalog.csv"
    catalog.to_csv(catalog_path, index=False)
    store_root = workdir / "store"
    store_root.mkdir(parents=True, exist_ok=True)
    entries = _component_entries()
    records: list[SlotRecord] = []
    emulator = EmulatorProcess(catalog=catalog_path, faults=faults).start()
    url = emulator.url
    started = time.perf_counter()
    try:
        env = soak_env(store_root, url)
        with open(workdir / "soak.log", "w") as log_file, contextlib.redirect_stderr(log_file):
            for index in range(slots):
                record = run_slot(start + index * SLOT, env, url, store_root, entries,
                                  drift_index=index if drift else None)
                records.append(record)
                if progress and (index % 12 == 11 or not record.ok):
                    progress(f"slot {index + 1}/{slots} {record.slot}: "
                             f"{'ok' if record.ok else record.exit_codes} {record.seconds['slot']:.2f}s")
        t2t3 = verify_t2t3(store_root, records)
        reconstruction = verify_reconstruction(store_root, records)
        stats = requests.get(f"{url}/_emulator/stats", timeout=10).json()
    finally:
        emulator.stop()
    summary = summarize_soak(records, timeseries_rows=timeseries_rows_per_slot(store_root / "timeseries.db"),
                             t2t3=t2t3, reconstruction=reconstruction)
    summary.update({"drift": drift, "wall_seconds": round(time.perf_counter() - started, 1), "faults": faults,
                    "catalog_offers": len(catalog), "catalog_regions": regions, "catalog_sizes": sizes,
                    "start": records[0].slot if records else None,
                    "emulator_errors": error_statuses(stats), "mode": "in-process run_entry per component",
                    "state_bytes_series": [sum(r.state_bytes.values()) for r in records]})  # fmt: skip
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soak.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--slots", type=int, default=144, help="consecutive 10-minute slots (144 = one UTC day)")
    parser.add_argument("--faults", default=DEFAULT_FAULTS, help=f"emulator fault spec ('' for none; default "
                        f"{DEFAULT_FAULTS!r})")  # fmt: skip
    parser.add_argument("--regions", type=int, default=10, help=f"soak catalog regions (<= {len(SOAK_REGIONS)})")
    parser.add_argument("--sizes", type=int, default=30, help="soak catalog sizes")
    parser.add_argument("--no-drift", dest="drift", action="store_false", help="serve the catalog prices unchanged")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary as JSON here")
    parser.add_argument("--keep", type=Path, default=None, help="work in this directory and keep it (store, log)")
    args = parser.parse_args(argv)
    if args.slots < 1 or not 1 <= args.regions <= len(SOAK_REGIONS) or args.sizes < 1:
        parser.error("--slots, --regions and --sizes must be positive (regions at most 10)")
    with contextlib.ExitStack() as stack:
        if args.keep is not None:
            workdir = args.keep
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="spotlake-soak-")))
        summary = run_soak(args.slots, workdir, faults=args.faults or None, regions=args.regions, sizes=args.sizes,
                           progress=lambda line: print(line, flush=True), drift=args.drift)  # fmt: skip
    sys.stdout.write(format_soak_summary(summary))
    print(f"emulator non-200 answers (API: status count): {summary['emulator_errors']}")
    print(f"soak wall time {summary['wall_seconds']} s ({summary['mode']}; catalog {summary['catalog_offers']} "
          f"offers, {args.regions} regions x {args.sizes} sizes; faults {summary['faults']})")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
