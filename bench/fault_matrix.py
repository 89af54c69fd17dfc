#!/usr/bin/env python3
"""Run the whole fault matrix (issue 8 item 2) and print it: API x fault kind x mode -> outcome, then every
storage / sink step, then the lifecycle cells (SIGTERM to PID 1 at each phase, kill -9 + Batch retry, read-only
store before / mid run; bench/reliability/lifecycle.py), then the data cells (issue 14: casing, unasked SPS
pairs, a region/size gone for one slot; bench/reliability/data_cells.py).

Usage:
    .venv/bin/python bench/fault_matrix.py [--workers 2] [--only REGEX] [--json OUT.json]

Each worker process starts its own moto server, AWS fault proxy and Azure emulator (tests/reliability/
harness.py), runs the clean reference slots S0 and S1 once, then its share of the cells through the real
scripts/run_collection.sh. Outcomes are defined in bench/reliability/matrix.py. Exit 0 when every cell
ends in an allowed outcome, 1 otherwise. One run takes 7-15 s on 2 cores; the full matrix (95
cells, 4 n/a) took 867 s with 2 workers.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if __name__ == "__main__":  # run by path: use the project's interpreter (utils/runtime.py) or exit 2
    from utils.runtime import require_runtime

    require_runtime()

from bench.reliability.data_cells import DATA_CELLS, DataCell, DataCellResult, format_data_cells, run_data_cell
from bench.reliability.harness import world
from bench.reliability.lifecycle import format_lifecycle, lifecycle_cells, run_lifecycle_cell
from bench.reliability.matrix import Cell, CellResult, all_cells, compute_references, format_matrix, run_cell

LIFECYCLE_IDS = {cell.id for cell in lifecycle_cells()}


def run_share(cells: list[Cell | DataCell]) -> tuple[list[CellResult | DataCellResult], float]:
    """One worker: a world, the references, then each cell (progress on stderr)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's request log
    results: list[CellResult | DataCellResult] = []
    with world() as w:
        refs = compute_references(w)
        for cell in cells:
            if isinstance(cell, DataCell):
                data_result = run_data_cell(w, refs, cell)
                print(f"{cell.id}: {data_result.outcome} ({data_result.seconds:.1f}s)"
                      f"{' FAIL' if data_result.problems else ''}", file=sys.stderr, flush=True)  # fmt: skip
                results.append(data_result)
                continue
            runner = run_lifecycle_cell if cell.id in LIFECYCLE_IDS else run_cell
            result = runner(w, refs, cell)
            result.faulted = None  # the full log stays out of the report
            print(f"{cell.id}: {result.outcome} ({result.seconds:.1f}s){' FAIL' if result.problems else ''}",
                  file=sys.stderr, flush=True)  # fmt: skip
            results.append(result)
    return results, refs.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", default="", help="run only cells whose id matches this regex")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args(argv)

    cells = all_cells() + lifecycle_cells()
    skipped = [c for c in cells if c.skip]
    todo: list[Cell | DataCell] = [c for c in cells if not c.skip and re.search(args.only, c.id)]
    todo += [c for c in DATA_CELLS if re.search(args.only, c.id)]
    started = time.monotonic()
    shares = [todo[i :: args.workers] for i in range(args.workers)]
    results: list[CellResult | DataCellResult] = []
    reference_seconds = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for share_results, ref_seconds in pool.map(run_share, [s for s in shares if s]):
            results += share_results
            reference_seconds.append(ref_seconds)
    data_results = [r for r in results if isinstance(r, DataCellResult)]
    results = [r for r in results if not isinstance(r, DataCellResult)]
    order = {c.id: i for i, c in enumerate(cells)}
    results.sort(key=lambda r: order[r.cell.id])
    data_results.sort(key=lambda r: [c.id for c in DATA_CELLS].index(r.cell.id))
    elapsed = time.monotonic() - started
    matrix = [r for r in results if r.cell.id not in LIFECYCLE_IDS]
    lifecycle = [r for r in results if r.cell.id in LIFECYCLE_IDS]
    if matrix or not lifecycle:
        print(format_matrix(matrix, skipped))
        print()
    if lifecycle:
        print(format_lifecycle(lifecycle))
    if data_results:
        print()
        print(format_data_cells(data_results))
    print(f"wall time {elapsed:.0f}s with {args.workers} workers; clean reference runs S0+S1 "
          f"{max(reference_seconds, default=0):.1f}s per worker")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps([
            {"cell": r.cell.id, "target": r.cell.target, "kind": r.cell.kind, "mode": r.cell.mode,
             "outcome": r.outcome, "ok": r.ok, "problems": r.problems, "seconds": round(r.seconds, 1),
             "detail": r.detail} for r in results
        ], indent=1))  # fmt: skip
    return 0 if all(r.ok for r in [*results, *data_results]) else 1


if __name__ == "__main__":
    sys.exit(main())
