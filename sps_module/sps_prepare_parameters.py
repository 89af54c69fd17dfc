"""The daily SPS workload: which (region, size) pairs are worth a placement score, and its stored plan.

Pairs = sizes with a Linux spot price (the price collector's ``collect_prices``) that the Compute Resource
SKUs listing offers in that region without a Location restriction for the subscription, minus the regions
and sizes the SPS API has called invalid before. Joins are case-insensitive (docs/contract.md 6); the SKU listing's
ARM name keeps its casing (``Standard_NC24ads_A100_v4``), since that is what the SPS API is asked about.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pandas as pd

from price.price_dataset import collect_prices
from sps_module.request_planner import PlannedCall, RequestPlan, plan_from_frame, plan_to_frame
from utils.azure_api.retry import RetryPolicy
from utils.azure_api.skus import list_vm_skus
from utils.constants import SPS_REQUEST_PLAN_KEY
from utils.errors import CorruptObject, ObjectNotFound
from utils.store import Store
from utils.store_io import read_parquet, write_parquet

log = logging.getLogger(__name__)

PAIR_COLUMNS = ["Region", "InstanceType"]  # InstanceType = full ARM name, as the planner takes it
WORKLOAD_DATE_COLUMN = "workload_date"


def arm_names(prices: pd.DataFrame) -> pd.Series:
    """``InstanceTier`` + ``_`` + ``InstanceType``: the ARM size name rebuilt from a price row."""
    return prices["InstanceTier"].astype(str) + "_" + prices["InstanceType"].astype(str)


def build_workload(prices: pd.DataFrame, skus: pd.DataFrame, invalid_regions: Iterable[str] = (),
                   invalid_sizes: Iterable[str] = ()) -> pd.DataFrame:
    """The (Region, InstanceType=ARM name) pairs to score, sorted and unique.

    Args:
        prices: ``PRICE_COLUMNS`` rows (collect_prices).
        skus: ``list_vm_skus`` rows (Name, Region, LocationRestricted, ...).
        invalid_regions, invalid_sizes: learned from earlier 400s; matched case-insensitively.
    """
    spot = prices.loc[prices["SpotPrice"].notna(), ["Region"]].copy()
    spot["key"] = arm_names(prices.loc[spot.index]).str.lower() + "|" + spot["Region"].astype(str).str.lower()
    offered = skus.loc[~skus["LocationRestricted"].astype(bool), ["Name", "Region"]]
    offered = pd.DataFrame({"Region": offered["Region"].astype(str).str.lower(), "InstanceType": offered["Name"]})
    offered["key"] = offered["InstanceType"].str.lower() + "|" + offered["Region"]
    pairs = offered[offered["key"].isin(set(spot["key"]))]
    bad_regions = {r.lower() for r in invalid_regions}
    bad_sizes = {s.lower() for s in invalid_sizes}
    pairs = pairs[~pairs["Region"].isin(bad_regions) & ~pairs["InstanceType"].str.lower().isin(bad_sizes)]
    pairs = pairs.drop_duplicates("key")[PAIR_COLUMNS]
    return pairs.sort_values(PAIR_COLUMNS).reset_index(drop=True)


def region_size_maps(pairs: pd.DataFrame) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """({region: [sizes]}, {size: [regions]}), lists sorted."""
    region_map = {str(r): sorted(g.tolist()) for r, g in pairs.groupby("Region")["InstanceType"]}
    size_map = {str(s): sorted(g.tolist()) for s, g in pairs.groupby("InstanceType")["Region"]}
    return region_map, size_map


def pairs_from_region_map(region_map: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(region, size) for region, sizes in region_map.items() for size in sizes]
    frame = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    return frame.sort_values(PAIR_COLUMNS).reset_index(drop=True)


def drop_invalid(calls: Iterable[PlannedCall], invalid_regions: set[str], invalid_sizes: set[str]
                 ) -> list[PlannedCall]:
    """Calls without the invalid regions/sizes learned since the plan was made; emptied calls removed."""
    bad_regions = {r.lower() for r in invalid_regions}
    bad_sizes = {s.lower() for s in invalid_sizes}
    out: list[PlannedCall] = []
    for call in calls:
        regions = tuple(r for r in call.regions if r.lower() not in bad_regions)
        sizes = tuple(s for s in call.sizes if s.lower() not in bad_sizes)
        if regions and sizes:
            out.append(PlannedCall(regions, sizes))
    return out


def save_plan(store: Store, plan: RequestPlan, workload_date: str) -> None:
    """``plan_to_frame`` + the workload date, at ``SPS_REQUEST_PLAN_KEY``."""
    frame = plan_to_frame(plan)
    frame[WORKLOAD_DATE_COLUMN] = workload_date
    write_parquet(store, SPS_REQUEST_PLAN_KEY, frame)


def load_plan(store: Store, workload_date: str) -> tuple[PlannedCall, ...] | None:
    """The stored plan when it was made for ``workload_date``; None when missing, stale or unreadable."""
    try:
        frame = read_parquet(store, SPS_REQUEST_PLAN_KEY, columns=["regions", "sizes", WORKLOAD_DATE_COLUMN])
    except ObjectNotFound:
        return None
    except CorruptObject as exc:
        log.warning("stored SPS request plan is unusable (%s); re-planning", exc.reason)
        return None
    dates = set(frame[WORKLOAD_DATE_COLUMN].astype(str))
    if frame.empty or dates != {workload_date}:
        return None
    try:
        return plan_from_frame(frame)
    except (TypeError, ValueError) as exc:
        log.warning("stored SPS request plan has bad rows (%s); re-planning", exc)
        return None


def fetch_workload(settings: Any, session: Any, auth: Any, *, invalid_regions: set[str], invalid_sizes: set[str],
                   retry_policy: RetryPolicy, progress_logger: logging.Logger | None = None) -> pd.DataFrame:
    """Prices (every page) + the SKU listing of the first subscription -> ``build_workload``; each page is
    retried under ``retry_policy`` (the entry point's, from SPOTLAKE_RETRY_*)."""
    prices = collect_prices(settings, session, progress_logger=progress_logger, retry_policy=retry_policy)
    skus = list_vm_skus(auth, auth.subscription_ids[0], timeout=settings.http_timeout, retry_policy=retry_policy)
    pairs = build_workload(prices, skus, invalid_regions, invalid_sizes)
    log.info("SPS workload: %d pairs (%d regions, %d sizes) from %d price rows and %d SKU rows", len(pairs),
             pairs["Region"].nunique(), pairs["InstanceType"].nunique(), len(prices), len(skus))
    return pairs
