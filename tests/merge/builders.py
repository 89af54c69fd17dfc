"""Tiny builders for synthetic raw datasets shaped exactly like the collectors' objects (docs/contract.md 6)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from utils.constants import IF_COLUMNS, PRICE_COLUMNS, SPS_COLUMNS, if_key, price_key, sps_key
from utils.store import Store
from utils.store_io import write_parquet

SLOT = datetime(2025, 12, 13, 13, 0, tzinfo=UTC)
SCORE_LABELS = {3.0: "High", 2.0: "Medium", 1.0: "Low"}
# Retail Prices display locations (the price API's ``location`` field) of the regions the tests use.
DISPLAY_LOCATIONS = {"eastus": "US East", "westus": "US West", "westeurope": "EU West", "japaneast": "JA East"}


def slot_at(index: int) -> datetime:
    return SLOT + timedelta(minutes=10 * index)


def price_frame(rows: Iterable[Sequence]) -> pd.DataFrame:
    """rows: (tier, type, region, od, spot[, region_name]); Savings derived as the price collector does."""
    records = []
    for row in rows:
        tier, size, region, od, spot = row[:5]
        name = row[5] if len(row) > 5 else DISPLAY_LOCATIONS.get(region, f"Name of {region}")
        savings = (od - spot) / od * 100 if od and spot is not None and not np.isnan(spot) else np.nan
        records.append((tier, size, region, name, od, spot, savings))
    frame = pd.DataFrame(records, columns=PRICE_COLUMNS)
    return frame.astype({"OndemandPrice": "float64", "SpotPrice": "float64", "Savings": "float64"})


def if_frame(rows: Iterable[Sequence]) -> pd.DataFrame:
    """rows: (tier, type, region, IF[, family])."""
    records = [(r[0], r[1], r[2], r[3], r[4] if len(r) > 4 else f"std{r[1]}Family", "1,2,3") for r in rows]
    return pd.DataFrame(records, columns=IF_COLUMNS).astype({"IF": "float64"})


def sps_frame(rows: Iterable[Sequence], slot: datetime, count: int) -> pd.DataFrame:
    """rows: (tier, type, region, zone, score or None[, label])."""
    records = []
    for row in rows:
        tier, size, region, zone, score = row[:5]
        score = np.nan if score is None else float(score)
        label = row[5] if len(row) > 5 else SCORE_LABELS.get(score, "DataNotFoundOrStale")
        records.append((tier, size, region, zone, count, score, label, pd.Timestamp(slot)))
    frame = pd.DataFrame(records, columns=SPS_COLUMNS)
    return frame.astype({"DesiredCount": "int64", "Score": "float64", "Time": "datetime64[us, UTC]"})


def write_slot_inputs(
    store: Store,
    slot: datetime,
    count: int,
    *,
    sps_rows: Iterable[Sequence],
    price_rows: Iterable[Sequence] | None,
    if_rows: Iterable[Sequence] | None,
) -> str:
    """Write the raw objects of a slot (price/IF skipped when None); returns the SPS key."""
    key = sps_key(slot, count)
    write_parquet(store, key, sps_frame(sps_rows, slot, count))
    if price_rows is not None:
        write_parquet(store, price_key(slot), price_frame(price_rows))
    if if_rows is not None:
        write_parquet(store, if_key(slot), if_frame(if_rows))
    return key


def merged_frame(rows: Iterable[dict]) -> pd.DataFrame:
    """A merged dataset from partial rows; unspecified fields take plausible defaults."""
    from merge.join import normalise_merged

    defaults = {
        "InstanceTier": "Standard", "InstanceType": "D2s_v3", "Region": "eastus", "RegionName": "US East",
        "InstanceFamily": "standardDSv3Family", "OndemandPrice": 0.096, "SpotPrice": 0.0192, "Savings": 80.0,
        "IF": 3.0, "DesiredCount": 1, "AvailabilityZone": "1", "Score": 3.0, "T2": 1, "T3": 1, "Time": SLOT,
    }  # fmt: skip
    return normalise_merged(pd.DataFrame([{**defaults, **row} for row in rows], columns=list(defaults)))
