"""Query the collected data without SQL (the store and sink the settings name; no Azure call).

    scripts/query.py history --type D2s_v3 --region "US East" [--zone 1] [--since 2025-12-13] [--until ...]
    scripts/query.py latest [--type ...] [--region ...] [--family ...] [--zone ...] [--min-t3 N] [--max-price P]
    scripts/query.py best --count N [--level T3|T2] [--per-vcpu] [--region ...] [--family ...] [--limit 10]

``history`` reads the time-series sink (SQLite or Parquet; one row per recorded change of the series, a
value holding until the next row); ``latest`` and ``best`` read the latest state (the last committed run,
with the VM specs). ``--region`` takes an ARM code (``eastus``) or a display location (``US East``).
Output: a table, or ``--csv`` / ``--json`` for scripts; a missing value is ``-`` in the table, empty in
CSV, null in JSON.

Exit codes: 0 success (``no rows`` when a filter matches nothing); 1 the store or sink could not be read;
2 bad usage or input (an unknown size, region, family or zone, with the nearest known names; no data yet).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

if __name__ == "__main__":  # run as a script by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from utils.entrypoint import run_mapped
from utils.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, SpotlakeError, UsageError
from utils.query import (
    HistoryQuery,
    Names,
    best,
    filter_latest,
    history_view,
    latest_view,
    load_latest,
    parse_when,
    read_history,
    zone,
)
from utils.settings import Settings, load_settings
from utils.store import Store, open_store

log = logging.getLogger("query")
TABLE_LIMIT = 50  # rows a table shows unless --limit says otherwise (CSV and JSON: all)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="query.py", description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="{history,latest,best}")

    def output_options(sub: argparse.ArgumentParser) -> None:
        form = sub.add_mutually_exclusive_group()
        form.add_argument("--csv", action="store_true", help="CSV on stdout")
        form.add_argument("--json", action="store_true", help="JSON records on stdout")
        sub.add_argument("--limit", type=int, default=None,
                         help=f"at most N rows (0: all; default: {TABLE_LIMIT} in a table, all in CSV/JSON)")

    history = verbs.add_parser("history", help="price and score history of one size in one region")
    history.add_argument("--type", required=True, help="VM size, e.g. D2s_v3 (Standard_ prefix optional)")
    history.add_argument("--region", required=True, help="ARM code (eastus) or display location ('US East')")
    history.add_argument("--zone", help="1, 2, 3 or Single (default: every zone)")
    history.add_argument("--tier", default="Standard", choices=["Standard", "Basic"])
    history.add_argument("--since", help="from this UTC date/time, e.g. 2025-12-13 or '2025-12-13 13:00'")
    history.add_argument("--until", help="up to this UTC date/time (inclusive)")
    output_options(history)

    latest = verbs.add_parser("latest", help="the latest dataset, filtered")
    latest.add_argument("--type", help="VM size")
    latest.add_argument("--region", help="ARM code or display location")
    latest.add_argument("--family", help="VM family, e.g. standardDSv3Family")
    latest.add_argument("--zone", help="1, 2, 3 or Single")
    latest.add_argument("--min-t3", type=int, help="T3 (largest count scored High) at least N")
    latest.add_argument("--min-t2", type=int, help="T2 (largest count scored Medium or High) at least N")
    latest.add_argument("--max-price", type=float, help="spot price at most P USD/hour")
    output_options(latest)

    best_parser = verbs.add_parser("best", help="cheapest size/region/zone whose T3 (or T2) reaches N")
    best_parser.add_argument("--count", type=int, required=True, help="desired VM count N (1-50)")
    best_parser.add_argument("--level", default="T3", type=str.upper, choices=["T3", "T2"],
                             help="T3: N scored High; T2: N scored Medium or High (default T3)")
    best_parser.add_argument("--per-vcpu", action="store_true", help="rank by spot price per vCPU")
    best_parser.add_argument("--type", help="VM size")
    best_parser.add_argument("--region", help="ARM code or display location")
    best_parser.add_argument("--family", help="VM family")
    output_options(best_parser)
    best_parser.set_defaults(limit_default=10)
    return parser


def run_query(args: argparse.Namespace, settings: Settings, store: Store) -> pd.DataFrame:
    """The rows the verb asks for (people's naming)."""
    latest = load_latest(store)
    names = Names.of(latest)
    if args.verb == "history":
        size = names.size(args.type)
        code = names.region(args.region)
        query = HistoryQuery(
            sizes=(size,), region_code=code, region_display=names.regions[code],
            zone=zone(args.zone) if args.zone else None,
            since=parse_when(args.since, "--since") if args.since else None,
            until=parse_when(args.until, "--until") if args.until else None, tier=args.tier,
        )  # fmt: skip
        if query.since and query.until and query.since > query.until:
            raise UsageError("--since is after --until")
        return history_view(read_history(settings, store, query), query.region_display)
    if args.verb == "latest":
        rows = filter_latest(latest, names, size=args.type, region=args.region, family=args.family,
                             zone_name=args.zone, min_t3=args.min_t3, min_t2=args.min_t2,
                             max_price=args.max_price)  # fmt: skip
        return latest_view(rows)
    if args.count < 1:
        raise UsageError(f"--count {args.count}: expected a VM count of at least 1")
    rows = filter_latest(latest, names, size=args.type, region=args.region, family=args.family)
    return best(rows, args.count, level=args.level, per_vcpu=args.per_vcpu, limit=0)


def render(frame: pd.DataFrame, args: argparse.Namespace) -> tuple[str, str | None]:
    """(stdout text, a note for stderr or None) for ``frame`` in the requested form."""
    limit = args.limit
    if limit is None:
        limit = getattr(args, "limit_default", None) or (0 if (args.csv or args.json) else TABLE_LIMIT)
    if limit < 0:
        raise UsageError(f"--limit {limit}: expected 0 (all) or more")
    total = len(frame)
    shown = frame.head(limit) if limit else frame
    note = f"{len(shown)} of {total} rows shown (--limit 0 for all)" if len(shown) < total else None
    if args.json:
        return shown.to_json(orient="records", double_precision=10) + "\n", note if total else "no rows"
    if args.csv:
        return shown.to_csv(index=False), note if total else "no rows"
    if not total:
        return "no rows\n", None
    text = shown.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.6g}")
    return text + "\n", note


def main(argv: list[str] | None = None, env: dict[str, str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s query: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)  # argparse exits 2 on bad usage
    environment = dict(os.environ if env is None else env)
    # The query never calls Azure: emulator mode only spares it the Azure credential check of the settings.
    environment.setdefault("SPOTLAKE_AZURE_EMULATOR", "1")
    # Every failure that is not bad usage is 1 here, a corrupt object too (the store could not be read).
    return run_mapped(lambda: _query(args, environment), _report,
                      codes=((UsageError, EXIT_USAGE), (SpotlakeError, EXIT_FAILED)))  # fmt: skip


def _query(args: argparse.Namespace, environment: dict[str, str]) -> int:
    settings = load_settings(environment)
    if settings.store.kind == "local" and not Path(settings.store.root).is_dir():
        raise UsageError(f"no data yet: store {settings.store.root} does not exist (run `make run` first)")
    frame = run_query(args, settings, open_store(settings))
    out, note = render(frame, args)
    sys.stdout.write(out)
    if note:
        print(note, file=sys.stderr)
    return EXIT_OK


def _report(exc: BaseException, code: int) -> None:
    print(f"query.py: {'error' if code == EXIT_USAGE else 'failed'}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
