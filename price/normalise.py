"""Retail Prices items -> the price dataset (SPEC 6). Pure: no I/O, vectorised pandas.

Rules, each with the Azure fact it rests on (reference/azure.md):

- keep ``type == "Consumption"`` (DevTestConsumption and Reservation rows duplicate sizes, 2.3/2.4);
- Linux only: a row is Windows when ``productName`` contains "Windows"; Linux is the unmarked default (2.4);
- spot meters have "Spot" in ``skuName``/``meterName``; "Low Priority" meters are dropped (2.4);
- a row is in force at ``as_of`` when ``effectiveStartDate <= as_of`` (or absent) and ``effectiveEndDate``
  is absent or ``>= as_of``; expired and not-yet-effective rows are dropped (spot rows carry monthly
  validity windows, 2.3);
- sovereign clouds are dropped by region code (``SOVEREIGN_REGION_CODES``, ``usgov*``/``usdod*``/``china*``)
  or by a whole word Gov/DoD/China in ``location`` — a first-word filter misses "US Gov Virginia" (8);
- a spot row priced 0 is not an offer and is dropped; an on-demand 0.0 is kept (Savings is then NaN);
- several rows left for one (region, size, on-demand|spot) -> ``pick_one_meter``: the latest
  ``effectiveStartDate``, then the lowest price, then the smallest ``meterId`` (total, deterministic order);
- on-demand and spot are paired per (armRegionName, armSkuName) compared case-insensitively; a size with
  only one of the two still gives a row with the other price NaN (the emulator's
  ``Catalog.expected_prices`` agrees: one row per offer with a Linux on-demand or spot price);
- ``Savings = (OD - Spot) / OD * 100``, NaN when OD is missing or 0 or Spot is missing;
- ``InstanceTier``/``InstanceType`` split the ARM name at the first "_" keeping its casing; ``Region`` is
  the lower-case ARM code; ``RegionName`` the item's ``location``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from utils.arm_names import split_arm_sku_name
from utils.constants import PRICE_COLUMNS

# Fields read from each item (azure.md 2.3); absent fields become missing values.
ITEM_FIELDS = [
    "armRegionName", "armSkuName", "location", "productName", "skuName", "meterName", "type", "retailPrice",
    "effectiveStartDate", "effectiveEndDate", "meterId",
]  # fmt: skip

# Sovereign-cloud regions (SPEC 6: Gov, DoD, China, Germany). Microsoft Cloud Deutschland's regions were
# germanycentral / germanynortheast; germanywestcentral and germanynorth are ordinary public regions, so
# "germany" in a region code is not enough.
SOVEREIGN_REGION_CODES = frozenset({"germanycentral", "germanynortheast"})
SOVEREIGN_REGION_PREFIXES = ("usgov", "usdod", "usnat", "ussec", "china")
SOVEREIGN_LOCATION_WORDS = r"\b(?:Gov|DoD|China)\b"
WINDOWS_MARKER = "Windows"
SPOT_MARKER = "Spot"
LOW_PRIORITY_MARKER = "Low Priority"


def items_frame(items: list[dict[str, Any]]) -> pd.DataFrame:
    """The ``ITEM_FIELDS`` of each item as a frame (one row per item)."""
    return pd.DataFrame.from_records(items, columns=ITEM_FIELDS) if items else pd.DataFrame(columns=ITEM_FIELDS)


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].astype(object).where(frame[column].notna(), "").astype(str)


def is_sovereign(region_codes: pd.Series, locations: pd.Series) -> pd.Series:
    """True where the region code or the display location names a sovereign cloud."""
    codes = region_codes.str.lower()
    by_code = codes.isin(SOVEREIGN_REGION_CODES) | codes.str.startswith(SOVEREIGN_REGION_PREFIXES)
    by_location = locations.str.contains(SOVEREIGN_LOCATION_WORDS, case=False, regex=True)
    return by_code | by_location


def in_force(frame: pd.DataFrame, as_of: datetime) -> pd.Series:
    """True where the row's validity window contains ``as_of`` (missing dates are open-ended)."""
    stamp = pd.Timestamp(as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC))
    start = pd.to_datetime(frame["effectiveStartDate"], utc=True, errors="coerce", format="ISO8601")
    end = pd.to_datetime(frame["effectiveEndDate"], utc=True, errors="coerce", format="ISO8601")
    return (start.isna() | (start <= stamp)) & (end.isna() | (end >= stamp))


def pick_one_meter(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (RegionKey, SkuKey, IsSpot): latest effectiveStartDate, then lowest price, then meterId."""
    ordered = rows.assign(
        _start=pd.to_datetime(rows["effectiveStartDate"], utc=True, errors="coerce", format="ISO8601"),
        _meter=_text(rows, "meterId"),
    ).sort_values(
        ["RegionKey", "SkuKey", "IsSpot", "_start", "Price", "_meter"],
        ascending=[True, True, True, False, True, True],
        na_position="last",
        kind="mergesort",
    )
    return ordered.drop_duplicates(["RegionKey", "SkuKey", "IsSpot"], keep="first").drop(columns=["_start", "_meter"])


def select_linux_meters(frame: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """The Linux Consumption on-demand and spot rows in force at ``as_of``, outside sovereign clouds.

    Adds ``RegionKey``/``SkuKey`` (lower-case join keys), ``IsSpot`` and ``Price``.
    """
    sku_name, meter_name = _text(frame, "skuName"), _text(frame, "meterName")
    arm_sku, region = _text(frame, "armSkuName").str.strip(), _text(frame, "armRegionName").str.strip()
    location = _text(frame, "location")
    price = pd.to_numeric(frame["retailPrice"], errors="coerce")
    is_spot = sku_name.str.contains(SPOT_MARKER, regex=False) | meter_name.str.contains(SPOT_MARKER, regex=False)
    keep = (
        (_text(frame, "type") == "Consumption")
        & ~_text(frame, "productName").str.contains(WINDOWS_MARKER, regex=False)
        & ~sku_name.str.contains(LOW_PRIORITY_MARKER, regex=False)
        & ~meter_name.str.contains(LOW_PRIORITY_MARKER, regex=False)
        & (arm_sku != "")
        & (region != "")
        & price.notna()
        & (price >= 0)
        & ~(is_spot & (price <= 0))
        & ~is_sovereign(region, location)
        & in_force(frame, as_of)
    )
    rows = frame.loc[keep].assign(
        ArmSkuName=arm_sku[keep], RegionKey=region[keep].str.lower(), SkuKey=arm_sku[keep].str.lower(),
        Location=location[keep], IsSpot=is_spot[keep], Price=price[keep].astype(float),
    )
    return rows


def empty_price_frame() -> pd.DataFrame:
    """``PRICE_COLUMNS`` with no rows and the dtypes of a non-empty result."""
    text = ["InstanceTier", "InstanceType", "Region", "RegionName"]
    return pd.DataFrame({c: pd.Series(dtype="str" if c in text else "float64") for c in PRICE_COLUMNS})


def normalise_prices(items: list[dict[str, Any]], as_of: datetime | None = None) -> pd.DataFrame:
    """Retail Prices items -> ``PRICE_COLUMNS``, one row per (tier, type, region), sorted by them.

    Args:
        items: the ``Items`` of every page, as the API sends them (azure.md 2.3).
        as_of: the moment prices must be in force at (the run's slot); default now.
    """
    as_of = as_of or datetime.now(UTC)
    rows = pick_one_meter(select_linux_meters(items_frame(items), as_of))
    if rows.empty:  # pandas cannot merge empty Arrow-backed string columns; nothing to pair anyway
        return empty_price_frame()
    keys = ["RegionKey", "SkuKey"]
    columns = [*keys, "ArmSkuName", "Location", "Price"]
    paired = rows.loc[~rows["IsSpot"], columns].merge(
        rows.loc[rows["IsSpot"], columns], on=keys, how="outer", suffixes=("Od", "Spot")
    ).set_index(keys)
    # Casing and display location from the spot meter when there is one, else the on-demand meter.
    arm_name = paired["ArmSkuNameSpot"].where(paired["ArmSkuNameSpot"].notna(), paired["ArmSkuNameOd"])
    location = paired["LocationSpot"].where(paired["LocationSpot"].notna(), paired["LocationOd"])
    od_price = paired["PriceOd"].astype(float)
    spot_price = paired["PriceSpot"].astype(float)
    savings = ((od_price - spot_price) / od_price * 100).where(od_price > 0, np.nan)
    tier, size = split_arm_sku_name(arm_name.reset_index(drop=True))
    result = pd.DataFrame({
        "InstanceTier": tier.to_numpy(),
        "InstanceType": size.to_numpy(),
        "Region": paired.index.get_level_values("RegionKey").to_numpy(),
        "RegionName": location.to_numpy(),
        "OndemandPrice": od_price.to_numpy(),
        "SpotPrice": spot_price.to_numpy(),
        "Savings": savings.to_numpy(dtype=float),
    })
    return result.sort_values(["InstanceTier", "InstanceType", "Region"]).reset_index(drop=True)[PRICE_COLUMNS]
