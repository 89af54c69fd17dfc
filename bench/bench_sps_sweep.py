#!/usr/bin/env python3
"""Benchmark: one full SPS sweep of a catalog against the emulator (quota on, enough subscriptions).

Usage: python3 bench/bench_sps_sweep.py [--catalog CSV] [--subscriptions N] [--workers N] [--latency-ms MS]
                                        [--json OUT]

Builds the workload and plan exactly as a first run of the day does (prices + SKUs from the emulator),
then sweeps it with the collector's own code; a second slot 10 minutes later reuses the plan and times the
sweep alone. Prints: pairs, planned calls, calls made, pairs scored, 429s (both slots), wall seconds of the
first slot (workload + plan + sweep) and of the second (sweep), calls/s, and the subscriptions needed per
10-minute slot. Default
catalog: the bundled world catalog; default subscriptions: the number the quota math says suffices (or
``--subscriptions``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if __name__ == "__main__":  # run by path: use the project's interpreter (utils/runtime.py) or exit 2
    from utils.runtime import require_runtime

    require_runtime()

import requests
from requests.adapters import HTTPAdapter

from emulator.catalog import load_catalog
from emulator.testing import running_emulator
from sps.load_sps import collect_slot
from sps_module.quota_ledger import subscriptions_needed, subscriptions_needed_rate_only
from sps_module.request_planner import plan_requests
from utils.azure_api.auth import load_azure_auth
from utils.logs import setup_logging
from utils.settings import load_settings
from utils.store import LocalStore

SLOT = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=None, help="catalog CSV (default: bundled world)")
    parser.add_argument("--subscriptions", type=int, default=None, help="default: what the quota math needs")
    parser.add_argument("--workers", type=int, default=8, help="concurrent SPS calls (8)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="emulator latency per call (0)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    parser.add_argument("--slots", type=int, default=2, help="consecutive 10-minute slots to run (2; 8 spans a "
                        "whole 62-minute quota window)")
    parser.add_argument("--verbose", action="store_true", help="log the collector at INFO")
    args = parser.parse_args(argv)
    setup_logging("sps", level=logging.INFO if args.verbose else logging.WARNING)

    catalog = load_catalog(args.catalog)
    public_locations = len(catalog.public_regions)
    planned = plan_requests(catalog.spot_pairs())
    needed = subscriptions_needed(len(planned.calls), public_locations, 10, 62)
    subscriptions = args.subscriptions or needed
    with tempfile.TemporaryDirectory() as tmp, running_emulator(
            catalog=args.catalog, sps_quota=10, latency_ms=args.latency_ms) as emu, requests.Session() as session:
        adapter = HTTPAdapter(pool_connections=args.workers, pool_maxsize=max(args.workers, 8), max_retries=0)
        session.mount("http://", adapter)
        env = {"SPOTLAKE_STORE": tmp, "SPS_KEY_FILE": f"{tmp}/sps_key.txt", "SPOTLAKE_AZURE_EMULATOR": "1",
               "SPOTLAKE_EMULATOR_URL": emu.url, "SPOTLAKE_CLOCK": "slot"}
        base = load_settings(env)
        settings = dataclasses.replace(base, sps_workers=args.workers, emulator=dataclasses.replace(
            base.emulator, subscriptions=subscriptions))
        auth = load_azure_auth(settings, session=session)
        store = LocalStore(Path(tmp))
        emu.set_now(SLOT)
        started = time.perf_counter()
        first = collect_slot(settings, SLOT, store=store, session=session, auth=auth)
        first_wall = time.perf_counter() - started
        # Later slots of the day reuse the stored workload and plan: their time is the sweep alone.
        sweep_walls: list[float] = []
        reports = [first]
        for index in range(1, max(args.slots, 2)):
            slot = SLOT + timedelta(minutes=10 * index)
            emu.set_now(slot)
            started = time.perf_counter()
            reports.append(collect_slot(settings, slot, store=store, session=session, auth=auth))
            sweep_walls.append(time.perf_counter() - started)
        report = reports[1]
        wall = min(sweep_walls)
        stats = emu.stats()["sps"]
    figures = {
        "catalog": str(args.catalog or "world"),
        "pairs": report["pairs_planned"],
        "planned_calls": report["planned_calls"],
        "lower_bound": planned.lower_bound,
        "calls_made": report["calls_made"],
        "http_requests": report["http_requests"],
        "calls_not_made": report["calls_not_made"],
        "pairs_scored": report["pairs_scored"],
        "rows": report["rows"],
        "http_429_all_slots": stats["status"].get("429", 0),
        "wall_seconds_first_slot": round(first_wall, 3),
        "wall_seconds_sweep": round(wall, 3),  # fastest later slot
        "calls_per_second": round(report["http_requests"] / wall, 1) if wall > 0 else None,
        "slots": len(reports),
        "partial_slots": sum(1 for r in reports if r["partial"]),
        "slots_with_every_pair_scored": sum(1 for r in reports if r["pairs_scored"] == r["pairs_planned"]),
        "workers": args.workers,
        "latency_ms": args.latency_ms,
        "endpoint_locations": report["endpoint_locations"],
        "subscriptions": subscriptions,
        "subscriptions_needed_per_slot": report["subscriptions_needed_per_slot"],
        "subscriptions_needed_rate_only": subscriptions_needed_rate_only(
            report["planned_calls"], report["endpoint_locations"], 10, 62),
        "emulator_default_subscriptions": base.emulator.subscriptions,
        "default_suffices": base.emulator.subscriptions >= report["subscriptions_needed_per_slot"],
    }
    for name, value in figures.items():
        print(f"{name:32s} {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
