"""Resource Graph ``SpotResources`` rows derived from a catalog (docs/azure-facts.md 3.4). Pure; built once.

- ``microsoft.compute/skuspotevictionrate/location``: one row per public offer with an eviction rate,
  ``properties.evictionRate`` = the bucket ("0-5" ... "20+").
- ``microsoft.compute/skuspotpricehistory/ostype/location``: one row per public offer and OS with a spot
  price (linux = the catalog SpotPrice, windows = the Windows spot meter), ``properties.spotPrices[0]`` the
  latest price, older entries after it.

``sku.name`` and ``name`` are lower-case, as Azure returns them. Row order: type, location, sku.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emulator.catalog import Catalog
from emulator.models.price_items import windows_prices

EVICTION_TYPE = "microsoft.compute/skuspotevictionrate/location"
PRICE_HISTORY_TYPE = "microsoft.compute/skuspotpricehistory/ostype/location"
HISTORY_DATES = ("2025-11-01T00:00:00Z", "2025-10-01T00:00:00Z", "2025-09-01T00:00:00Z")
HISTORY_FACTORS = (1.0, 1.04, 0.97)


def _row(row_type: str, location: str, sku: str, properties: dict[str, Any], suffix: str = "") -> dict[str, Any]:
    return {
        "id": f"/providers/{row_type}/{sku}{suffix}/{location}", "name": sku, "type": row_type,
        "tenantId": "", "kind": "", "location": location, "resourceGroup": "", "subscriptionId": "",
        "managedBy": "", "sku": {"name": sku}, "plan": None, "properties": properties, "tags": None,
        "identity": None, "zones": None, "extendedLocation": None,
    }


def build_spot_resources(catalog: Catalog) -> list[dict[str, Any]]:
    offers = catalog.public_offers.reset_index(drop=True)
    sku = offers["InstanceType"].str.lower().tolist()
    location = offers["Region"].str.lower().tolist()
    rates = offers["EvictionRate"].tolist()
    linux = offers["SpotPrice"].to_numpy(dtype=float)
    _, windows = windows_prices(offers)
    eviction, history = [], []
    for i in range(len(offers)):
        if rates[i]:
            eviction.append(_row(EVICTION_TYPE, location[i], sku[i],
                                 {"skuName": sku[i], "location": location[i], "evictionRate": rates[i]}))
        for os_type, price in (("linux", linux[i]), ("windows", windows[i])):
            if np.isnan(price):
                continue
            prices = [{"effectiveDate": d, "priceUSD": round(float(price) * f, 6)}
                      for d, f in zip(HISTORY_DATES, HISTORY_FACTORS, strict=True)]
            history.append(_row(PRICE_HISTORY_TYPE, location[i], sku[i],
                                {"skuName": sku[i], "osType": os_type, "location": location[i],
                                 "spotPrices": prices}, suffix=f"/{os_type}"))
    key = lambda r: (r["location"], r["name"])  # noqa: E731 - one-line sort key
    return sorted(eviction, key=key) + sorted(history, key=lambda r: (*key(r), r["properties"]["osType"]))


def spot_resources_of(catalog: Catalog) -> list[dict[str, Any]]:
    return catalog.derived("spot_resources", build_spot_resources)
