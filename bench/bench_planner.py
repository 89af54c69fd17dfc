#!/usr/bin/env python3
"""Benchmark the SPS request planner: calls against the lower bound and the naive packing, per catalog.

Usage: python3 bench/bench_planner.py [CATALOG.csv ...] [--json OUT] [--max-regions 8] [--max-sizes 5]

Without catalog paths: the US v5 and v6 catalogs in tests/data (real Azure catalogs of US regions),
the emulator's bundled world catalog (when the emulator package is present) and the synthetic
family-structured world catalogs of bench/synthetic_world.py (seeds 1, 7, 11). A catalog CSV needs Region and
InstanceType columns; with a HasSpotPrice column only its rows equal to 1 are planned.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __name__ == "__main__":  # run by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from utils.runtime import require_runtime

    require_runtime()

from bench.naive_planner import naive_plan
from sps_module.plan_cli import UsageError, read_pairs_csv
from sps_module.request_planner import PairsInput, lower_bound, plan_requests, uncovered_pairs

REPO = Path(__file__).resolve().parent.parent
TEST_DATA = REPO / "tests" / "data"
DEFAULT_CATALOGS = ("azure_us_catalog_v5.csv", "azure_us_catalog_v6.csv")
SYNTHETIC_SEEDS = (1, 7, 11)
COLUMNS = ("catalog", "pairs", "lower_bound", "calls", "calls_per_bound", "naive_calls", "seconds")


def bench_row(name: str, pairs: PairsInput, max_regions: int, max_sizes: int, repeats: int = 3) -> dict:
    """Plan a catalog (best planning time of `repeats` runs) and check the plan covers every pair."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        plan = plan_requests(pairs, max_regions, max_sizes)
        seconds.append(time.perf_counter() - started)
    missing = uncovered_pairs(plan, pairs)
    if missing:
        raise RuntimeError(f"{name}: plan leaves {len(missing)} pairs uncovered")
    bound = lower_bound(pairs, max_regions, max_sizes)
    return {
        "catalog": name, "pairs": plan.pairs, "lower_bound": bound, "calls": len(plan.calls),
        "calls_per_bound": round(len(plan.calls) / bound, 4) if bound else 1.0,
        "naive_calls": len(naive_plan(pairs, max_regions, max_sizes).calls),
        "seconds": round(min(seconds), 3),
    }


def default_sources() -> tuple[list[tuple[str, PairsInput]], list[str]]:
    """The default catalogs, and notes about the ones that could not be loaded."""
    sources: list[tuple[str, PairsInput]] = []
    notes: list[str] = []
    for file_name in DEFAULT_CATALOGS:
        path = TEST_DATA / file_name
        if path.exists():
            sources.append((file_name, read_pairs_csv(path)))
        else:
            notes.append(f"skipped {path}: not found")
    try:
        from emulator.catalog import load_catalog
    except ImportError as err:  # the emulator is optional for this benchmark: the row is skipped, said so
        notes.append(f"skipped emulator world catalog: {err}")
    else:
        sources.append(("emulator world (bundled)", load_catalog().spot_pairs()))
    from bench.synthetic_world import synthetic_world_pairs

    for seed in SYNTHETIC_SEEDS:
        sources.append((f"synthetic world (family-structured, seed {seed})", synthetic_world_pairs(seed=seed)))
    return sources, notes


def format_table(rows: list[dict]) -> str:
    """Rows as an aligned text table."""
    cells = [list(COLUMNS)] + [[str(row[c]) for c in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(line, widths, strict=True)))
                     for line in cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_planner", description=__doc__.splitlines()[0])
    parser.add_argument("catalogs", nargs="*", type=Path, help="catalog CSV paths (default: see above)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON to this path")
    parser.add_argument("--max-regions", type=int, default=8)
    parser.add_argument("--max-sizes", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        if args.catalogs:
            sources: list[tuple[str, PairsInput]] = [(str(p), read_pairs_csv(p)) for p in args.catalogs]
            notes: list[str] = []
        else:
            sources, notes = default_sources()
    except UsageError as err:
        print(f"bench_planner: {err}", file=sys.stderr)
        return 2
    rows = [bench_row(name, pairs, args.max_regions, args.max_sizes) for name, pairs in sources]
    print(format_table(rows))
    for note in notes:
        print(f"note: {note}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
