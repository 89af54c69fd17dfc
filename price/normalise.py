"""Retail Prices items -> the price dataset (docs/contract.md 6). Pure: no I/O, vectorised pandas.

Sources cited below: [overview] = Learn "Azure Retail Prices overview",
https://learn.microsoft.com/rest/api/cost-management/retail-prices/azure-retail-prices (observed 2026-12-02);
[spot] = Learn "Use Azure Spot Virtual Machines", https://learn.microsoft.com/azure/virtual-machines/spot-vms;
[mx] = a public copy of the whole real mexicocentral VM list (5,520 items, fetched 2026-08-14),
github.com/Arturo-Quiroga-MSFT/azure-architecture-diagram-builder
``src/data/pricing/regions/mexicocentral/virtual_machines.json`` (commit 551a1f0a; observed 2026-12-02), and
the first pages of eastus2/swedencentral in the same repository (commit 9fb2cfeb, prices of 2026-07-14).

Rules, each with the fact it rests on:

- keep ``type == "Consumption"``: ``type`` is Consumption, DevTestConsumption or Reservation and the
  last two duplicate sizes at other prices [overview];
- a *Linux VM* meter only (``is_linux_vm_product``). Under serviceName "Virtual Machines" the list also
  has Cloud Services roles (``Easv5 Series CloudServices``, ``Dasv5 Series Cloud Services``: Windows-level
  prices, often a later effectiveStartDate than the VM meter) and Dedicated Hosts (``Ddsv4 Series
  Dedicated Host``, ``Esv5 Series DedicatedHost``) [mx]; Windows meters carry "Windows" in productName
  [overview]. VM products are named ``Virtual Machines DSv3 Series``, ``Virtual Machines ECadsv6 series``,
  ``Virtual Machines Dlsv7-series Linux``, ``Virtual Machines NCldsxlRTX6kv6``, or without the prefix
  but with the OS, ``DCdsv3 Series Linux`` / ``Lasv3 Series Linux`` [mx, eastus2]: a Linux VM product
  starts with "Virtual Machines " or ends with " Linux", and names no Windows, Cloud Services or
  Dedicated Host;
- ``armSkuName`` is a VM size: ``Standard_``/``Basic_`` (any casing, ``utils.azure_api.arm_names.is_vm_size_name``).
  Dedicated Host meters are named ``Ddsv4_Type2``, ``Ebsv5-Type1``, ``DCdsv3 Type1`` [mx];
- spot meters have "Spot" in ``skuName``/``meterName`` [spot, overview examples]; "Low Priority" meters
  (the retired Batch/VMSS low-priority offer) are dropped;
- a row is in force at ``as_of`` when ``effectiveStartDate <= as_of`` (or absent) and ``effectiveEndDate``
  is absent or ``>= as_of``: the list carries expired meters and future ones next to the current one
  (68 of the 5,520 [mx] items have an effectiveEndDate);
- sovereign clouds are dropped by region code (``SOVEREIGN_REGION_CODES``, ``usgov*``/``usdod*``/``china*``)
  or by a whole word Gov/DoD/China in ``location`` (a first-word filter misses "US Gov Virginia");
- a price must be a finite, non-negative JSON number: ``1e400`` parses as ``inf``, a text or a boolean is
  not a price; such meters are dropped and counted (``PriceDrops``), never published. A spot meter priced 0
  is no offer and a Linux on-demand meter priced 0 is no price (both dropped and counted; the size keeps a
  row with that price missing when its other price exists, so Savings is missing too);
- primary and non-primary meters are both considered: ``isPrimaryMeterRegion`` is false on 560 of the 5,520
  [mx] items and for some sizes the only Linux on-demand meter is non-primary (Standard_D2s_v3 in
  mexicocentral); ``meterRegion='primary'`` would return primary meters only [overview], so the
  collector does not send it;
- several rows left for one (region, size, on-demand|spot) -> ``pick_one_meter``: a primary meter before a
  non-primary one (the region's own meter), then the latest ``effectiveStartDate``, then the lowest price,
  then the smallest ``meterId`` (a total, deterministic order);
- on-demand and spot are paired per (armRegionName, armSkuName) compared case-insensitively; a size with
  only one of the two still gives a row with the other price NaN (the emulator's
  ``Catalog.expected_prices`` agrees: one row per offer with a Linux on-demand or spot price);
- ``Savings = (OD - Spot) / OD * 100``, NaN when OD or Spot is missing;
- ``InstanceTier``/``InstanceType`` split the ARM name at the first "_" (the tier whatever its casing,
  ``utils.azure_api.arm_names``; the size keeps its casing, the spot meter's when there is one); ``Region`` is the
  lower-case ARM code; ``RegionName`` the item's ``location``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from utils.azure_api.arm_names import is_vm_size_name, split_arm_sku_name
from utils.azure_api.prices import ITEM_FIELDS
from utils.constants import PRICE_COLUMNS

# Sovereign-cloud regions (docs/contract.md 6: Gov, DoD, China, Germany). Microsoft Cloud Deutschland's regions were
# germanycentral / germanynortheast; germanywestcentral and germanynorth are ordinary public regions, so
# "germany" in a region code is not enough.
SOVEREIGN_REGION_CODES = frozenset({"germanycentral", "germanynortheast"})
SOVEREIGN_REGION_PREFIXES = ("usgov", "usdod", "usnat", "ussec", "china")
SOVEREIGN_LOCATION_WORDS = r"\b(?:Gov|DoD|China)\b"
SPOT_MARKER = "Spot"
LOW_PRIORITY_MARKER = "Low Priority"
# Product names (see the module docstring for the real forms and their sources).
VM_PRODUCT_PREFIX = "Virtual Machines "
LINUX_PRODUCT_SUFFIX = " Linux"
NOT_LINUX_VM_PRODUCT = r"\bWindows\b|Cloud\s*Services?\b|Dedicated\s*Hosts?\b"


@dataclass(frozen=True)
class PriceDrops:
    """Linux VM meters (in force, outside sovereign clouds) dropped for their price, by reason."""

    non_numeric: int = 0  # a text, a boolean or another JSON type where a number belongs
    non_finite: int = 0  # inf (JSON 1e400) or NaN
    negative: int = 0
    zero_on_demand: int = 0  # retailPrice 0 on an on-demand meter: published as missing
    zero_spot: int = 0  # retailPrice 0 on a spot meter: no offer

    def warnings(self) -> list[str]:
        """One sentence per non-zero count (what the collector logs as warnings)."""
        texts = {
            "non_numeric": "have a retailPrice that is not a number",
            "non_finite": "have a non-finite retailPrice (inf or NaN)",
            "negative": "have a negative retailPrice",
            "zero_on_demand": "are on-demand meters priced 0 (published as a missing on-demand price)",
            "zero_spot": "are spot meters priced 0 (no spot offer)",
        }
        return [f"{count} Linux VM price meter(s) {texts[name]} and were dropped"
                for name, count in vars(self).items() if count]


def items_frame(items: list[dict[str, Any]]) -> pd.DataFrame:
    """The ``ITEM_FIELDS`` of each item as a frame (one row per item); ``retailPrice`` kept as sent (object)."""
    if not items:
        return pd.DataFrame(columns=ITEM_FIELDS)
    frame = pd.DataFrame.from_records(items, columns=ITEM_FIELDS)
    # from_records would turn None into NaN and texts into objects inconsistently; keep the JSON values.
    frame["retailPrice"] = pd.Series([item.get("retailPrice") for item in items], dtype=object, index=frame.index)
    return frame


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].astype(object).where(frame[column].notna(), "").astype(str)


def _price_kind(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "non_numeric"
    if not math.isfinite(value):
        return "non_finite"
    return "negative" if value < 0 else "ok"


def price_kinds(prices: pd.Series) -> pd.Series:
    """Per value: "ok", "missing" (None), "non_numeric", "non_finite" or "negative"."""
    return prices.map(_price_kind).astype(object)


def is_sovereign(region_codes: pd.Series, locations: pd.Series) -> pd.Series:
    """True where the region code or the display location names a sovereign cloud."""
    codes = region_codes.str.lower()
    by_code = codes.isin(SOVEREIGN_REGION_CODES) | codes.str.startswith(SOVEREIGN_REGION_PREFIXES)
    by_location = locations.str.contains(SOVEREIGN_LOCATION_WORDS, case=False, regex=True)
    return by_code | by_location


def is_linux_vm_product(product_names: pd.Series) -> pd.Series:
    """True for a Linux Virtual Machines product name (module docstring: the real forms and sources).

    ``Virtual Machines DSv3 Series``, ``Virtual Machines Dlsv7-series Linux``, ``DCdsv3 Series Linux`` -> True;
    ``... Windows``, ``Easv5 Series CloudServices``, ``Dasv5 Series Cloud Services``, ``Ddsv4 Series
    Dedicated Host``, ``Esv5 Series DedicatedHost`` -> False.
    """
    names = product_names.astype(str).str.strip()
    vm_form = names.str.startswith(VM_PRODUCT_PREFIX) | names.str.endswith(LINUX_PRODUCT_SUFFIX)
    return vm_form & ~names.str.contains(NOT_LINUX_VM_PRODUCT, case=False, regex=True)


def in_force(frame: pd.DataFrame, as_of: datetime) -> pd.Series:
    """True where the row's validity window contains ``as_of`` (missing dates are open-ended)."""
    stamp = pd.Timestamp(as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC))
    start = pd.to_datetime(frame["effectiveStartDate"], utc=True, errors="coerce", format="ISO8601")
    end = pd.to_datetime(frame["effectiveEndDate"], utc=True, errors="coerce", format="ISO8601")
    return (start.isna() | (start <= stamp)) & (end.isna() | (end >= stamp))


def pick_one_meter(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (RegionKey, SkuKey, IsSpot): primary meter first, then the latest effectiveStartDate,
    then the lowest price, then the smallest meterId."""
    ordered = rows.assign(
        _secondary=~rows["IsPrimary"],
        _start=pd.to_datetime(rows["effectiveStartDate"], utc=True, errors="coerce", format="ISO8601"),
        _meter=_text(rows, "meterId"),
    ).sort_values(
        ["RegionKey", "SkuKey", "IsSpot", "_secondary", "_start", "Price", "_meter"],
        ascending=[True, True, True, True, False, True, True],
        na_position="last",
        kind="mergesort",
    )
    return ordered.drop_duplicates(["RegionKey", "SkuKey", "IsSpot"], keep="first").drop(
        columns=["_secondary", "_start", "_meter"])


def linux_vm_candidates(frame: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """Linux VM Consumption on-demand and spot meters in force at ``as_of`` outside sovereign clouds, whatever
    their price. Adds ``ArmSkuName``, ``RegionKey``/``SkuKey`` (lower-case join keys), ``Location``,
    ``IsSpot``, ``IsPrimary`` and ``PriceKind`` (``price_kinds``)."""
    sku_name, meter_name = _text(frame, "skuName"), _text(frame, "meterName")
    arm_sku, region = _text(frame, "armSkuName").str.strip(), _text(frame, "armRegionName").str.strip()
    location = _text(frame, "location")
    is_spot = sku_name.str.contains(SPOT_MARKER, regex=False) | meter_name.str.contains(SPOT_MARKER, regex=False)
    keep = (
        (_text(frame, "type") == "Consumption")
        & is_linux_vm_product(_text(frame, "productName"))
        & is_vm_size_name(arm_sku)
        & ~sku_name.str.contains(LOW_PRIORITY_MARKER, regex=False)
        & ~meter_name.str.contains(LOW_PRIORITY_MARKER, regex=False)
        & (region != "")
        & ~is_sovereign(region, location)
        & in_force(frame, as_of)
    )
    # isPrimaryMeterRegion absent (older api-versions): not known to be non-primary, so ranked as primary.
    primary = frame["isPrimaryMeterRegion"].astype(object).ne(False)
    return frame.loc[keep].assign(
        ArmSkuName=arm_sku[keep], RegionKey=region[keep].str.lower(), SkuKey=arm_sku[keep].str.lower(),
        Location=location[keep], IsSpot=is_spot[keep], IsPrimary=primary[keep],
        PriceKind=price_kinds(frame.loc[keep, "retailPrice"]),
    )


def select_linux_meters(frame: pd.DataFrame, as_of: datetime) -> tuple[pd.DataFrame, PriceDrops]:
    """The candidates (``linux_vm_candidates``) with a usable price, plus what was dropped for its price.

    Adds ``Price`` (float). A missing retailPrice is not counted here (the collector counts it over every
    item: the ``missing`` schema fault removes it everywhere and must fail the run).
    """
    rows = linux_vm_candidates(frame, as_of)
    kind = rows["PriceKind"]
    price = pd.to_numeric(rows["retailPrice"].where(kind == "ok"), errors="coerce").astype(float)
    zero = (kind == "ok") & (price == 0)
    drops = PriceDrops(
        non_numeric=int((kind == "non_numeric").sum()), non_finite=int((kind == "non_finite").sum()),
        negative=int((kind == "negative").sum()), zero_on_demand=int((zero & ~rows["IsSpot"]).sum()),
        zero_spot=int((zero & rows["IsSpot"]).sum()),
    )
    usable = (kind == "ok") & ~zero
    return rows.loc[usable].assign(Price=price[usable]), drops


def empty_price_frame() -> pd.DataFrame:
    """``PRICE_COLUMNS`` with no rows and the dtypes of a non-empty result."""
    text = ["InstanceTier", "InstanceType", "Region", "RegionName"]
    return pd.DataFrame({c: pd.Series(dtype="str" if c in text else "float64") for c in PRICE_COLUMNS})


def normalise_prices(items: list[dict[str, Any]], as_of: datetime | None = None) -> pd.DataFrame:
    """Retail Prices items -> ``PRICE_COLUMNS``, one row per (tier, type, region), sorted by them.

    Args:
        items: the ``Items`` of every page, as the API sends them [overview].
        as_of: the moment prices must be in force at (the run's slot); default now.
    """
    return normalise_prices_with_drops(items, as_of)[0]


def normalise_prices_with_drops(
    items: list[dict[str, Any]], as_of: datetime | None = None
) -> tuple[pd.DataFrame, PriceDrops]:
    """``normalise_prices`` plus the count of meters dropped for their price (``PriceDrops``)."""
    as_of = as_of or datetime.now(UTC)
    selected, drops = select_linux_meters(items_frame(items), as_of)
    rows = pick_one_meter(selected)
    if rows.empty:  # pandas cannot merge empty Arrow-backed string columns; nothing to pair anyway
        return empty_price_frame(), drops
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
    frame = result.sort_values(["InstanceTier", "InstanceType", "Region"]).reset_index(drop=True)[PRICE_COLUMNS]
    return frame, drops
