#!/usr/bin/env python3
"""`plan` command: print the SPS request plan for a CSV of (Region, InstanceType) pairs as one JSON object.

Usage: plan --pairs PAIRS.csv [--max-regions 8] [--max-sizes 5]

The CSV needs columns Region and InstanceType (others are ignored). A catalog with a HasSpotPrice
column keeps only the rows where it is 1. Exit codes: 0 ok, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __name__ == "__main__":  # run by path: use the project's interpreter (utils/runtime.py) or exit 2
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from utils.runtime import require_runtime

    require_runtime()

import pandas as pd

if __name__ == "__main__":  # run by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sps_module.request_planner import (
    DEFAULT_MAX_REGIONS,
    DEFAULT_MAX_SIZES,
    PAIR_COLUMNS,
    plan_requests,
)
from utils import errors
from utils.entrypoint import run_mapped

SPOT_PRICE_FLAG = "HasSpotPrice"


class UsageError(errors.UsageError):
    """Bad arguments or input file: exit code 2."""


def read_pairs_csv(path: Path) -> pd.DataFrame:
    """Region and InstanceType of the CSV rows (rows with HasSpotPrice != 1 dropped when that column exists).

    Raises:
        UsageError: the file is missing or unreadable, or lacks a needed column.
    """
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read pairs CSV {path}: {err}") from err
    missing = [c for c in PAIR_COLUMNS if c not in frame.columns]
    if missing:
        raise UsageError(f"pairs CSV {path} lacks column(s): {', '.join(missing)}")
    if SPOT_PRICE_FLAG in frame.columns:
        flag = pd.to_numeric(frame[SPOT_PRICE_FLAG], errors="coerce")
        frame = frame[flag == 1]
    frame = frame.loc[:, list(PAIR_COLUMNS)]
    return frame[(frame["Region"] != "") & (frame["InstanceType"] != "")]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plan", description="Plan SPS calls for (Region, InstanceType) pairs.")
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="print the request plan as JSON")
    plan.add_argument("--pairs", required=True, type=Path, help="CSV with columns Region,InstanceType")
    plan.add_argument("--max-regions", type=int, default=DEFAULT_MAX_REGIONS, help="regions per call (8)")
    plan.add_argument("--max-sizes", type=int, default=DEFAULT_MAX_SIZES, help="VM sizes per call (5)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (argparse usage errors also exit with 2)."""
    args = _parser().parse_args(argv)
    return run_mapped(lambda: _plan(args), lambda err, _code: print(f"plan: {err}", file=sys.stderr),
                      catch=(UsageError,))


def _plan(args: argparse.Namespace) -> int:
    if args.max_regions < 1 or args.max_sizes < 1:
        raise UsageError("--max-regions and --max-sizes must be >= 1")
    pairs = read_pairs_csv(args.pairs)
    plan = plan_requests(pairs, max_regions=args.max_regions, max_sizes=args.max_sizes)
    json.dump(plan.to_json_dict(), sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
