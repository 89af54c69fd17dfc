#!/usr/bin/env python3
"""Print one table of every benchmark figure from the JSON files ``bench/run_all`` wrote; write it as JSON.

    .venv/bin/python bench/summarize.py [RESULTS_DIR]      (default: bench/results)

Reads ``RESULTS_DIR/<name>.json`` for the benchmarks it knows (``BENCHMARKS``; a missing or unreadable file
is listed under the table, never guessed) and prints one row per figure: figure, value, unit, baseline,
ratio (= value / baseline; "-" without a baseline or when it is 0). Writes the same rows, the notes and the
inputs read to ``RESULTS_DIR/summary.json``.

Exit codes: 0 printed (even with missing inputs: they are listed); 2 the directory does not exist.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEFAULT_RESULTS = Path(__file__).resolve().parent / "results"
CATALOG_NAMES = {"azure_us_catalog_v5.csv": "US v5", "azure_us_catalog_v6.csv": "US v6",
                 "emulator world (bundled)": "world"}  # fmt: skip
E2E_PHASES = ("collect_sps", "collect_if", "collect_price", "merge", "total")


@dataclass(frozen=True)
class Row:
    """One figure of the table; ``ratio`` is value / baseline."""

    figure: str
    value: float | int | None
    unit: str
    baseline: float | int | None = None
    baseline_label: str = ""
    ratio: float | None = None


def row(figure: str, value: Any, unit: str, baseline: Any = None, baseline_label: str = "") -> Row:
    """A row with its ratio computed (None when there is no usable baseline or value)."""
    number = _number(value)
    base = _number(baseline)
    ratio = round(number / base, 3) if number is not None and base not in (None, 0) else None
    return Row(figure, number, unit, base, baseline_label, ratio)


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or value is None:
        return None if value is None else int(value)
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return value
    return None


def _catalog_name(name: str) -> str:
    if name in CATALOG_NAMES:
        return CATALOG_NAMES[name]
    if name.startswith("synthetic world"):
        return "synthetic seed " + name.rsplit(" ", 1)[-1].rstrip(")")
    return Path(name).name


# ------------------------------------------------------------------------------------------ per benchmark


def planner_rows(data: list[dict[str, Any]]) -> list[Row]:
    rows = []
    for item in data:
        name = _catalog_name(str(item.get("catalog", "?")))
        rows.append(row(f"planner calls, {name}", item.get("calls"), "calls", item.get("lower_bound"),
                        "lower bound"))  # fmt: skip
        rows.append(row(f"planner calls vs naive packing, {name}", item.get("calls"), "calls",
                        item.get("naive_calls"), "naive"))  # fmt: skip
        rows.append(row(f"planner time, {name}", item.get("seconds"), "s"))
    return rows


def price_fetch_rows(data: Mapping[str, Any]) -> list[Row]:
    levels = data.get("levels", [])
    sequential = next((lv.get("wall_s") for lv in levels if lv.get("concurrency") == 1), None)
    latency = data.get("latency_ms")
    rows = []
    for level in levels:
        c = level.get("concurrency")
        rows.append(row(f"price fetch wall, concurrency {c} ({level.get('pages')} pages, {latency:g} ms)"
                        if isinstance(latency, int | float) else f"price fetch wall, concurrency {c}",
                        level.get("wall_s"), "s", level.get("ideal_s"), "ideal"))  # fmt: skip
        if c != 1:
            rows.append(row(f"price fetch wall vs sequential, concurrency {c}", level.get("wall_s"), "s", sequential,
                            "sequential"))  # fmt: skip
    return rows


def emulator_rows(data: Mapping[str, Any]) -> list[Row]:
    return [row(f"emulator SPS requests/s ({data.get('clients')} clients)", data.get("requests_per_second"),
                "req/s"),
            row("emulator SPS errors", data.get("errors"), "responses")]


def sps_sweep_rows(data: Mapping[str, Any]) -> list[Row]:
    return [
        row(f"SPS sweep calls/s ({data.get('workers')} workers, {data.get('latency_ms')} ms)",
            data.get("calls_per_second"), "calls/s"),
        row("SPS sweep wall, steady slot", data.get("wall_seconds_sweep"), "s"),
        row("SPS sweep wall, first slot (workload + plan + sweep)", data.get("wall_seconds_first_slot"), "s"),
        row(f"SPS sweep calls made ({data.get('catalog')})", data.get("calls_made"), "calls", data.get("lower_bound"),
            "lower bound"),
        row(f"SPS sweep HTTP 429 over {data.get('slots')} slots", data.get("http_429_all_slots"), "responses", 0,
            "0 expected"),
        row("SPS sweep pairs scored", data.get("pairs_scored"), "pairs", data.get("pairs"), "pairs planned"),
        row("SPS subscriptions needed per slot", data.get("subscriptions_needed_per_slot"), "subscriptions",
            data.get("emulator_default_subscriptions"), "emulator default"),
    ]


def merge_rows(data: Mapping[str, Any]) -> list[Row]:
    ours, base = data.get("vectorised", {}), data.get("baseline", {})
    label = "row-wise baseline"
    world = data.get("world", {})
    rows_note = f" ({world.get('rows')} rows)" if world.get("rows") else ""
    return [
        row(f"merge wall, first run{rows_note}", ours.get("wall_s"), "s", base.get("wall_s"), label),
        row("merge CPU, first run", ours.get("cpu_s"), "s", base.get("cpu_s"), label),
        row(f"merge best wall of {ours.get('runs')}", ours.get("best_wall_s"), "s", base.get("best_wall_s"), label),
        row("merge peak RSS", ours.get("peak_rss_mib"), "MiB", base.get("peak_rss_mib"), label),
        row("merge rows changed", ours.get("changed_pct"), "%", base.get("changed_pct"), label),
    ]


def report_rows(data: Mapping[str, Any]) -> list[Row]:
    """The HTML report (bench_report.py), shown right after the merge figures."""
    note = f" ({data.get('rows')} rows, {data.get('pairs')} pairs)" if data.get("rows") else ""
    return [
        row(f"report render wall{note}", data.get("render_s"), "s"),
        row("report render CPU", data.get("render_cpu_s"), "s"),
        row("report size", data.get("bytes"), "bytes", data.get("budget_bytes"), "5 MB budget"),
    ]


def e2e_rows(data: Mapping[str, Any]) -> list[Row]:
    rows = []
    latency = data.get("latency_ms")
    for run in data.get("runs", []):
        label = f"e2e {run.get('label')}"
        phases = run.get("phase_seconds", {})
        for phase in (*E2E_PHASES, *sorted(set(phases) - set(E2E_PHASES))):
            if phase in phases:
                rows.append(row(f"{label}: {phase} wall ({latency:g} ms latency)" if phase == "total" and
                                isinstance(latency, int | float) else f"{label}: {phase} wall", phases[phase], "s"))
        rows.append(row(f"{label}: script wall (incl. emulator start)", run.get("wall_s"), "s"))
        for process, mib in sorted(run.get("peak_rss_mib", {}).items()):
            rows.append(row(f"{label}: peak RSS {process}", mib, "MiB"))
    return rows


def soak_rows(data: Mapping[str, Any]) -> list[Row]:
    growth = data.get("state_bytes", {})
    t2t3 = data.get("t2t3", {})
    phases = data.get("phase_seconds", {})
    rows = [
        row(f"soak runs ok ({data.get('slots')} slots)", data.get("runs_ok"), "runs", data.get("slots"), "slots"),
        row("soak SPS 429 in steady state", data.get("sps_429_steady_state"), "responses", 0, "0 expected"),
        row("soak carried state bytes, last", growth.get("carried_last"), "bytes",
            growth.get("carried_after_first_rotation"), "after first rotation"),
        row("soak state bytes incl. snapshots, last", growth.get("last"), "bytes"),
        row("soak state snapshots kept, last", growth.get("snapshots_last"), "snapshots", data.get("runs_ok"),
            "merged slots (48 h retention)"),
        row("soak T2/T3 mismatches", (t2t3.get("mismatches") or 0) + (t2t3.get("snapshot_mismatches") or 0), "rows",
            0, "0 expected"),
        row("soak time-series rows in SQLite", data.get("timeseries_rows_in_sqlite"), "rows", data.get("changes"),
            "changes"),
    ]
    if "slot" in phases:
        rows.append(row("soak slot wall, mean (in-process)", phases["slot"].get("mean"), "s"))
    checks = data.get("checks", {})
    rows.append(row("soak checks passed", sum(bool(v) for v in checks.values()), "checks", len(checks), "checks"))
    return rows


BENCHMARKS: dict[str, Callable[[Any], list[Row]]] = {
    "planner": planner_rows,
    "price_fetch": price_fetch_rows,
    "emulator": emulator_rows,
    "sps_sweep": sps_sweep_rows,
    "merge": merge_rows,
    "report": report_rows,
    "e2e": e2e_rows,
    "soak": soak_rows,
}


# ------------------------------------------------------------------------------------------ table


def build_rows(results: Mapping[str, Any]) -> tuple[list[Row], list[str]]:
    """Rows of every benchmark present in ``results`` (name -> parsed JSON), and notes on the missing ones."""
    rows: list[Row] = []
    notes: list[str] = []
    for name, extract in BENCHMARKS.items():
        if name not in results:
            notes.append(f"{name}: no results")
            continue
        try:
            rows.extend(extract(results[name]))
        except (AttributeError, TypeError, KeyError) as exc:  # a file of another shape: say so, keep the rest
            notes.append(f"{name}: unexpected JSON shape ({type(exc).__name__}: {exc})")
    return rows, notes


def _cell(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:.0f}"


def format_table(rows: list[Row]) -> str:
    header = ("figure", "value", "unit", "baseline", "ratio")
    cells = [header] + [(r.figure, _cell(r.value), r.unit,
                         _cell(r.baseline) + (f" ({r.baseline_label})" if r.baseline is not None and r.baseline_label
                                              else ""), _cell(r.ratio)) for r in rows]  # fmt: skip
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = []
    for line in cells:
        lines.append("  ".join(cell.ljust(w) if i in (0, 2, 3) else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(line, widths, strict=True))).rstrip())  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def load_results(directory: Path) -> tuple[dict[str, Any], list[str]]:
    results: dict[str, Any] = {}
    notes: list[str] = []
    for name in BENCHMARKS:
        path = directory / f"{name}.json"
        if not path.exists():
            continue
        try:
            results[name] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            notes.append(f"{name}: {path} unreadable ({type(exc).__name__})")
    return results, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="summarize.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="?", type=Path, default=DEFAULT_RESULTS, help="directory of <name>.json")
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        print(f"summarize.py: {args.results} is not a directory", file=sys.stderr)
        return 2
    results, read_notes = load_results(args.results)
    rows, notes = build_rows(results)
    notes = read_notes + notes
    sys.stdout.write(format_table(rows))
    for note in notes:
        print(f"note: {note}")
    summary = {"rows": [asdict(r) for r in rows], "notes": notes, "inputs": sorted(results)}
    (args.results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
