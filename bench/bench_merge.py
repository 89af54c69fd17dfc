#!/usr/bin/env python3
"""Benchmark the merge core at world scale against a row-wise baseline (issue 6).

    .venv/bin/python bench/bench_merge.py [--regions 60] [--sizes 850] [--change-rate 0.05] [--json OUT]

Generates a world-scale slot (regions x sizes x 3 zones rows; 153,000 by default): raw SPS at one desired
count, price, IF, the previous merged dataset (last slot, another desired count) and the previous
observations of every desired count, in a steady state where about ``--change-rate`` of the rows have a
changed spot price. Then, each in its own subprocess (so peak RSS is per implementation), times
join + T2/T3 + change detection + time-series record building:

- ``vectorised``: merge.join.build_merged, merge.compare_data.compare, Timestream records of the changes;
- ``baseline``: bench/baseline_merge.py (string keys, iterrows, every column compared).

Prints wall and CPU time of the first (cold) run, the best wall time of --repeat runs, peak RSS and the share
of rows written as changes for both, and the speed-up. CPU time is the steadier figure on a busy machine.
Input loading (Parquet) is outside the timed section for both; peak RSS covers the whole child process.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __name__ == "__main__":  # run by path: use the project's interpreter (utils/runtime.py) or exit 2
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from utils.runtime import require_runtime

    require_runtime()

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from utils.constants import DESIRED_COUNTS, IF_COLUMNS, MERGED_COLUMNS, PRICE_COLUMNS, SPS_COLUMNS  # noqa: E402

SLOT = datetime(2025, 12, 13, 13, 20, tzinfo=UTC)
PREVIOUS_COUNT, CURRENT_COUNT = 5, 10
ZONES = ("1", "2", "3")


def _settled(capacity: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score at ``count`` and the settled (T2, T3) of rows whose score is High up to capacity/2, Medium up
    to capacity, Low above (after a full rotation T2/T3 equal exactly these)."""
    counts = np.asarray(DESIRED_COUNTS)
    score = np.where(count <= capacity // 2, 3.0, np.where(count <= capacity, 2.0, 1.0))
    t3 = np.array([counts[counts <= c // 2].max(initial=0) for c in range(0, 121)])[capacity]
    t2 = np.array([counts[counts <= c].max(initial=0) for c in range(0, 121)])[capacity]
    return score, t2, t3


def generate(out: Path, regions: int, sizes: int, change_rate: float, seed: int = 0) -> dict[str, int]:
    """Write sps/price/if/previous/observations Parquet files into ``out``; returns their row counts."""
    rng = np.random.default_rng(seed)
    region = np.array([f"region{r:02d}" for r in range(regions)])
    size = np.array([f"D{s}s_v{1 + s % 5}" if s % 17 else f"A{s}" for s in range(sizes)])
    tier = np.where(np.char.startswith(size, "A") & (np.arange(sizes) % 2 == 0), "Basic", "Standard")
    pair_region = np.repeat(region, sizes)
    pair_size = np.tile(size, regions)
    pair_tier = np.tile(tier, regions)
    n_pairs = len(pair_region)
    od = np.round(rng.uniform(0.01, 20.0, n_pairs), 4)
    spot = np.round(od * rng.uniform(0.1, 0.9, n_pairs), 5)
    price = pd.DataFrame({"InstanceTier": pair_tier, "InstanceType": pair_size, "Region": pair_region,
                          "RegionName": np.char.add("Region ", pair_region), "OndemandPrice": od, "SpotPrice": spot,
                          "Savings": (od - spot) / od * 100})[PRICE_COLUMNS]  # fmt: skip
    if_data = pd.DataFrame({"InstanceTier": pair_tier, "InstanceType": pair_size, "Region": pair_region,
                            "IF": rng.choice([1.0, 1.5, 2.0, 2.5, 3.0], n_pairs),
                            "InstanceFamily": np.char.add("standard", np.char.add(pair_size, "Family")),
                            "Zones": "1,2,3"})[IF_COLUMNS]  # fmt: skip

    rows = pd.DataFrame({"InstanceTier": np.repeat(pair_tier, 3), "InstanceType": np.repeat(pair_size, 3),
                         "Region": np.repeat(pair_region, 3), "AvailabilityZone": np.tile(ZONES, n_pairs)})  # fmt: skip
    pair_of_row = np.repeat(np.arange(n_pairs), 3)
    capacity = rng.integers(0, 121, len(rows))
    stale = rng.uniform(size=len(rows)) < 0.01  # DataNotFoundOrStale

    def observed(count: int, spot_price: np.ndarray) -> pd.DataFrame:
        score, t2, t3 = _settled(capacity, count)
        frame = rows.copy()
        frame["DesiredCount"] = count
        frame["OndemandPrice"], frame["SpotPrice"] = od[pair_of_row], spot_price[pair_of_row]
        frame["Savings"] = price["Savings"].to_numpy()[pair_of_row]
        frame["IF"] = if_data["IF"].to_numpy()[pair_of_row]
        frame["Score"], frame["T2"], frame["T3"] = score, t2, t3
        return frame

    # Last slot saw the previous spot prices; this slot ~change_rate of the rows (whole pairs) moved.
    previous_spot = spot.copy()
    moved = rng.uniform(size=n_pairs) < change_rate
    previous_spot[moved] = np.round(previous_spot[moved] * 1.1, 5)
    price["Savings"] = (od - spot) / od * 100
    observations = pd.concat([observed(c, previous_spot) for c in DESIRED_COUNTS], ignore_index=True)
    previous = observed(PREVIOUS_COUNT, previous_spot)
    previous["RegionName"] = price["RegionName"].to_numpy()[pair_of_row]
    previous["InstanceFamily"] = if_data["InstanceFamily"].to_numpy()[pair_of_row]
    previous["Time"] = pd.Timestamp(SLOT - timedelta(minutes=10))
    previous = previous[MERGED_COLUMNS]
    previous_savings = (od - previous_spot) / od * 100
    previous["Savings"] = previous_savings[pair_of_row]
    observations["Savings"] = np.tile(previous_savings[pair_of_row], len(DESIRED_COUNTS))

    score, _, _ = _settled(capacity, CURRENT_COUNT)
    sps = rows.copy()
    sps["DesiredCount"] = CURRENT_COUNT
    sps["Score"] = np.where(stale, np.nan, score)
    sps["ScoreLabel"] = np.where(stale, "DataNotFoundOrStale", "High")
    sps["Time"] = pd.Timestamp(SLOT)
    sps = sps[SPS_COLUMNS]
    for name, frame in {"sps": sps, "price": price, "if": if_data}.items():
        frame.to_parquet(out / f"{name}.parquet", index=False)
    # The previous state exactly as the merge stores it (merged rows + observations in one object).
    from merge.join import normalise_merged
    from merge.state import state_bytes, with_published_points

    # The last published point of every row is the previous slot's row (count PREVIOUS_COUNT).
    observations = with_published_points(normalise_merged(previous), observations.assign(Latest=False))
    (out / "state.parquet").write_bytes(state_bytes(normalise_merged(previous), observations))
    return {"rows": len(rows), "pairs": n_pairs, "observations": len(observations), "moved_pairs": int(moved.sum())}


def run_child(implementation: str, data: Path, repeat: int) -> dict[str, float]:
    """Load the inputs, time the implementation ``repeat`` times; report the first (cold) run's wall and CPU
    time, the best wall time, peak RSS and the changes (one JSON line)."""
    from merge.state import split_state

    frames = {name: pd.read_parquet(data / f"{name}.parquet") for name in ("sps", "price", "if")}
    frames["previous"], frames["observations"] = split_state(pd.read_parquet(data / "state.parquet"), "state")
    from bench.baseline_merge import baseline_merge
    from merge.compare_data import compare
    from merge.join import build_merged
    from merge.records import timeseries_records
    from utils.timeseries import build_timestream_records

    walls, cpus = [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        if implementation == "vectorised":
            joined = build_merged(frames["sps"], frames["price"], frames["if"], frames["previous"], SLOT)
            report = compare(frames["observations"], joined.merged)
            records = build_timestream_records(timeseries_records(report), SLOT)
            rows, changes = len(joined.merged), report.changed_rows
        else:
            merged, changed, records = baseline_merge(frames["sps"], frames["price"], frames["if"],
                                                      frames["previous"], SLOT)  # fmt: skip
            rows, changes = len(merged), len(changed)
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu_started)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"wall_s": round(walls[0], 3), "cpu_s": round(cpus[0], 3), "best_wall_s": round(min(walls), 3),
            "runs": repeat, "peak_rss_mib": round(peak_mib, 1), "rows": rows, "changes": changes,
            "records": len(records), "changed_pct": round(100.0 * changes / max(rows, 1), 2)}  # fmt: skip


def measure(implementation: str, data: Path, repeat: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--child", implementation, "--data", str(data),
                           "--repeat", str(repeat)],
                          capture_output=True, text=True, check=True, cwd=REPO_ROOT)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regions", type=int, default=60)
    parser.add_argument("--sizes", type=int, default=850)
    parser.add_argument("--change-rate", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of the vectorised merge (best reported)")
    parser.add_argument("--skip-baseline", action="store_true", help="time only the vectorised merge")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument("--child", choices=["vectorised", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, args.data, args.repeat)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-merge-") as tmp:
        world = generate(Path(tmp), args.regions, args.sizes, args.change_rate)
        print(f"world: {world['rows']} rows ({world['pairs']} pairs x 3 zones), {world['observations']} "
              f"previous observations, {world['moved_pairs']} pairs with a new spot price")  # fmt: skip
        results = {"world": world, "vectorised": measure("vectorised", Path(tmp), args.repeat)}
        if not args.skip_baseline:
            results["baseline"] = measure("baseline", Path(tmp), 1)  # one run: it takes about a minute
    print(f"{'implementation':<12} {'wall s':>8} {'cpu s':>8} {'best wall s':>12} {'peak RSS MiB':>13} {'rows':>8} "
          f"{'changes':>8} {'changed %':>10}")  # fmt: skip
    for name in ("vectorised", "baseline"):
        if name in results:
            r = results[name]
            print(f"{name:<12} {r['wall_s']:>8.3f} {r['cpu_s']:>8.3f} {r['best_wall_s']:>12.3f} "
                  f"{r['peak_rss_mib']:>13.1f} {r['rows']:>8} {r['changes']:>8} {r['changed_pct']:>10.2f}")  # fmt: skip
    if "baseline" in results:
        base, ours = results["baseline"], results["vectorised"]
        results["speedup_wall"] = round(base["wall_s"] / max(ours["wall_s"], 1e-9), 1)
        results["speedup_cpu"] = round(base["cpu_s"] / max(ours["cpu_s"], 1e-9), 1)
        print(f"speed-up (first runs): {results['speedup_wall']}x wall, {results['speedup_cpu']}x CPU "
              "(baseline / vectorised)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
