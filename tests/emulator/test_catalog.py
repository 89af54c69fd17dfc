"""The catalog: world-scale generation, CSV loading, and the expected collector outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emulator import names
from emulator.catalog import CatalogError, load_catalog


def test_world_catalog_has_world_scale_regions_sizes_and_spot_pairs() -> None:
    catalog = load_catalog()
    offers = catalog.offers
    assert 55 <= offers["Region"].nunique() <= 62
    assert offers["InstanceType"].nunique() >= 800
    assert 25_000 <= len(catalog.spot_pairs()) <= 30_000
    per_size = offers.groupby("InstanceType")["Region"].nunique()
    assert per_size.min() < 10 < per_size.max()


def test_world_catalog_is_deterministic_per_seed_and_differs_between_seeds() -> None:
    first = load_catalog(seed=0).offers
    from emulator.catalog import _world_offers
    pd.testing.assert_frame_equal(first, _world_offers(0))
    assert not first.equals(load_catalog(seed=1).offers)


def test_world_catalog_contains_the_edge_cases_collectors_must_handle() -> None:
    offers = load_catalog().offers
    eastus = offers[offers["Region"] == "eastus"]
    assert {"Basic_A1", "Standard_A1", "Standard_NC24ads_A100_v4"} <= set(eastus["InstanceType"])
    assert (offers["OndemandPrice"] == 0).any()
    assert (offers["OndemandPrice"].isna() & offers["SpotPrice"].notna()).any()
    assert (offers["OndemandPrice"].isna() & offers["SpotPrice"].isna()).any()
    assert "US Gov Virginia" in set(offers["RegionName"])
    assert set(offers["Restricted"]) >= {"", "Location", "Zone:3"}
    assert (offers["Zones"] == "").any() and (offers["Zones"] == "1,2,3").any()
    assert set(offers["EvictionRate"]) == {"", *names.EVICTION_BUCKETS}
    assert offers.loc[offers["RegionName"] == "US East", "Region"].unique().tolist() == ["eastus"]


def test_spot_is_cheaper_than_on_demand() -> None:
    offers = load_catalog().offers
    both = offers[(offers["OndemandPrice"] > 0) & offers["SpotPrice"].notna()]
    ratio = both["SpotPrice"] / both["OndemandPrice"]
    assert ratio.between(0.09, 0.41).all()


@pytest.mark.parametrize(("arm_name", "family"), [
    ("Standard_D2s_v3", "standardDSv3Family"), ("Standard_D2_v3", "standardDv3Family"),
    ("Standard_A1", "standardA0_A7Family"), ("Basic_A1", "basicAFamily"),
    ("Standard_NC24ads_A100_v4", "StandardNCADSA100v4Family"), ("Standard_E4-2s_v3", "standardESv3Family"),
    ("Standard_DS2_v2", "standardDSv2Family"), ("Standard_F2s_v2", "standardFSv2Family"),
])
def test_family_is_derived_from_the_size_name(arm_name: str, family: str) -> None:
    assert names.family_of(arm_name) == family


def test_csv_catalog_derives_missing_columns(tiny_catalog: Path) -> None:
    catalog = load_catalog(tiny_catalog)
    offers = catalog.offers.set_index(["Region", "InstanceType"])
    assert offers.loc[("eastus", "Standard_D2s_v3"), "RegionName"] == "US East"
    assert offers.loc[("westeurope", "Standard_D2s_v3"), "RegionName"] == "EU West"
    assert offers.loc[("eastus", "Standard_D2s_v3"), "Family"] == "standardDSv3Family"
    assert offers.loc[("westus", "Standard_D2s_v3"), "Zones"] == ""
    assert offers.loc[("eastus", "Basic_A1"), "EvictionRate"] == ""


def test_csv_catalog_with_only_required_columns_is_completed(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("Region,InstanceType,OndemandPrice,SpotPrice\neastus,Standard_D2s_v3,0.1,0.02\n"
                    "westus,Standard_D2s_v3,0.1,\n")
    offers = load_catalog(path, seed=3).offers
    assert offers["Zones"].tolist() == ["1,2,3", ""]
    assert offers["EvictionRate"].iloc[0] in (*names.EVICTION_BUCKETS, "")  # ~3 % of spot pairs have none
    assert offers["EvictionRate"].iloc[1] == ""


@pytest.mark.parametrize("content", [
    "Region,InstanceType,OndemandPrice\neastus,Standard_D2s_v3,0.1\n",
    "Region,InstanceType,OndemandPrice,SpotPrice\neastus,Standard_D2s_v3,abc,0.1\n",
    "Region,InstanceType,OndemandPrice,SpotPrice\neastus,Standard_D2s_v3,0.1,\neastus,Standard_D2s_v3,0.2,\n",
])
def test_bad_catalog_csv_is_refused_with_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(CatalogError):
        load_catalog(path)


def test_expected_prices_keep_linux_public_rows_and_compute_savings(tiny_catalog: Path) -> None:
    expected = load_catalog(tiny_catalog).expected_prices().set_index(["InstanceTier", "InstanceType", "Region"])
    assert ("Standard", "D2s_v3", "usgovvirginia") not in expected.index
    assert ("Standard", "L8s_v3", "westus") not in expected.index  # Windows-only size
    row = expected.loc[("Standard", "D2s_v3", "eastus")]
    assert row["Savings"] == pytest.approx((0.096 - 0.0192) / 0.096 * 100)
    assert np.isnan(expected.loc[("Standard", "E2s_v3", "eastus"), "Savings"])  # OD 0
    assert np.isnan(expected.loc[("Standard", "F2s_v2", "eastus"), "OndemandPrice"])
    assert ("Standard", "NC24ads_A100_v4", "eastus") in expected.index
    assert ("Basic", "A1", "eastus") in expected.index and ("Standard", "A1", "eastus") in expected.index


def test_expected_if_maps_buckets_and_spot_pairs_drop_location_restrictions(tiny_catalog: Path) -> None:
    catalog = load_catalog(tiny_catalog)
    expected = catalog.expected_if().set_index(["InstanceTier", "InstanceType", "Region"])
    assert expected.loc[("Standard", "A1", "eastus"), "IF"] == 1.0
    assert expected.loc[("Standard", "D2s_v3", "eastus"), "InstanceFamily"] == "standardDSv3Family"
    assert np.isnan(expected.loc[("Standard", "E2s_v3", "westus"), "IF"])
    pairs = set(map(tuple, catalog.spot_pairs().to_numpy()))
    assert ("westeurope", "Standard_D4s_v3") not in pairs
    assert ("eastus", "Standard_D4s_v3") in pairs
    assert not any(region == "usgovvirginia" for region, _ in pairs)
