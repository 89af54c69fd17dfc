#!/usr/bin/env python3
"""End-to-end benchmark: ``scripts/run_collection.sh`` for two consecutive slots, emulator latency on.

    .venv/bin/python bench/bench_e2e.py [--latency-ms 100] [--catalog CSV] [--quick] [--json OUT]

Runs the real orchestration script twice in a fresh temporary store (local store, SQLite sink, emulator
mode): slot 1 is the first of a UTC day (rebuilds the SPS workload and plan), slot 2 ten minutes later is
the steady state. Each run starts its own emulator with ``SPOTLAKE_EMULATOR_LATENCY_MS`` (every API
request waits that long) and ``SPOTLAKE_EMULATOR_CATALOG`` (default: the bundled world catalog);
``SPOTLAKE_CLOCK=slot`` makes the SPS quota ledger see the slots 10 minutes apart. Per slot it prints the
wall time of each phase and the peak RSS of each process, read back from the run's own monitoring objects
(``rawdata/azure/monitoring/executionTime`` and ``memory``), plus the outer wall time of the script, the SPS
calls and the merge's rows/changes. ``--quick``: a 10-region x 30-size catalog cut from the world catalog
(as in bench/soak.py) and 50 ms latency.

Exit codes: 0 both runs succeeded; 1 a run failed (its stderr tail is printed); 2 bad usage.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run by path: use the project's interpreter (utils/runtime.py) or exit 2
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from utils.runtime import require_runtime

    require_runtime()

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]  # on sys.path: run by path (above) or imported as bench.*

SCRIPT = REPO_ROOT / "scripts" / "run_collection.sh"
SLOTS = ("2026-03-04T00:00:00Z", "2026-03-04T00:10:00Z")  # the first of a UTC day, then steady state
MERGE_SUMMARY = "latest_data/azure/last_merge_summary.json"
SPS_LAST_RUN = "sps-collector/azure/saved_variable/availability-zones-true/last_run.json"
PHASE_ORDER = ("collect_sps", "collect_if", "collect_price", "merge", "total")


def monitoring_path(store: Path, kind: str, slot: str, name: str) -> Path:
    day, hhmm = slot[:10].replace("-", "/"), slot[11:16].replace(":", "-")
    return store / "rawdata/azure/monitoring" / kind / day / f"{hhmm}_{name}"


def read_csv_gz(path: Path) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(gzip.decompress(path.read_bytes())))


def slot_figures(store: Path, slot: str) -> dict[str, Any]:
    """Phase seconds and peak RSS per process of one run, from its stored monitoring objects."""
    timings = read_csv_gz(monitoring_path(store, "executionTime", slot, "execution_time.csv.gz"))
    memory = read_csv_gz(monitoring_path(store, "memory", slot, "memory.csv.gz"))
    phases = {str(row.phase): round(float(row.seconds), 3) for row in timings.itertuples(index=False)}
    peaks = {str(name): round(float(mb), 1) for name, mb in memory.groupby("component")["rss_mb"].max().items()}
    figures: dict[str, Any] = {"slot": slot, "phase_seconds": phases, "peak_rss_mib": peaks}
    for key, name in ((MERGE_SUMMARY, "merge"), (SPS_LAST_RUN, "sps")):
        path = store / key
        value = json.loads(path.read_text()) if path.exists() else {}
        if value.get("slot") == slot:
            figures[name] = value
    return figures


def soak_catalog_file(directory: Path) -> Path:
    """The soak's small catalog (10 regions x 30 sizes) as a CSV in ``directory``."""
    from bench.soak import soak_catalog
    from emulator.catalog import load_catalog

    path = directory / "quick_catalog.csv"
    soak_catalog(load_catalog().offers).to_csv(path, index=False)
    return path


def run_env(store: Path, latency_ms: float, catalog: Path | None) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in {"HOME", "LANG", "LC_ALL", "TMPDIR", "USER"}}
    env = {
        **keep,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "SPOTLAKE_STORE": str(store),
        "SPOTLAKE_AZURE_EMULATOR": "1",
        "SPOTLAKE_EMULATOR_LATENCY_MS": f"{latency_ms:g}",
        "SPOTLAKE_CLOCK": "slot",
        "SPS_KEY_FILE": str(store.parent / "sps_key.txt"),
        "SPOTLAKE_IMDS_URL": "http://127.0.0.1:9",  # nothing listens there: instance type "unknown" at once
    }
    if catalog is not None:
        env["SPOTLAKE_EMULATOR_CATALOG"] = str(catalog)
    return env


def format_figures(results: dict[str, Any]) -> str:
    lines = [f"end-to-end: run_collection.sh, catalog {results['catalog']}, emulator latency "
             f"{results['latency_ms']:g} ms"]  # fmt: skip
    for run in results["runs"]:
        phases = ", ".join(f"{p} {run['phase_seconds'][p]:.1f}s" for p in PHASE_ORDER if p in run["phase_seconds"])
        peaks = ", ".join(f"{name} {mb:.0f} MiB" for name, mb in sorted(run["peak_rss_mib"].items()))
        lines.append(f"  {run['label']} {run['slot']}: exit {run['exit_code']}, script wall {run['wall_s']:.1f}s")
        lines.append(f"    phases: {phases}")
        lines.append(f"    peak RSS: {peaks}")
        if "sps" in run:
            s = run["sps"]
            lines.append(f"    SPS: {s.get('calls_made')} calls made of {s.get('planned_calls')} planned, "
                         f"{s.get('http_429')} HTTP 429, {s.get('pairs_scored')}/{s.get('pairs_planned')} pairs "
                         f"scored, desired count {s.get('desired_count')}")  # fmt: skip
        if "merge" in run:
            m = run["merge"]
            lines.append(f"    merge: {m.get('rows')} rows, {m.get('changes')} changes, "
                         f"{m.get('timeseries_records')} time-series records")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_e2e.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=None, help="emulator latency per request (100; quick 50)")
    parser.add_argument("--catalog", type=Path, default=None, help="emulator catalog CSV (default: bundled world)")
    parser.add_argument("--quick", action="store_true", help="small catalog (10 regions x 30 sizes), 50 ms")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run before giving up")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    latency = args.latency_ms if args.latency_ms is not None else (50.0 if args.quick else 100.0)
    if latency < 0:
        parser.error("--latency-ms must be >= 0")
    results: dict[str, Any] = {"latency_ms": latency, "runs": []}
    failed = False
    with tempfile.TemporaryDirectory(prefix="spotlake-bench-e2e-") as tmp:
        root = Path(tmp)
        catalog = args.catalog or (soak_catalog_file(root) if args.quick else None)
        results["catalog"] = str(args.catalog) if args.catalog else ("quick (10 regions x 30 sizes)" if args.quick
                                                                      else "bundled world")  # fmt: skip
        store = root / "store"
        env = run_env(store, latency, catalog)
        for label, slot in zip(("first of day", "steady state"), SLOTS, strict=True):
            started = time.perf_counter()
            done = subprocess.run(["bash", str(SCRIPT), slot], env=env, cwd=REPO_ROOT, capture_output=True,
                                  text=True, timeout=args.timeout, check=False)  # fmt: skip
            wall = round(time.perf_counter() - started, 3)
            if done.returncode != 0:
                failed = True
                print(f"run {slot} exited {done.returncode}; stderr tail:\n{done.stderr[-3000:]}", file=sys.stderr)
                break
            run = {"label": label, "exit_code": done.returncode, "wall_s": wall, **slot_figures(store, slot)}
            results["runs"].append(run)
    sys.stdout.write(format_figures(results))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
