#!/usr/bin/env python3
"""Price collector: fetch the whole VM Consumption price list, normalise it, store the slot's raw dataset.

    python3 price/collect_price.py --timestamp '2025-12-13 13:00'

Writes ``rawdata/azure/spot_price/YYYY/MM/DD/HH-MM_spot_price.parquet`` (``PRICE_COLUMNS``) only once
every page is fetched and checked; a page that keeps failing fails the run (exit 1) with nothing written.
The dataset itself is built by ``price.price_dataset.collect_prices``, which the SPS workload builder calls too.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from utils.runtime import require_runtime

    require_runtime()


from price.price_dataset import collect_prices, price_session
from utils.azure_api.retry import RetryPolicy
from utils.constants import price_key
from utils.emulator_mode import azure_endpoints
from utils.entrypoint import add_timestamp_argument, run_entry
from utils.settings import Settings
from utils.store import open_store
from utils.store_io import write_parquet
from utils.timestamps import parse_slot

log = logging.getLogger("price")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Collect Azure spot and on-demand VM prices for one slot.")
    add_timestamp_argument(parser)
    return parser


def main(args: argparse.Namespace, settings: Settings, *, retry_policy: RetryPolicy | None = None) -> int:
    slot = parse_slot(args.timestamp)
    with azure_endpoints(settings) as live:
        session = price_session(live.price_workers)
        try:
            frame = collect_prices(live, session, log, retry_policy=retry_policy, as_of=slot)
        finally:
            session.close()
    store = open_store(settings)
    key = price_key(slot)
    write_parquet(store, key, frame)
    log.info("wrote %d price rows to %s", len(frame), key)
    return 0


if __name__ == "__main__":
    sys.exit(run_entry("price", build_parser(), main))
