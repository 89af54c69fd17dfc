"""Pure naming rules shared by the catalog and the API renderers: tiers, families, meter names, regions.

Every rule here is derived from how Azure names things (docs/azure-facts.md 2.3, 2.4, 4.2); none does I/O.
"""

from __future__ import annotations

import re

# ARM region code -> display location used by the Retail Prices API ("location" field). The ARM display
# name is "East US"; the price list says "US East" (docs/azure-facts.md 2.3). Regions missing here fall back to the
# ARM display name from the regions file.
PRICE_LOCATION_BY_REGION: dict[str, str] = {
    "eastus": "US East", "eastus2": "US East 2", "centralus": "US Central", "northcentralus": "US North Central",
    "southcentralus": "US South Central", "westcentralus": "US West Central", "westus": "US West",
    "westus2": "US West 2", "westus3": "US West 3", "canadacentral": "CA Central", "canadaeast": "CA East",
    "brazilsouth": "BR South", "brazilsoutheast": "BR Southeast", "mexicocentral": "MX Central",
    "chilecentral": "CL Central", "northeurope": "EU North", "westeurope": "EU West", "uksouth": "UK South",
    "ukwest": "UK West", "francecentral": "FR Central", "francesouth": "FR South",
    "germanywestcentral": "DE West Central", "germanynorth": "DE North", "switzerlandnorth": "CH North",
    "switzerlandwest": "CH West", "norwayeast": "NO East", "norwaywest": "NO West", "swedencentral": "SE Central",
    "swedensouth": "SE South", "polandcentral": "PL Central", "italynorth": "IT North", "spaincentral": "ES Central",
    "uaenorth": "AE North", "uaecentral": "AE Central", "qatarcentral": "QA Central", "israelcentral": "IL Central",
    "southafricanorth": "ZA North", "southafricawest": "ZA West", "eastasia": "AP East",
    "southeastasia": "AP Southeast", "japaneast": "JA East", "japanwest": "JA West", "koreacentral": "KR Central",
    "koreasouth": "KR South", "centralindia": "IN Central", "southindia": "IN South", "westindia": "IN West",
    "jioindiawest": "IN West Jio", "jioindiacentral": "IN Central Jio", "australiaeast": "AU East",
    "australiasoutheast": "AU Southeast", "australiacentral": "AU Central", "australiacentral2": "AU Central 2",
    "newzealandnorth": "NZ North", "indonesiacentral": "ID Central", "malaysiawest": "MY West",
    "eastus2euap": "US East 2 EUAP", "centraluseuap": "US Central EUAP",
    "usgovvirginia": "US Gov Virginia", "usgovarizona": "US Gov Arizona", "usgovtexas": "US Gov Texas",
    "usdodeast": "US DoD East", "usdodcentral": "US DoD Central", "chinaeast2": "CN East 2",
    "chinanorth2": "CN North 2", "germanycentral": "DE Central", "germanynortheast": "DE Northeast",
}

# Sovereign-cloud regions (docs/contract.md 6: Gov, DoD, China, Germany). Their meters appear in the public price list,
# but the public ARM endpoint (SKUs, Resource Graph, SPS) does not know them.
SOVEREIGN_REGIONS: frozenset[str] = frozenset({
    "usgovvirginia", "usgovarizona", "usgovtexas", "usgoviowa", "usdodeast", "usdodcentral",
    "chinaeast", "chinaeast2", "chinaeast3", "chinanorth", "chinanorth2", "chinanorth3",
    "germanycentral", "germanynortheast",
})

# Public regions without availability zones (Learn "Azure regions with availability zone support").
REGIONS_WITHOUT_ZONES: frozenset[str] = frozenset({
    "northcentralus", "westcentralus", "westus", "canadaeast", "brazilsoutheast", "ukwest", "francesouth",
    "germanynorth", "switzerlandwest", "norwaywest", "swedensouth", "uaecentral", "southafricawest",
    "japanwest", "koreasouth", "southindia", "westindia", "jioindiawest", "jioindiacentral",
    "australiasoutheast", "australiacentral", "australiacentral2", "centraluseuap",
})

EVICTION_BUCKETS: tuple[str, ...] = ("0-5", "5-10", "10-15", "15-20", "20+")
EVICTION_BUCKET_TO_IF: dict[str, float] = {"0-5": 3.0, "5-10": 2.5, "10-15": 2.0, "15-20": 1.5, "20+": 1.0}

# Standard_NC24ads_A100_v4 -> series "NC", vCPU "24", features "ads", accelerator "A100", version "v4".
_SIZE_RE = re.compile(
    r"^(?P<series>[A-Z]+)(?P<cpus>\d+)(?:-(?P<constrained>\d+))?(?P<features>[a-z]*)"
    r"(?:_(?P<accel>(?!v\d+(?:_|$))[A-Za-z0-9]+))?(?:_(?P<version>v\d+))?(?P<promo>_Promo)?$"
)


def is_sovereign(region: str) -> bool:
    """True for Gov / DoD / China / Germany-sovereign region codes."""
    return region.lower() in SOVEREIGN_REGIONS


def price_location(region: str, fallback: str | None = None) -> str:
    """Retail-price display location for an ARM region code ("eastus" -> "US East")."""
    return PRICE_LOCATION_BY_REGION.get(region.lower(), fallback or region)


def default_zones(region: str) -> str:
    """Zones of a region as "1,2,3", or "" for a region without availability zones."""
    return "" if region.lower() in REGIONS_WITHOUT_ZONES else "1,2,3"


def split_tier(arm_name: str) -> tuple[str, str]:
    """"Standard_D2s_v3" -> ("Standard", "D2s_v3"); a name without a tier prefix is Standard."""
    tier, sep, size = arm_name.partition("_")
    if sep and tier in ("Standard", "Basic"):
        return tier, size
    return "Standard", arm_name


def parse_size(size: str) -> dict[str, str] | None:
    """Split a size without tier ("D2s_v3") into its parts, or None when it does not look like a VM size."""
    match = _SIZE_RE.match(size)
    return match.groupdict(default="") if match else None


def vcpus_of(arm_name: str) -> int:
    """vCPU count written in the size name (at least 1; Standard_E4-2s_v3 -> 4)."""
    parts = parse_size(split_tier(arm_name)[1])
    return max(1, int(parts["cpus"])) if parts else 2


def family_of(arm_name: str) -> str:
    """Resource-SKU family derived from the size name, as Azure spells it (docs/azure-facts.md 4.2).

    ``Standard_D2s_v3`` -> ``standardDSv3Family``, ``Standard_D2_v3`` -> ``standardDv3Family``,
    ``Standard_A1`` -> ``standardA0_A7Family``, ``Basic_A1`` -> ``basicAFamily``,
    ``Standard_NC24ads_A100_v4`` -> ``StandardNCADSA100v4Family`` (Azure capitalises the newer GPU families).
    """
    tier, size = split_tier(arm_name)
    parts = parse_size(size)
    if parts is None:
        return f"{tier.lower()}{re.sub(r'[^A-Za-z0-9]', '', size)}Family"
    if tier == "Basic":
        return f"basic{parts['series']}Family"
    if parts["series"] == "A" and not parts["version"] and not parts["features"]:
        return "standardA0_A7Family" if int(parts["cpus"]) <= 7 else "standardA8_A11Family"
    name = parts["series"] + parts["features"].upper() + parts["accel"] + parts["version"]
    name += "Promo" if parts["promo"] else ""
    prefix = "Standard" if parts["accel"] else "standard"
    return f"{prefix}{name}Family"


def meter_size_name(arm_name: str) -> str:
    """Size as written in meterName/skuName: "Standard_NC24ads_A100_v4" -> "NC24ads A100 v4"."""
    return split_tier(arm_name)[1].replace("_", " ")


def product_series(arm_name: str) -> str:
    """Series label used in productName: "Standard_D2s_v3" -> "DSv3", "Basic_A1" -> "A"."""
    tier, size = split_tier(arm_name)
    parts = parse_size(size)
    if parts is None:
        return size
    if tier == "Basic":
        return parts["series"]
    accel = f" {parts['accel']}" if parts["accel"] else ""
    return f"{parts['series']}{parts['features'].upper()}{parts['version']}{accel}"
