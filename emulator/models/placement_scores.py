"""Spot Placement Scores as a pure function of (catalog, region, size, zone, desired count, time).

- Not offered, no spot price, Location-restricted, or zone not offered / Zone-restricted ->
  ``RestrictedSkuNotAvailable`` (the real API answers such a SKU with this score, not a 400; docs/azure-facts.md 1.5).
- Each (region, size, zone) has a capacity in [0, 1) that is redrawn every ``PERIOD_HOURS`` hours at a
  pair-specific phase, so about 1/20 = 5 % of pairs change per hour (slow drift).
- About 3 % of (pair, period) answer ``DataNotFoundOrStale``.
- Otherwise High while count <= high_limit(capacity), Medium while count <= medium_limit, else Low: the
  score is monotone non-increasing in the desired count for a fixed pair and period.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from emulator.catalog import Catalog

PERIOD_HOURS = 20
SHARE_STALE = 0.03
RESTRICTED = "RestrictedSkuNotAvailable"
STALE = "DataNotFoundOrStale"


def _unit(text: str) -> float:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") / 2**64


@dataclass(frozen=True)
class OfferFacts:
    has_spot: bool
    location_restricted: bool
    zones: frozenset[str]
    blocked_zones: frozenset[str]


class PlacementModel:
    """Lookup tables built once per catalog; ``score`` is then cheap and thread-safe."""

    def __init__(self, catalog: Catalog) -> None:
        self.seed = catalog.seed
        offers = catalog.public_offers
        self.offers: dict[tuple[str, str], OfferFacts] = {}
        for region, size, spot, zones, restricted in zip(
                offers["Region"].str.lower(), offers["InstanceType"].str.lower(), offers["SpotPrice"].notna(),
                offers["Zones"], offers["Restricted"], strict=True):
            blocked = frozenset(restricted.removeprefix("Zone:").split(",")) if restricted.startswith("Zone:") else (
                frozenset())
            self.offers[(region, size)] = OfferFacts(bool(spot), restricted == "Location",
                                                     frozenset(z for z in zones.split(",") if z), blocked)
        public = catalog.public_regions
        self.regions: dict[str, list[str]] = {
            r.lower(): [z for z in str(zs).split(",") if z]
            for r, zs in zip(public["Region"], public["Zones"], strict=True)}
        self.sizes: frozenset[str] = frozenset(s.lower() for s in catalog.offers["InstanceType"])

    def score(self, region: str, size: str, zone: str | None, count: int, now: datetime) -> str:
        facts = self.offers.get((region.lower(), size.lower()))
        if facts is None or not facts.has_spot or facts.location_restricted:
            return RESTRICTED
        if zone is not None and (zone not in facts.zones or zone in facts.blocked_zones):
            return RESTRICTED
        key = f"{self.seed}|{region.lower()}|{size.lower()}|{zone or '-'}"
        hour = int(now.timestamp() // 3600)
        period = int((hour + _unit(key + "|phase") * PERIOD_HOURS) // PERIOD_HOURS)
        if _unit(f"{key}|stale|{period}") < SHARE_STALE:
            return STALE
        capacity = _unit(f"{key}|capacity|{period}")
        high_limit = capacity ** 2 * 60
        medium_limit = high_limit + 5 + capacity * 45
        if count <= high_limit:
            return "High"
        if count <= medium_limit:
            return "Medium"
        return "Low"


def placement_model_of(catalog: Catalog) -> PlacementModel:
    return catalog.derived("placement_model", PlacementModel)
