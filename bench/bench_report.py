"""The HTML report at world scale: generation time and size of ``reports/azure/index.html``.

    .venv/bin/python bench/bench_report.py [--catalog world|PATH] [--json OUT]

The merged dataset is built from the emulator's world catalog (every public offer x zones, the specs the
emulator serves, scores from a fixed seed), the history of the charted series is one day of 10-minute
slots, and the monitoring holds one day of runs: what a report of a day-old deployment shows. Prints the
render time (charts + table) and the page size against the 5 MB budget; ``bench/run_all`` shows them next
to the merge figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from emulator.catalog import load_catalog  # noqa: E402
from merge.report import ReportInputs, choose_series, render  # noqa: E402
from utils.vm_specs import merged_specs  # noqa: E402

SLOT = datetime(2025, 12, 13, 13, 20, tzinfo=UTC)
SIZE_BUDGET = 5_000_000


def world_merged(catalog_path: str | None, seed: int = 0) -> pd.DataFrame:
    """A merged dataset (internal naming, with specs) of every priced offer of the catalog x its zones."""
    catalog = load_catalog(catalog_path)
    prices = catalog.expected_prices()
    specs = catalog.expected_if()
    pairs = prices.merge(specs, on=["InstanceTier", "InstanceType", "Region"], how="left")
    zones = pairs["Zones"].fillna("").where(pairs["Zones"].fillna("") != "", "Single").str.split(",")
    rows = pairs.assign(AvailabilityZone=zones).explode("AvailabilityZone", ignore_index=True)
    rng = np.random.default_rng(seed)
    counts = np.array([1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50])
    rows["DesiredCount"] = rng.choice(counts, len(rows))
    rows["Score"] = rng.choice([3.0, 2.0, 1.0, np.nan], len(rows), p=[0.5, 0.25, 0.2, 0.05])
    rows["T2"] = rng.choice(np.r_[0, counts], len(rows))
    rows["T3"] = np.minimum(rows["T2"], rng.choice(np.r_[0, counts], len(rows)))
    rows["Time"] = pd.Timestamp(SLOT)
    rows = pd.concat([rows.drop(columns=["vCPUs", "MemoryGiB", "GPUs", "Architecture"]), merged_specs(rows)], axis=1)
    return rows


def day_history(merged: pd.DataFrame, series: list[tuple[str, str]], seed: int = 1) -> pd.DataFrame:
    """One change record per (series, zone) per slot of the last day (every slot changes: the worst case)."""
    rng = np.random.default_rng(seed)
    slots = pd.date_range(SLOT - timedelta(days=1), SLOT, freq="10min")
    frames = []
    for size, region in series:
        rows = merged[(merged["InstanceType"] == size) & (merged["Region"] == region)]
        for zone in rows["AvailabilityZone"].unique():
            base = rows.loc[rows["AvailabilityZone"] == zone].iloc[0]
            frames.append(pd.DataFrame({
                "time": slots, "InstanceTier": base["InstanceTier"], "InstanceType": size, "Region": region,
                "RegionCode": region, "AvailabilityZone": zone, "DesiredCount": 1.0,
                "SpotPrice": base["SpotPrice"] * rng.uniform(0.95, 1.05, len(slots)),
                "OndemandPrice": base["OndemandPrice"], "Savings": base["Savings"], "IF": base["IF"],
                "Score": rng.choice([1.0, 2.0, 3.0], len(slots)), "T2": 10.0, "T3": 5.0,
            }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def day_runs() -> pd.DataFrame:
    slots = pd.date_range(SLOT - timedelta(hours=23, minutes=50), SLOT, freq="10min")
    phases = {"collect_price": 40.0, "collect_sps": 95.0, "collect_if": 30.0, "merge": 20.0, "total": 130.0}
    return pd.DataFrame([{"phase": p, "seconds": s, "exit_code": 0, "slot": t} for t in slots
                         for p, s in phases.items()])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", default="world", help="'world' (the bundled catalog) or a catalog CSV")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    args = parser.parse_args()
    merged = world_merged(None if args.catalog == "world" else args.catalog)
    series = choose_series(merged)
    inputs = ReportInputs(slot=SLOT, merged=merged, summary={"rows": len(merged), "changes": len(merged) // 20},
                          sps_run={"calls_made": 790, "planned_calls": 790, "calls_not_made": 0, "subscriptions": 12,
                                   "subscriptions_needed_per_slot": 10},
                          runs=day_runs(), history=day_history(merged, series), series=series)  # fmt: skip
    started, cpu = time.perf_counter(), time.process_time()
    page = render(inputs)
    result = {
        "catalog": args.catalog, "rows": len(merged),
        "pairs": int(merged[["InstanceTier", "InstanceType", "Region"]].drop_duplicates().shape[0]),
        "series": len(series), "render_s": round(time.perf_counter() - started, 3),
        "render_cpu_s": round(time.process_time() - cpu, 3), "bytes": len(page), "budget_bytes": SIZE_BUDGET,
    }  # fmt: skip
    print(f"report at {result['rows']} rows ({result['pairs']} size/region pairs, {len(series)} history series): "
          f"rendered in {result['render_s']:.2f}s, {result['bytes'] / 1e6:.2f} MB (budget {SIZE_BUDGET / 1e6:g} MB)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if len(page) < SIZE_BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
