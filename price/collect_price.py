#!/usr/bin/env python3
"""Price collector: fetch the whole VM Consumption price list, normalise it, store the slot's raw dataset.

    python3 price/collect_price.py --timestamp '2025-12-13 13:00'

Writes ``rawdata/azure/spot_price/YYYY/MM/DD/HH-MM_spot_price.parquet`` (``PRICE_COLUMNS``) only once
every page is fetched and checked; a page that keeps failing fails the run (exit 1) with nothing written.
``collect_prices`` is also what the SPS workload builder calls (one copy of the paging logic).
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from utils.runtime import require_runtime

    require_runtime()

import pandas as pd
import requests
from requests.adapters import HTTPAdapter

from price.normalise import normalise_prices_with_drops
from utils.azure_api.http import RetryPolicy
from utils.azure_api.prices import fetch_price_items
from utils.constants import price_key
from utils.emulator_mode import azure_endpoints
from utils.entrypoint import add_timestamp_argument, run_entry
from utils.errors import RunFailed
from utils.settings import Settings
from utils.store import open_store
from utils.store_io import write_parquet
from utils.timestamps import parse_slot

log = logging.getLogger("price")


def price_session(workers: int) -> requests.Session:
    """A session whose connection pool holds ``workers`` connections (one per concurrent page)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=max(1, workers), pool_maxsize=max(1, workers), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def collect_prices(
    settings: Settings,
    session: requests.Session,
    progress_logger: logging.Logger | None = None,
    *,
    retry_policy: RetryPolicy | None = None,
    as_of: datetime | None = None,
) -> pd.DataFrame:
    """Fetch every page of the VM Consumption USD price list and normalise it (``PRICE_COLUMNS``).

    Args:
        settings: endpoints (``settings.azure.prices_endpoint``), ``price_workers``, ``http_timeout``.
        session: HTTP session to use (size its pool to ``price_workers``, see ``price_session``).
        progress_logger: where page progress goes (default: this module's logger).
        retry_policy: retries per page (default: ``settings.retry``, the SPOTLAKE_RETRY_* variables).
        as_of: prices must be in force at this moment (the slot); default now.

    Raises:
        RunFailed: a page kept failing or paging was inconsistent, or no item gave a usable Linux VM price
            (an empty price list is a fault, never a dataset); no partial frame is ever returned.
    """
    items = fetch_price_items(
        session,
        settings.azure.prices_endpoint,
        workers=settings.price_workers,
        timeout=settings.http_timeout,
        retry_policy=retry_policy or RetryPolicy.from_settings(settings),
        progress_logger=progress_logger,
    )
    frame, drops = normalise_prices_with_drops(items, as_of=as_of)
    for warning in drops.warnings():
        log.warning("%s", warning)
    log.info("normalised %d price items into %d (size, region) rows (%d with a spot price)",
             len(items), len(frame), int(frame["SpotPrice"].notna().sum()))
    without_price = sum(1 for item in items if item.get("retailPrice") is None)
    if without_price:
        log.warning("%d of %d price items have no retailPrice and were skipped", without_price, len(items))
    if frame.empty or not frame["SpotPrice"].notna().any():
        raise RunFailed(f"the price list has no usable Linux VM spot price ({len(items)} items fetched, "
                        f"{without_price} without retailPrice); an empty price dataset is never written")  # fmt: skip
    return frame


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
