"""bench/summarize.py on small synthetic benchmark JSON, and bench/run_all's usage (no benchmark runs here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.summarize import build_rows, format_table, row

REPO = Path(__file__).resolve().parents[2]

PLANNER = [{"catalog": "azure_us_catalog_v5.csv", "pairs": 10, "lower_bound": 4, "calls": 5, "calls_per_bound": 1.25,
            "naive_calls": 10, "seconds": 0.5}]  # fmt: skip
PRICE = {"latency_ms": 200.0, "levels": [
    {"concurrency": 1, "pages": 10, "items": 100, "requests": 10, "wall_s": 4.0, "ideal_s": 2.0},
    {"concurrency": 4, "pages": 10, "items": 100, "requests": 10, "wall_s": 1.0, "ideal_s": 0.5}]}  # fmt: skip
EMULATOR = {"benchmark": "emulator_sps_small_calls", "clients": 2, "requests": 100, "errors": 0, "seconds": 1.0,
            "requests_per_second": 100.0}  # fmt: skip
SWEEP = {"catalog": "world", "pairs": 50, "planned_calls": 6, "lower_bound": 5, "calls_made": 6,
         "http_429_all_slots": 0, "wall_seconds_first_slot": 3.0, "wall_seconds_sweep": 0.5,
         "calls_per_second": 12.0, "slots": 2, "workers": 8, "latency_ms": 0.0, "pairs_scored": 50,
         "subscriptions_needed_per_slot": 3, "emulator_default_subscriptions": 12}  # fmt: skip
MERGE = {"world": {"rows": 90}, "vectorised": {"wall_s": 0.5, "cpu_s": 0.4, "best_wall_s": 0.3, "runs": 3,
                                               "peak_rss_mib": 100.0, "changed_pct": 5.0},
         "baseline": {"wall_s": 10.0, "cpu_s": 8.0, "best_wall_s": 10.0, "peak_rss_mib": 200.0, "changed_pct": 50.0}}
E2E = {"latency_ms": 50.0, "catalog": "quick", "runs": [
    {"label": "first of day", "slot": "2026-03-04T00:00:00Z", "exit_code": 0, "wall_s": 9.0,
     "phase_seconds": {"collect_sps": 3.0, "collect_if": 2.0, "collect_price": 2.5, "merge": 1.0, "total": 6.0},
     "peak_rss_mib": {"sps": 150.0, "merge": 140.0}}]}  # fmt: skip
SOAK = {"slots": 12, "runs_ok": 12, "sps_429_steady_state": 0, "changes": 700, "timeseries_rows_in_sqlite": 700,
        "state_bytes": {"carried_last": 39000, "carried_after_first_rotation": 40000, "last": 300000, "first": 40000,
                        "snapshots_last": 12},
        "t2t3": {"mismatches": 0, "snapshot_mismatches": 0}, "phase_seconds": {"slot": {"mean": 0.7}},
        "checks": {"a": True, "b": True}}  # fmt: skip
ALL = {"planner": PLANNER, "price_fetch": PRICE, "emulator": EMULATOR, "sps_sweep": SWEEP, "merge": MERGE,
       "e2e": E2E, "soak": SOAK}  # fmt: skip


def _by_figure(results: dict) -> dict:
    rows, _ = build_rows(results)
    return {r.figure: r for r in rows}


def test_the_ratio_is_value_over_baseline_and_absent_without_a_usable_baseline() -> None:
    assert row("x", 3.0, "s", 2.0).ratio == 1.5
    assert row("x", 3.0, "s").ratio is None
    assert row("x", 0, "responses", 0).ratio is None
    assert row("x", float("nan"), "s", 1.0).value is None


def test_every_benchmark_contributes_its_figures_with_their_baselines() -> None:
    rows = _by_figure(ALL)
    assert rows["planner calls, US v5"].baseline == 4 and rows["planner calls, US v5"].ratio == 1.25
    assert rows["planner calls vs naive packing, US v5"].ratio == 0.5
    assert rows["price fetch wall, concurrency 4 (10 pages, 200 ms)"].ratio == 2.0
    assert rows["price fetch wall vs sequential, concurrency 4"].ratio == 0.25
    assert rows["emulator SPS requests/s (2 clients)"].value == 100.0
    assert rows["SPS sweep HTTP 429 over 2 slots"].value == 0
    assert rows["merge wall, first run (90 rows)"].ratio == 0.05
    assert rows["merge peak RSS"].ratio == 0.5
    assert rows["merge rows changed"].value == 5.0
    assert rows["e2e first of day: total wall (50 ms latency)"].value == 6.0
    assert rows["e2e first of day: peak RSS sps"].value == 150.0
    assert rows["soak time-series rows in SQLite"].ratio == 1.0
    assert rows["soak checks passed"].value == 2


def test_a_missing_benchmark_or_an_unexpected_shape_is_a_note_not_a_crash() -> None:
    rows, notes = build_rows({"planner": PLANNER, "merge": ["not", "a", "dict"]})
    assert any(r.figure.startswith("planner") for r in rows)
    assert "emulator: no results" in notes
    assert any(n.startswith("merge: unexpected JSON shape") for n in notes)


def test_the_table_has_one_line_per_figure_under_a_header() -> None:
    rows, _ = build_rows(ALL)
    lines = format_table(rows).splitlines()
    assert lines[0].split() == ["figure", "value", "unit", "baseline", "ratio"]
    assert len(lines) == len(rows) + 2
    assert any(line.startswith("merge peak RSS") and line.rstrip().endswith("0.5") for line in lines)


def test_summarize_prints_the_table_and_writes_summary_json(tmp_path: Path) -> None:
    for name, data in ALL.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    (tmp_path / "soak.json").write_text("{ truncated")
    done = subprocess.run([sys.executable, str(REPO / "bench" / "summarize.py"), str(tmp_path)],
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "planner calls, US v5" in done.stdout
    assert "note: soak:" in done.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["inputs"] == sorted(set(ALL) - {"soak"})
    assert {"figure", "value", "unit", "baseline", "ratio"} <= set(summary["rows"][0])


def test_summarize_refuses_a_missing_directory_with_exit_2(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(REPO / "bench" / "summarize.py"), str(tmp_path / "nope")],
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert done.returncode == 2


@pytest.mark.parametrize(("args", "code"), [(["--help"], 0), (["--no-such-option"], 2)])
def test_run_all_answers_usage_without_running_a_benchmark(args: list[str], code: int) -> None:
    done = subprocess.run(["bash", str(REPO / "bench" / "run_all"), *args], capture_output=True, text=True,
                          check=False, timeout=30)  # fmt: skip
    assert done.returncode == code
    if code == 0:
        assert "--quick" in done.stdout and "summarize.py" in done.stdout
