#!/usr/bin/env python3
"""Benchmark: fetch the full Retail Prices VM list from the emulator at several concurrency levels.

    .venv/bin/python bench/bench_price_fetch.py [--latency-ms 200] [--levels 1,4,8,16] [--json OUT]

Starts ``emulator/server.py`` (world catalog) as a separate process with ``--latency-ms`` per request, then
fetches every page with ``utils.azure_api.prices.fetch_price_list`` at each concurrency level. Per level it
prints pages, items, wall seconds, the ideal (pages x latency / concurrency), wall/ideal, and the speed-up
over the sequential (concurrency 1) fetch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if __name__ == "__main__":  # run by path: use the project's interpreter (utils/runtime.py) or exit 2
    from utils.runtime import require_runtime

    require_runtime()

from emulator.launch import EmulatorProcess
from price.price_dataset import price_session
from utils.azure_api.prices import fetch_price_list
from utils.azure_api.retry import RetryPolicy


def run_level(url: str, workers: int, latency_ms: float) -> dict[str, float]:
    session = price_session(workers)
    start = time.perf_counter()
    result = fetch_price_list(session, url, workers=workers, timeout=60.0,
                              retry_policy=RetryPolicy(max_attempts=3, base_delay=0.1))
    wall = time.perf_counter() - start
    session.close()
    ideal = result.pages * latency_ms / 1000.0 / workers
    return {"concurrency": workers, "pages": result.pages, "items": len(result.items),
            "requests": result.requests, "wall_s": round(wall, 3), "ideal_s": round(ideal, 3),
            "wall_over_ideal": round(wall / ideal, 3) if ideal else float("nan")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--levels", default="1,4,8,16", help="comma-separated concurrency levels")
    parser.add_argument("--json", type=Path, default=None, help="write the results here as JSON")
    args = parser.parse_args(argv)
    levels = [int(v) for v in args.levels.split(",") if v.strip()]
    with EmulatorProcess(latency_ms=args.latency_ms) as emulator:
        run_level(emulator.url, max(levels), 0.0)  # warm-up: the emulator builds its price items on first use
        results = [run_level(emulator.url, level, args.latency_ms) for level in levels]
    sequential = next((r["wall_s"] for r in results if r["concurrency"] == 1), None)
    for row in results:
        row["speedup_vs_sequential"] = round(sequential / row["wall_s"], 2) if sequential else float("nan")
    header = f"{'conc':>5} {'pages':>6} {'items':>8} {'requests':>8} {'wall_s':>8} {'ideal_s':>8} " \
             f"{'wall/ideal':>10} {'speedup':>8}"
    print(f"Retail Prices fetch, emulator world catalog, latency {args.latency_ms:g} ms per request")
    print(header)
    for r in results:
        print(f"{r['concurrency']:>5} {r['pages']:>6} {r['items']:>8} {r['requests']:>8} {r['wall_s']:>8.2f} "
              f"{r['ideal_s']:>8.2f} {r['wall_over_ideal']:>10.2f} {r['speedup_vs_sequential']:>8.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps({"latency_ms": args.latency_ms, "levels": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
