"""Small emulator catalogs and settings for the SPS tests (fast: ~10 regions x 30 sizes)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from emulator.catalog import OFFER_COLUMNS, load_catalog
from utils.settings import Settings, load_settings

SMALL_REGIONS = ("australiaeast", "brazilsouth", "canadacentral", "centralus", "eastus", "eastus2",
                 "japaneast", "northeurope", "westeurope", "westus")


def write_small_catalog(path: Path, regions: tuple[str, ...] = SMALL_REGIONS, sizes: int = 30) -> Path:
    """A catalog CSV cut from the bundled world: ``regions`` x the ``sizes`` most widely offered sizes."""
    offers = load_catalog().public_offers
    offers = offers[offers["Region"].isin(regions)]
    spot = offers[offers["SpotPrice"].notna()]
    ranked = spot.groupby("InstanceType").size().sort_values(ascending=False, kind="stable")
    chosen = sorted(ranked.index[:sizes])
    small = offers[offers["InstanceType"].isin(chosen)]
    path.parent.mkdir(parents=True, exist_ok=True)
    small[OFFER_COLUMNS].to_csv(path, index=False)
    return path


def sps_settings(env: dict[str, str], url: str, **changes: object) -> Settings:
    """Settings for a local store pointed at a running emulator, with field overrides."""
    settings = load_settings({**env, "SPOTLAKE_EMULATOR_URL": url})
    return dataclasses.replace(settings, **changes)
