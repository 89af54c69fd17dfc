"""The emulator's world: which VM sizes are offered where, at what price, with which eviction rate.

Pure (no HTTP). ``load_catalog()`` gives the bundled world catalog, generated deterministically from a seed;
``load_catalog(path)`` loads a CSV. The same ``Catalog`` also says what each collector must produce from the
emulated APIs (``expected_prices``, ``expected_if``, ``spot_pairs``), so tests compare a collector's output
with the ground truth instead of re-deriving it.

Determinism: every random choice is a SipHash (``pandas.util.hash_array``, fixed key) of the seed and
the names involved, never Python's ``hash()``; the same (path, seed) gives the same catalog on any machine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from emulator import names
from emulator.specs import vm_spec

DATA_DIR = Path(__file__).resolve().parent / "data"
REGIONS_FILE = DATA_DIR / "azure_regions.csv"
# Real sizes x 9 US regions (skypilot catalog v5; tests/data/README.md).
US_CATALOG_FILE = DATA_DIR / "azure_us_catalog_v5.csv"

OFFER_COLUMNS = [
    "Region", "RegionName", "InstanceType", "OndemandPrice", "SpotPrice", "Family", "Zones", "EvictionRate",
    "Restricted",
]
REQUIRED_CSV_COLUMNS = ["Region", "InstanceType", "OndemandPrice", "SpotPrice"]
OPTIONAL_CSV_COLUMNS = ["RegionName", "Family", "Zones", "EvictionRate", "Restricted"]
PRICE_COLUMNS = ["InstanceTier", "InstanceType", "Region", "RegionName", "OndemandPrice", "SpotPrice", "Savings"]
IF_COLUMNS = ["InstanceTier", "InstanceType", "Region", "IF", "InstanceFamily", "Zones",
              "vCPUs", "MemoryGiB", "GPUs", "Architecture"]

# The Gov region of the world catalog: its meters are in the public price list; collectors must drop them.
GOV_REGION = ("usgovvirginia", "US Gov Virginia", 1)

# Sizes newer than the v5 snapshot; present in few regions (realistic sparsity for new families).
NEWER_SIZES: tuple[str, ...] = tuple(
    [f"Standard_D{n}s_v6" for n in (2, 4, 8, 16, 32, 48, 64, 96)]
    + [f"Standard_D{n}as_v6" for n in (2, 4, 8, 16, 32, 48, 64, 96)]
    + [f"Standard_E{n}s_v6" for n in (2, 4, 8, 16, 32, 48, 64)]
    + [f"Standard_D{n}als_v7" for n in (2, 4, 8, 16)]
    + ["Standard_NCC40ads_H100_v5", "Standard_NG8ads_V620_v1", "Standard_NG16ads_V620_v1",
       "Standard_NG32ads_V620_v1", "Standard_NG32adms_V620_v1"]
)
NEWER_SIZE_PRESENCE = 0.2

# Share of sizes offered in a region relative to the US presence of the size (older regions carry most
# of the catalog, recent ones fewer sizes, canary and Gov regions fewer still).
REGION_FACTOR_OLD = 0.9
REGION_FACTOR_RECENT = 0.6
REGION_FACTOR_CANARY = 0.45
REGION_FACTOR_GOV = 0.3

# USD per vCPU-hour of Linux on-demand by series (order of magnitude of real list prices).
RATE_BY_SERIES: dict[str, float] = {
    "A": 0.025, "B": 0.0208, "D": 0.048, "DS": 0.05, "DC": 0.06, "E": 0.063, "EC": 0.07, "F": 0.0423,
    "FX": 0.1, "G": 0.09, "GS": 0.095, "H": 0.09, "HB": 0.03, "HC": 0.035, "HX": 0.06, "L": 0.078,
    "M": 0.1, "NC": 0.15, "NCC": 0.2, "ND": 0.28, "NV": 0.15, "NP": 0.2, "NG": 0.12, "PB": 0.1,
}
DEFAULT_RATE = 0.05

# Cumulative shares of eviction buckets among spot pairs; the rest has no eviction rate published.
EVICTION_CUMULATIVE = (0.52, 0.72, 0.84, 0.92, 0.97)
# Edge-case shares among offered pairs (bundled world only).
SHARE_ZERO_OD = 0.004
SHARE_SPOT_WITHOUT_OD = 0.005
SHARE_WINDOWS_ONLY = 0.004
SHARE_LOCATION_RESTRICTED = 0.02
SHARE_ZONE_RESTRICTED = 0.02
SHARE_PARTIAL_ZONES = 0.05

T = TypeVar("T")


class CatalogError(ValueError):
    """A catalog file that cannot be used (missing columns, bad values, duplicate rows)."""


def hash_units(keys: pd.Series | list[str], salt: str) -> np.ndarray:
    """Deterministic uniform floats in [0, 1) for each key (SipHash with pandas' fixed key)."""
    values = (salt + "|" + pd.Series(keys, dtype=object).astype(str)).to_numpy(dtype=object)
    hashed = pd.util.hash_array(values, categorize=False)
    return (hashed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@dataclass(eq=False)
class Catalog:
    """Offers of VM sizes per region. Treat the frames as read-only: catalogs are cached and shared.

    Attributes:
        offers: one row per (Region, InstanceType) offered; columns ``OFFER_COLUMNS``.
        regions: ``Region, RegionName, Zones`` of every catalog region, sovereign ones included. Sovereign
            regions (``names.SOVEREIGN_REGIONS``) only appear in the Retail Prices API; the ARM APIs (SKUs,
            Resource Graph, SPS) do not know them, as the public ARM endpoint does not.
        seed: the seed that derived every generated value.
        source: "world" or the CSV path.
    """

    offers: pd.DataFrame
    regions: pd.DataFrame
    seed: int = 0
    source: str = "world"
    _derived: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def derived(self, name: str, build: Callable[[Catalog], T]) -> T:
        """Build a per-catalog model once (price items, SKU records, ...) and cache it on the catalog."""
        with self._lock:
            if name not in self._derived:
                self._derived[name] = build(self)
            return self._derived[name]

    @property
    def public_offers(self) -> pd.DataFrame:
        """Offers in regions the public ARM endpoint knows (no sovereign regions)."""
        return self.offers[~self.offers["Region"].str.lower().isin(names.SOVEREIGN_REGIONS)]

    @property
    def public_regions(self) -> pd.DataFrame:
        """``regions`` without sovereign regions: the SPS endpoint and desired locations."""
        return self.regions[~self.regions["Region"].str.lower().isin(names.SOVEREIGN_REGIONS)]

    def expected_prices(self) -> pd.DataFrame:
        """What the price collector must produce from the Retail Prices API (docs/contract.md 6).

        Which Retail Prices items each offer row becomes (see ``emulator.models.price_items``):

        - ``OndemandPrice`` not NaN -> a Linux VM Consumption item (a Linux VM productName in one of the real
          forms, meterName and skuName without "Spot"/"Low Priority"); ``SpotPrice`` not NaN -> a Linux
          "... Spot" item. A 0.0 on-demand price is a real 0.0 item.
        - Every offer also has Windows items (productName "... Windows"); an offer with both Linux prices
          NaN is a Windows-only size: it has no Linux item and so no expected row.
        - Some offers also get "... Low Priority" items, "DevTestConsumption" copies at another price, an
          expired item (``effectiveEndDate`` in the past, another price) next to the current one, a
          non-primary twin of the Linux on-demand or spot item (later start, another price), or a Cloud
          Services role item (same armSkuName, Windows-level price, later start); for some offers the only
          Linux on-demand item is non-primary. Dedicated Host items (armSkuName ``DSv3_Type1``) belong to
          no offer.
        - Offers in sovereign regions (Gov: ``usgovvirginia`` "US Gov Virginia"; DoD, China, Germany) have
          items like any region.

        A collector that keeps Linux VM products (not Windows, Cloud Services or Dedicated Host),
        ``Standard_``/``Basic_`` armSkuNames, ``type == 'Consumption'``, non-Spot/non-Low-Priority on-demand
        meters and Spot meters, primary and non-primary meters (the primary one first), drops expired rows,
        sovereign regions and zero prices, and joins on-demand with spot per (armSkuName, armRegionName)
        gets exactly these rows: one per non-sovereign offer with a Linux spot price or a non-zero Linux
        on-demand price. ``OndemandPrice``/``SpotPrice`` are the item prices (NaN when that item does not
        exist; an on-demand 0.0 is published as NaN, it is not a price); ``Savings = (OD - Spot) / OD * 100``,
        NaN when OD or Spot is missing. ``InstanceType`` is the size without tier in ARM casing
        (``NC24ads_A100_v4``).

        Returns:
            DataFrame ``PRICE_COLUMNS`` sorted by (InstanceTier, InstanceType, Region), index reset.
        """
        offers = self.public_offers
        offers = offers[offers["OndemandPrice"].gt(0) | offers["SpotPrice"].notna()]
        tier, size = _split_tier_columns(offers["InstanceType"])
        od = offers["OndemandPrice"].astype(float).where(offers["OndemandPrice"].gt(0))
        spot = offers["SpotPrice"].astype(float)
        savings = ((od - spot) / od * 100).where(od > 0)
        frame = pd.DataFrame({
            "InstanceTier": tier, "InstanceType": size, "Region": offers["Region"],
            "RegionName": offers["RegionName"], "OndemandPrice": od, "SpotPrice": spot, "Savings": savings,
        })
        return frame.sort_values(["InstanceTier", "InstanceType", "Region"]).reset_index(drop=True)[PRICE_COLUMNS]

    def expected_if(self) -> pd.DataFrame:
        """What the IF collector must produce from Resource Graph eviction rates + Resource SKUs.

        One row per offer in a public region (every virtualMachines ResourceSku of that region, restricted
        ones included): ``IF`` = ``EVICTION_BUCKET_TO_IF[EvictionRate]`` from the SpotResources
        ``skuspotevictionrate`` row of that (sku, location) (NaN when the pair has no such row),
        ``InstanceFamily`` = the SKU's ``family``, ``Zones`` = the SKU's ``locationInfo`` zones joined with
        "," ("" for none), the specs (vCPUs, MemoryGiB, GPUs, Architecture) = the SKU's capabilities
        (``emulator.specs.vm_spec``). Sorted by (InstanceTier, InstanceType, Region), index reset.
        """
        offers = self.public_offers
        tier, size = _split_tier_columns(offers["InstanceType"])
        sizes = offers["InstanceType"].drop_duplicates()
        specs = pd.DataFrame([vm_spec(s) for s in sizes], index=sizes.to_numpy(),
                             columns=["vCPUs", "MemoryGiB", "GPUs", "Architecture"])
        specs = specs.reindex(offers["InstanceType"].to_numpy())
        frame = pd.DataFrame({
            "InstanceTier": tier, "InstanceType": size, "Region": offers["Region"],
            "IF": offers["EvictionRate"].map(names.EVICTION_BUCKET_TO_IF).astype(float),
            "InstanceFamily": offers["Family"], "Zones": offers["Zones"],
            "vCPUs": specs["vCPUs"].to_numpy(dtype=float), "MemoryGiB": specs["MemoryGiB"].to_numpy(dtype=float),
            "GPUs": specs["GPUs"].to_numpy(dtype=float), "Architecture": specs["Architecture"].to_numpy(),
        })
        return frame.sort_values(["InstanceTier", "InstanceType", "Region"]).reset_index(drop=True)[IF_COLUMNS]

    def spot_pairs(self) -> pd.DataFrame:
        """``Region, InstanceType`` (full ARM name) with a spot price and no Location restriction, public
        regions only: the SPS workload. Sorted by (Region, InstanceType), index reset."""
        offers = self.public_offers
        keep = offers["SpotPrice"].notna() & (offers["Restricted"] != "Location")
        pairs = offers.loc[keep, ["Region", "InstanceType"]]
        return pairs.sort_values(["Region", "InstanceType"]).reset_index(drop=True)


def _split_tier_columns(arm_names: pd.Series) -> tuple[pd.Series, pd.Series]:
    parts = arm_names.str.split("_", n=1, expand=True)
    has_tier = parts[0].isin(["Standard", "Basic"]) & parts[1].notna()
    tier = parts[0].where(has_tier, "Standard")
    size = parts[1].where(has_tier, arm_names)
    return tier, size


def load_catalog(path: str | Path | None = None, seed: int = 0) -> Catalog:
    """The bundled world catalog (``path=None``) or a CSV catalog; cached per (path, seed).

    Raises:
        CatalogError: the CSV is missing required columns, has bad numbers or duplicate (Region, size).
    """
    key = None if path is None else str(Path(path).resolve())
    return _load_cached(key, int(seed))


@lru_cache(maxsize=16)
def _load_cached(path: str | None, seed: int) -> Catalog:
    if path is None:
        offers = _world_offers(seed)
        source = "world"
    else:
        offers = _csv_offers(Path(path), seed)
        source = path
    return Catalog(offers=offers, regions=_regions_of(offers), seed=seed, source=source)


def _regions_of(offers: pd.DataFrame) -> pd.DataFrame:
    """Region-level zones = union of the offers' zones in that region."""
    zone_sets = (
        offers.assign(Zone=offers["Zones"].str.split(","))
        .explode("Zone")
        .query("Zone != ''")
        .groupby("Region")["Zone"]
        .agg(lambda zones: ",".join(sorted(set(zones))))
    )
    regions = offers.drop_duplicates("Region")[["Region", "RegionName"]].copy()
    regions["Zones"] = regions["Region"].map(zone_sets).fillna("")
    return regions.sort_values("Region").reset_index(drop=True)


def _csv_offers(path: Path, seed: int) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc}") from exc
    missing = [c for c in REQUIRED_CSV_COLUMNS if c not in raw.columns]
    if missing:
        raise CatalogError(f"catalog {path} lacks columns {missing}; required: {REQUIRED_CSV_COLUMNS}")
    frame = pd.DataFrame({
        "Region": raw["Region"].str.strip(),
        "InstanceType": raw["InstanceType"].str.strip(),
    })
    if (frame["Region"] == "").any() or (frame["InstanceType"] == "").any():
        raise CatalogError(f"catalog {path}: empty Region or InstanceType")
    for column in ("OndemandPrice", "SpotPrice"):
        text = raw[column].str.strip()
        numbers = pd.to_numeric(text.replace("", np.nan), errors="coerce")
        bad = numbers.isna() & (text != "")
        if bad.any() or (numbers < 0).any():
            raise CatalogError(f"catalog {path}: bad {column} values, e.g. {text[bad].head(3).tolist()}")
        frame[column] = numbers.astype(float)
    duplicated = frame.duplicated(["Region", "InstanceType"])
    if duplicated.any():
        raise CatalogError(f"catalog {path}: duplicate rows {frame[duplicated].head(3).values.tolist()}")
    optional = {c: raw[c].str.strip() for c in OPTIONAL_CSV_COLUMNS if c in raw.columns}
    frame["RegionName"] = optional.get("RegionName", pd.Series("", index=raw.index))
    frame["Family"] = optional.get("Family", pd.Series("", index=raw.index))
    frame["Zones"] = optional.get("Zones", pd.Series(np.nan, index=raw.index, dtype=object))
    frame["EvictionRate"] = optional.get("EvictionRate", pd.Series(np.nan, index=raw.index, dtype=object))
    frame["Restricted"] = optional.get("Restricted", pd.Series("", index=raw.index)).fillna("")
    bad_buckets = ~frame["EvictionRate"].isin([*names.EVICTION_BUCKETS, ""]) & frame["EvictionRate"].notna()
    if bad_buckets.any():
        raise CatalogError(f"catalog {path}: EvictionRate must be one of {names.EVICTION_BUCKETS} or empty")
    return _complete(frame, seed)


def _complete(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Fill derivable columns that are empty/missing, deterministically; sort; order columns."""
    frame = frame.copy()
    empty_name = frame["RegionName"].fillna("") == ""
    frame.loc[empty_name, "RegionName"] = frame.loc[empty_name, "Region"].map(names.price_location)
    empty_family = frame["Family"].fillna("") == ""
    frame.loc[empty_family, "Family"] = frame.loc[empty_family, "InstanceType"].map(names.family_of)
    no_zones = frame["Zones"].isna()
    frame.loc[no_zones, "Zones"] = frame.loc[no_zones, "Region"].map(names.default_zones)
    no_rate = frame["EvictionRate"].isna()
    drawn = _eviction_buckets(frame["Region"] + "|" + frame["InstanceType"], seed)
    frame.loc[no_rate, "EvictionRate"] = drawn[no_rate.to_numpy()]
    frame.loc[frame["SpotPrice"].isna(), "EvictionRate"] = ""
    frame = frame.sort_values(["Region", "InstanceType"]).reset_index(drop=True)
    return frame[OFFER_COLUMNS]


def _eviction_buckets(keys: pd.Series, seed: int) -> np.ndarray:
    units = hash_units(keys, f"eviction{seed}")
    index = np.searchsorted(np.array(EVICTION_CUMULATIVE), units, side="right")
    return np.array([*names.EVICTION_BUCKETS, ""], dtype=object)[index]


def _world_regions() -> pd.DataFrame:
    regions = pd.read_csv(REGIONS_FILE, dtype={"Region": str, "RegionName": str, "Launched2019OrLater": int})
    gov = pd.DataFrame([GOV_REGION], columns=regions.columns)
    regions = pd.concat([regions, gov], ignore_index=True)
    regions["PriceName"] = [names.price_location(r, n) for r, n in zip(regions["Region"], regions["RegionName"],
                                                                      strict=True)]
    factor = np.where(regions["Launched2019OrLater"] == 1, REGION_FACTOR_RECENT, REGION_FACTOR_OLD)
    factor = np.where(regions["Region"].str.endswith("euap"), REGION_FACTOR_CANARY, factor)
    factor = np.where(regions["Region"].map(names.is_sovereign), REGION_FACTOR_GOV, factor)
    regions["Factor"] = factor
    return regions


def _world_offers(seed: int) -> pd.DataFrame:
    """Generate the bundled world: real US presence for the 9 US regions, sampled presence elsewhere."""
    regions = _world_regions()
    us = pd.read_csv(US_CATALOG_FILE, dtype={"InstanceType": str, "Region": str, "HasSpotPrice": int})
    us_regions = sorted(us["Region"].unique())
    by_size = us.groupby("InstanceType").agg(Presence=("Region", "size"), SpotCapable=("HasSpotPrice", "max"))
    by_size["Presence"] = by_size["Presence"] / len(us_regions)
    newer = pd.DataFrame({"Presence": NEWER_SIZE_PRESENCE, "SpotCapable": 1}, index=list(NEWER_SIZES))
    sizes = pd.concat([by_size, newer.loc[newer.index.difference(by_size.index)]])
    sizes.index.name = "InstanceType"
    sizes = sizes.reset_index()

    # Azure rolls hardware out per family: the sizes of one family are offered in (nearly) the same
    # regions (the real US snapshot has only 30 distinct region sets across 795 sizes). So presence is drawn
    # per (region, family), with a per-size draw only thinning sizes rarer than their family's average.
    sizes["FamilyKey"] = sizes["InstanceType"].map(names.family_of)
    sizes["FamilyPresence"] = sizes.groupby("FamilyKey")["Presence"].transform("mean")
    grid = regions[["Region", "PriceName", "Factor"]].merge(sizes, how="cross")
    key = grid["Region"] + "|" + grid["InstanceType"]
    # Rarer sizes of a family are offered in a subset of the family's regions (nested, as with real
    # rollouts where the largest sizes reach fewer regions): one per-(region, family) draw for both.
    family_key = grid["Region"] + "|" + grid["FamilyKey"]
    u_family = hash_units(family_key, f"offerfamily{seed}")
    u_size = hash_units(family_key, f"offersize{seed}")
    u_spot = hash_units(family_key, f"spot{seed}")
    family_presence = grid["FamilyPresence"].to_numpy()
    size_share = np.clip(grid["Presence"].to_numpy() / np.maximum(family_presence, 1e-9), 0.6, 1.0)
    sampled_offer = (u_family < family_presence * grid["Factor"].to_numpy()) & (u_size < size_share)
    sampled_spot = sampled_offer & (grid["SpotCapable"].to_numpy() == 1) & (u_spot < 0.97)
    real = us.set_index(["Region", "InstanceType"])["HasSpotPrice"]
    real_key = pd.MultiIndex.from_arrays([grid["Region"], grid["InstanceType"]])
    real_spot = real.reindex(real_key).to_numpy()
    in_us = grid["Region"].isin(us_regions).to_numpy() & grid["InstanceType"].isin(by_size.index).to_numpy()
    offered = np.where(in_us, ~np.isnan(real_spot), sampled_offer)
    has_spot = np.where(in_us, real_spot == 1, sampled_spot)
    grid = grid.loc[offered].reset_index(drop=True)
    has_spot = has_spot[offered]
    key = grid["Region"] + "|" + grid["InstanceType"]
    family_key = grid["Region"] + "|" + grid["FamilyKey"]

    vcpus = grid["InstanceType"].map(names.vcpus_of).to_numpy(dtype=float)
    series = grid["InstanceType"].map(lambda n: (names.parse_size(names.split_tier(n)[1]) or {}).get("series", ""))
    rate = series.map(RATE_BY_SERIES).fillna(DEFAULT_RATE).to_numpy()
    region_mult = 1.0 + 0.35 * hash_units(grid["Region"], f"regionprice{seed}")
    od = np.round(vcpus * rate * region_mult * (0.95 + 0.1 * hash_units(key, f"od{seed}")), 6)
    spot = np.round(od * (0.10 + 0.30 * hash_units(key, f"discount{seed}")), 6)
    spot = np.where(has_spot, np.maximum(spot, 0.0001), np.nan)
    edge = hash_units(key, f"edge{seed}")
    od = np.where(edge < SHARE_ZERO_OD, 0.0, od)
    spot_without_od = (edge >= SHARE_ZERO_OD) & (edge < SHARE_ZERO_OD + SHARE_SPOT_WITHOUT_OD) & has_spot
    od = np.where(spot_without_od, np.nan, od)
    windows_only = (edge >= 0.01) & (edge < 0.01 + SHARE_WINDOWS_ONLY)
    od = np.where(windows_only, np.nan, od)
    spot = np.where(windows_only, np.nan, spot)

    region_zones = grid["Region"].map(names.default_zones)
    partial = (hash_units(key, f"zones{seed}") < SHARE_PARTIAL_ZONES) & (region_zones == "1,2,3").to_numpy()
    zones = np.where(partial, "1,2", region_zones)
    # Subscription restrictions are usually per (region, family): capacity or offer limits on a family.
    u_restrict = hash_units(family_key, f"restrict{seed}")
    restricted = np.where(u_restrict < SHARE_LOCATION_RESTRICTED, "Location", "")
    zone_restricted = (u_restrict >= SHARE_LOCATION_RESTRICTED) & (
        u_restrict < SHARE_LOCATION_RESTRICTED + SHARE_ZONE_RESTRICTED) & (zones == "1,2,3")
    restricted = np.where(zone_restricted, np.where(u_restrict < 0.035, "Zone:3", "Zone:2,3"), restricted)

    frame = pd.DataFrame({
        "Region": grid["Region"], "RegionName": grid["PriceName"], "InstanceType": grid["InstanceType"],
        "OndemandPrice": od, "SpotPrice": spot, "Family": "", "Zones": zones,
        "EvictionRate": np.nan, "Restricted": restricted,
    })
    frame["EvictionRate"] = frame["EvictionRate"].astype(object)
    return _complete(frame, seed)
