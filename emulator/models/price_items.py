"""Retail Prices items derived from a catalog. Pure; built once per catalog.

Shapes follow the real list (a public copy of the whole mexicocentral VM list, 5,520 items, in
github.com/Arturo-Quiroga-MSFT/azure-architecture-diagram-builder
``src/data/pricing/regions/mexicocentral/virtual_machines.json``, commit 551a1f0a; observed 2026-12-02).
Per offer row (``Catalog.expected_prices`` documents the consequences for the collector):

- Linux on-demand item when ``OndemandPrice`` is not NaN (0.0 stays a 0.0 item);
- Linux ``... Spot`` item when ``SpotPrice`` is not NaN;
- Windows on-demand item always, Windows ``... Spot`` item when the offer has a spot price (or, for a
  Windows-only size, for about half of them);
- ``... Low Priority`` items (Linux and Windows) for ~40 % of spot offers;
- a ``DevTestConsumption`` copy of the Linux on-demand item for ~10 % of offers, at another price;
- an expired Linux on-demand and/or spot item (``effectiveEndDate`` 2024-01-31, another price) for ~3 %;
- product names in the real forms, chosen per series (``PRODUCT_FORMS``): ``Virtual Machines DSv3 Series``,
  ``Virtual Machines DSv3 series``, ``Virtual Machines DSv3-series Linux``, ``DSv3 Series Linux``,
  ``Virtual Machines DSv3 series Linux``; the Windows twin says ``Windows`` instead of ``Linux`` (or adds it);
- non-primary meters (``isPrimaryMeterRegion: false``, ~10 % of real items): for ~5 % of offers the
  only Linux on-demand meter is non-primary (as Standard_D2s_v3 in mexicocentral); for ~4 % a second,
  non-primary Linux on-demand meter with a later start and another price sits next to the primary one,
  and for ~3 % of spot offers a non-primary spot twin likewise (the collector must take the primary);
  ~10 % of Windows on-demand items are non-primary. ``meterRegion='primary'`` drops every non-primary item;
- a Cloud Services role meter for ~4 % of Standard offers with a Linux on-demand price: productName
  ``DSv3 Series Cloud Services`` or ``DSv3 Series CloudServices``, the same armSkuName/meterName as the VM,
  the Windows-level price and a later effectiveStartDate (``CLOUD_SERVICES_START``);
- a Dedicated Host meter for ~6 % of (region, series): productName ``DSv3 Series Dedicated Host`` or
  ``... DedicatedHost``, armSkuName ``DSv3_Type1`` / ``DSv3-Type1`` / ``DSv3 Type1`` (no tier prefix).

Items are ordered by (armRegionName, armSkuName, meter kind): stable across runs and pages.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd

from emulator import names
from emulator.catalog import Catalog, hash_units

SERVICE_ID = "DZH313Z7MMC8"
CURRENT_START = "2024-02-01T00:00:00Z"
EXPIRED_START = "2023-01-01T00:00:00Z"
EXPIRED_END = "2024-01-31T23:59:59Z"
SHARE_LOW_PRIORITY = 0.4
SHARE_DEVTEST = 0.1
SHARE_EXPIRED = 0.03
NONPRIMARY_START = "2025-03-01T00:00:00Z"
CLOUD_SERVICES_START = "2025-01-01T00:00:00Z"
SHARE_OD_NONPRIMARY_ONLY = 0.05
SHARE_OD_NONPRIMARY_TWIN = 0.04
SHARE_SPOT_NONPRIMARY_TWIN = 0.03
SHARE_WINDOWS_NONPRIMARY = 0.1
SHARE_CLOUD_SERVICES = 0.04
SHARE_DEDICATED_HOST = 0.06
# (Linux form, Windows form, cumulative share) per series; {s} = series label.
PRODUCT_FORMS: tuple[tuple[str, str, float], ...] = (
    ("Virtual Machines {s} Series", "Virtual Machines {s} Series Windows", 0.6),
    ("Virtual Machines {s} series", "Virtual Machines {s} series Windows", 0.7),
    ("Virtual Machines {s}-series Linux", "Virtual Machines {s}-series Windows", 0.8),
    ("{s} Series Linux", "{s} Series Windows", 0.9),
    ("Virtual Machines {s} series Linux", "Virtual Machines {s} series Windows", 1.0),
)
WINDOWS_LICENCE_PER_VCPU = 0.046

ITEM_FIELDS = [
    "currencyCode", "tierMinimumUnits", "retailPrice", "unitPrice", "armRegionName", "location",
    "effectiveStartDate", "effectiveEndDate", "meterId", "meterName", "productId", "skuId", "availabilityId",
    "productName", "skuName", "serviceName", "serviceId", "serviceFamily", "unitOfMeasure", "type",
    "isPrimaryMeterRegion", "armSkuName", "reservationTerm", "savingsPlan",
]
# $filter field name (lower-cased) -> item field (docs/azure-facts.md 2.1; priceType maps to "type").
FILTER_FIELDS: dict[str, str] = {
    "armregionname": "armRegionName", "location": "location", "meterid": "meterId", "metername": "meterName",
    "productid": "productId", "skuid": "skuId", "productname": "productName", "skuname": "skuName",
    "servicename": "serviceName", "serviceid": "serviceId", "servicefamily": "serviceFamily",
    "pricetype": "type", "type": "type", "armskuname": "armSkuName", "currencycode": "currencyCode",
    "unitofmeasure": "unitOfMeasure",
}


def windows_prices(offers: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Windows on-demand and spot price per offer: Linux price + licence, spot at the Linux discount."""
    vcpus = offers["InstanceType"].map(names.vcpus_of).to_numpy(dtype=float)
    od = offers["OndemandPrice"].to_numpy(dtype=float)
    spot = offers["SpotPrice"].to_numpy(dtype=float)
    base = np.where(od > 0, od, np.where(~np.isnan(spot), spot / 0.25, vcpus * 0.05))
    win_od = np.round(base + WINDOWS_LICENCE_PER_VCPU * vcpus, 6)
    ratio = np.where((od > 0) & ~np.isnan(spot), spot / np.where(od > 0, od, 1.0), 0.25)
    key = offers["Region"] + "|" + offers["InstanceType"]
    windows_only = np.isnan(od) & np.isnan(spot)
    has_win_spot = ~np.isnan(spot) | (windows_only & (hash_units(key, "winspot") < 0.5))
    win_spot = np.where(has_win_spot, np.round(np.maximum(win_od * ratio, 0.0001), 6), np.nan)
    return win_od, win_spot


def _meter_ids(keys: pd.Series) -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, k)) for k in keys]


class PriceItems:
    """All items of a catalog as a DataFrame, plus cached $filter results."""

    def __init__(self, items: pd.DataFrame) -> None:
        self.items = items
        self._lock = threading.Lock()
        self._filter_cache: OrderedDict[tuple[tuple[str, str, str], ...], np.ndarray] = OrderedDict()

    def select(self, conditions: tuple[tuple[str, str, str], ...]) -> np.ndarray:
        """Positions of items matching every (op, field, value); op is "eq" or "contains" (case-sensitive)."""
        with self._lock:
            if conditions in self._filter_cache:
                self._filter_cache.move_to_end(conditions)
                return self._filter_cache[conditions]
        mask = np.ones(len(self.items), dtype=bool)
        for op, field, value in conditions:
            column = self.items[field].astype(str)
            if field == "isPrimaryMeterRegion":
                column = column.str.lower()
            mask &= (column == value).to_numpy() if op == "eq" else column.str.contains(value, regex=False).to_numpy()
        positions = np.flatnonzero(mask)
        with self._lock:
            self._filter_cache[conditions] = positions
            while len(self._filter_cache) > 64:
                self._filter_cache.popitem(last=False)
        return positions

    def records(self, positions: np.ndarray) -> list[dict[str, Any]]:
        """Item dicts (real field set; effectiveEndDate only when set) for the given positions."""
        return _to_records(self.items.iloc[positions])


def _to_records(items: pd.DataFrame) -> list[dict[str, Any]]:
    records = items[ITEM_FIELDS].to_dict("records")
    for record in records:
        if not isinstance(record["effectiveEndDate"], str):
            del record["effectiveEndDate"]
        if isinstance(record["savingsPlan"], str):
            record["savingsPlan"] = json.loads(record["savingsPlan"])
        else:
            del record["savingsPlan"]
        record["availabilityId"] = None
        record["reservationTerm"] = None
    return records


def product_names(series: pd.Series, basic: pd.Series, seed: int) -> tuple[pd.Series, pd.Series]:
    """Linux and Windows productName per row, in the real forms (``PRODUCT_FORMS``), drawn per series.

    Basic sizes keep the classic ``Virtual Machines A Series Basic`` / ``... Basic Windows``.
    """
    draw = hash_units(series, f"productform{seed}")
    bounds = np.array([share for _, _, share in PRODUCT_FORMS])
    form = np.minimum(np.searchsorted(bounds, draw, side="right"), len(PRODUCT_FORMS) - 1)
    linux = pd.Series("", index=series.index, dtype=object)
    windows = linux.copy()
    for number, (linux_form, windows_form, _) in enumerate(PRODUCT_FORMS):
        chosen = form == number
        linux[chosen] = [linux_form.format(s=s) for s in series[chosen]]
        windows[chosen] = [windows_form.format(s=s) for s in series[chosen]]
    linux[basic] = "Virtual Machines " + series[basic] + " Series Basic"
    windows[basic] = "Virtual Machines " + series[basic] + " Series Basic Windows"
    return linux, windows


def _dedicated_hosts(offers: pd.DataFrame, series: pd.Series, seed: int) -> pd.DataFrame:
    """One Dedicated Host meter per drawn (region, series), in the shape of the other variant rows."""
    groups = pd.DataFrame({"Region": offers["Region"], "RegionName": offers["RegionName"], "series": series})
    groups = groups[~offers["InstanceType"].str.startswith("Basic_")].drop_duplicates(["Region", "series"])
    key = groups["Region"] + "|" + groups["series"]
    groups = groups[hash_units(key, f"dedicatedhost{seed}") < SHARE_DEDICATED_HOST]
    key = groups["Region"] + "|" + groups["series"]
    shape = hash_units(key, f"dedicatedhostname{seed}")
    separator = np.where(shape < 0.6, "_", np.where(shape < 0.8, "-", " "))
    arm_name = groups["series"] + separator + "Type1"
    product = np.where(shape < 0.7, " Series Dedicated Host", " Series DedicatedHost")
    return pd.DataFrame({
        "Region": groups["Region"], "RegionName": groups["RegionName"], "InstanceType": arm_name,
        "rank": 12, "price": np.round(4.0 + 4.0 * hash_units(key, f"dedicatedhostprice{seed}"), 3),
        "productName": groups["series"] + product, "meterName": groups["series"] + " Type 1",
        "skuName": groups["series"] + " Type 1", "type": "Consumption", "effectiveStartDate": CURRENT_START,
        "effectiveEndDate": None, "os": "host", "primary": True,
    })


def build_price_items(catalog: Catalog) -> PriceItems:
    """Expand catalog offers into Retail Prices items (see module docstring)."""
    offers = catalog.offers.reset_index(drop=True)
    seed = catalog.seed
    key = offers["Region"] + "|" + offers["InstanceType"]
    od = offers["OndemandPrice"].to_numpy(dtype=float)
    spot = offers["SpotPrice"].to_numpy(dtype=float)
    win_od, win_spot = windows_prices(offers)
    low_priority = hash_units(key, f"lowpri{seed}") < SHARE_LOW_PRIORITY
    devtest = hash_units(key, f"devtest{seed}") < SHARE_DEVTEST
    expired_od = hash_units(key, f"expiredod{seed}") < SHARE_EXPIRED
    expired_spot = hash_units(key, f"expiredspot{seed}") < SHARE_EXPIRED
    primary_draw = hash_units(key, f"primary{seed}")
    od_nonprimary_only = primary_draw < SHARE_OD_NONPRIMARY_ONLY
    od_twin = (primary_draw >= SHARE_OD_NONPRIMARY_ONLY) & (
        primary_draw < SHARE_OD_NONPRIMARY_ONLY + SHARE_OD_NONPRIMARY_TWIN)
    spot_twin = hash_units(key, f"spotprimary{seed}") < SHARE_SPOT_NONPRIMARY_TWIN
    windows_nonprimary = hash_units(key, f"winprimary{seed}") < SHARE_WINDOWS_NONPRIMARY
    tier = offers["InstanceType"].map(lambda n: names.split_tier(n)[0])
    cloud_services = (hash_units(key, f"cloudservices{seed}") < SHARE_CLOUD_SERVICES) & (tier == "Standard").to_numpy()
    always = np.ones(len(offers), dtype=bool)
    has_od, has_spot = ~np.isnan(od), ~np.isnan(spot)

    # (kind rank, os, meter suffix, price type, price, present, start, end, primary)
    variants = [
        (0, "linux", "", "Consumption", od, has_od, CURRENT_START, None, ~od_nonprimary_only),
        (1, "linux", "", "Consumption", np.round(od * 1.07, 6), has_od & expired_od, EXPIRED_START,
         EXPIRED_END, always),
        (2, "linux", "", "DevTestConsumption", np.round(od * 0.85, 6), has_od & devtest, CURRENT_START,
         None, always),
        (3, "linux", "", "Consumption", np.round(od * 1.11, 6), has_od & od_twin, NONPRIMARY_START, None,
         ~always),
        (4, "linux", " Spot", "Consumption", spot, has_spot, CURRENT_START, None, always),
        (5, "linux", " Spot", "Consumption", np.round(spot * 1.3, 6), has_spot & expired_spot,
         EXPIRED_START, EXPIRED_END, always),
        (6, "linux", " Spot", "Consumption", np.round(spot * 1.2, 6), has_spot & spot_twin, NONPRIMARY_START,
         None, ~always),
        (7, "linux", " Low Priority", "Consumption", np.round(spot * 1.15, 6), has_spot & low_priority,
         CURRENT_START, None, always),
        (8, "windows", "", "Consumption", win_od, always, CURRENT_START, None, ~windows_nonprimary),
        (9, "windows", " Spot", "Consumption", win_spot, ~np.isnan(win_spot), CURRENT_START, None, always),
        (10, "windows", " Low Priority", "Consumption", np.round(win_spot * 1.15, 6),
         ~np.isnan(win_spot) & low_priority, CURRENT_START, None, always),
        (11, "cloudservices", "", "Consumption", win_od, has_od & cloud_services, CLOUD_SERVICES_START, None,
         always),
    ]
    meter_size = offers["InstanceType"].map(names.meter_size_name)
    series = offers["InstanceType"].map(names.product_series)
    linux_product, windows_product = product_names(series, (tier == "Basic"), seed)
    cs_form = np.where(hash_units(series, f"cloudservicesname{seed}") < 0.5, " Series Cloud Services",
                       " Series CloudServices")
    cs_product = series + cs_form
    products = {"linux": linux_product, "windows": windows_product, "cloudservices": cs_product}
    frames = []
    for rank, os_name, suffix, price_type, price, present, start, end, primary in variants:
        rows = offers.loc[present, ["Region", "RegionName", "InstanceType"]].copy()
        rows["rank"] = rank
        rows["price"] = price[present]
        rows["productName"] = products[os_name][present]
        rows["meterName"] = meter_size[present] + suffix
        rows["skuName"] = meter_size[present] + suffix
        rows["type"] = price_type
        rows["effectiveStartDate"] = start
        rows["effectiveEndDate"] = end
        rows["os"] = os_name
        rows["primary"] = primary[present]
        frames.append(rows)
    frames.append(_dedicated_hosts(offers, series, seed))
    rows = pd.concat(frames, ignore_index=True).sort_values(["Region", "InstanceType", "rank"], kind="stable")
    rows = rows.reset_index(drop=True)
    product_key = rows["productName"]
    sku_key = rows["productName"] + "|" + rows["skuName"]
    meter_key = rows["Region"] + "|" + rows["productName"] + "|" + rows["meterName"]
    product_ids = {p: "DZH318Z0" + uuid.uuid5(uuid.NAMESPACE_DNS, p).hex[:4].upper() for p in product_key.unique()}
    sku_ids = {s: uuid.uuid5(uuid.NAMESPACE_DNS, s).hex[:4].upper() for s in sku_key.unique()}
    is_od_consumption = (rows["type"] == "Consumption") & ~rows["skuName"].str.contains("Spot|Low Priority")
    savings = [
        json.dumps([{"unitPrice": round(p * 0.74, 6), "retailPrice": round(p * 0.74, 6), "term": "1 Year"},
                    {"unitPrice": round(p * 0.52, 6), "retailPrice": round(p * 0.52, 6), "term": "3 Years"}])
        if od_row and p > 0 else None
        for p, od_row in zip(rows["price"], is_od_consumption, strict=True)
    ]
    items = pd.DataFrame({
        "currencyCode": "USD",
        "tierMinimumUnits": 0.0,
        "retailPrice": rows["price"].astype(float),
        "unitPrice": rows["price"].astype(float),
        "armRegionName": rows["Region"],
        "location": rows["RegionName"],
        "effectiveStartDate": rows["effectiveStartDate"],
        "effectiveEndDate": rows["effectiveEndDate"].astype(object).where(rows["effectiveEndDate"].notna(), None),
        "meterId": _meter_ids(meter_key + "|" + rows["type"] + "|" + rows["effectiveStartDate"]),
        "meterName": rows["meterName"],
        "productId": product_key.map(product_ids),
        "skuId": product_key.map(product_ids) + "/" + sku_key.map(sku_ids),
        "availabilityId": None,
        "productName": rows["productName"],
        "skuName": rows["skuName"],
        "serviceName": "Virtual Machines",
        "serviceId": SERVICE_ID,
        "serviceFamily": "Compute",
        "unitOfMeasure": "1 Hour",
        "type": rows["type"],
        "isPrimaryMeterRegion": rows["primary"].astype(bool),
        "armSkuName": rows["InstanceType"],
        "reservationTerm": None,
        "savingsPlan": savings,
    })
    items["availabilityId"] = None
    items["reservationTerm"] = None
    return PriceItems(items)


def price_items_of(catalog: Catalog) -> PriceItems:
    """The catalog's items, built on first use and cached on the catalog."""
    return catalog.derived("price_items", build_price_items)
