"""The raw price dataset (docs/contract.md 6): every page of the VM Consumption price list, normalised.

``collect_prices`` is the one copy of "fetch and normalise the price list": the price collector
(``price/collect_price.py``) stores its result for a slot, the SPS workload builder
(``sps_module.sps_prepare_parameters``) picks its sizes from it.
"""

from __future__ import annotations

import logging
from datetime import datetime

import pandas as pd
import requests
from requests.adapters import HTTPAdapter

from price.normalise import normalise_prices_with_drops
from utils.azure_api.prices import fetch_price_list
from utils.azure_api.retry import RetryPolicy
from utils.errors import RunFailed
from utils.settings import Settings

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
    items = fetch_price_list(
        session,
        settings.azure.prices_endpoint,
        workers=settings.price_workers,
        timeout=settings.http_timeout,
        retry_policy=retry_policy or RetryPolicy.from_settings(settings),
        progress_logger=progress_logger,
    ).items
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
