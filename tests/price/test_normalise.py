"""price/normalise.py: docs/contract.md 6 rules on hand-built Retail Prices items."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from price.normalise import PriceDrops, is_linux_vm_product, normalise_prices, normalise_prices_with_drops
from utils.constants import PRICE_COLUMNS

AS_OF = datetime(2025, 12, 13, 13, 0, tzinfo=UTC)


def item(sku: str = "Standard_D2s_v3", region: str = "eastus", price: float = 0.1, *, spot: bool = False,
         windows: bool = False, location: str = "US East", kind: str = "Consumption", low_priority: bool = False,
         start: str = "2024-02-01T00:00:00Z", end: str | None = None, meter_id: str = "m") -> dict[str, Any]:
    """A Retail Prices item shaped like docs/azure-facts.md 2.3."""
    size = sku.split("_", 1)[1].replace("_", " ")
    suffix = " Spot" if spot else (" Low Priority" if low_priority else "")
    record = {
        "currencyCode": "USD", "retailPrice": price, "unitPrice": price, "armRegionName": region,
        "location": location, "effectiveStartDate": start, "meterId": meter_id, "meterName": size + suffix,
        "productName": "Virtual Machines DSv3 Series" + (" Windows" if windows else ""),
        "skuName": size + suffix, "serviceName": "Virtual Machines", "type": kind, "armSkuName": sku,
        "unitOfMeasure": "1 Hour", "isPrimaryMeterRegion": True,
    }
    if end is not None:
        record["effectiveEndDate"] = end
    return record


def rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return normalise_prices(items, as_of=AS_OF).to_dict("records")


def test_spot_and_on_demand_meters_are_paired_with_savings() -> None:
    [row] = rows([item(price=0.1), item(price=0.02, spot=True)])
    assert row["InstanceTier"] == "Standard"
    assert row["InstanceType"] == "D2s_v3"
    assert row["Region"] == "eastus"
    assert row["RegionName"] == "US East"
    assert row["OndemandPrice"] == 0.1
    assert row["SpotPrice"] == 0.02
    assert math.isclose(row["Savings"], 80.0)


def test_windows_low_priority_devtest_and_reservation_rows_are_ignored() -> None:
    result = rows([
        item(price=0.1), item(price=0.02, spot=True),
        item(price=0.5, windows=True), item(price=0.09, spot=True, windows=True),
        item(price=0.015, low_priority=True), item(price=0.07, kind="DevTestConsumption"),
        item(price=0.05, kind="Reservation"),
    ])
    assert [(r["OndemandPrice"], r["SpotPrice"]) for r in result] == [(0.1, 0.02)]


def test_a_windows_only_size_gives_no_row() -> None:
    assert rows([item(price=0.5, windows=True), item(price=0.1, spot=True, windows=True)]) == []


def test_expired_and_not_yet_effective_rows_are_dropped() -> None:
    result = rows([
        item(price=0.1), item(price=0.2, start="2023-01-01T00:00:00Z", end="2024-01-31T23:59:59Z"),
        item(price=0.02, spot=True), item(price=0.03, spot=True, start="2026-01-01T00:00:00Z"),
    ])
    assert [(r["OndemandPrice"], r["SpotPrice"]) for r in result] == [(0.1, 0.02)]


def test_sovereign_regions_are_dropped_even_when_the_first_word_is_not_gov() -> None:
    result = rows([
        item(region="usgovvirginia", location="US Gov Virginia"),
        item(region="usdodeast", location="US DoD East"),
        item(region="chinaeast2", location="CN East 2"),
        item(region="germanycentral", location="DE Central"),
        item(region="somenewregion", location="US Gov Somewhere"),
        item(region="germanywestcentral", location="DE West Central"),
    ])
    assert [r["Region"] for r in result] == ["germanywestcentral"]


def test_a_zero_spot_price_is_no_offer_and_a_zero_on_demand_price_is_published_as_missing() -> None:
    result = rows([
        item("Standard_D2s_v3", price=0.1), item("Standard_D2s_v3", price=0.0, spot=True),
        item("Standard_D4s_v3", price=0.0), item("Standard_D4s_v3", price=0.04, spot=True),
    ])
    by_type = {r["InstanceType"]: r for r in result}
    assert math.isnan(by_type["D2s_v3"]["SpotPrice"])
    assert math.isnan(by_type["D2s_v3"]["Savings"])
    assert math.isnan(by_type["D4s_v3"]["OndemandPrice"])
    assert by_type["D4s_v3"]["SpotPrice"] == 0.04
    assert math.isnan(by_type["D4s_v3"]["Savings"])


def test_a_spot_price_without_on_demand_is_published_with_on_demand_missing() -> None:
    [row] = rows([item(price=0.02, spot=True)])
    assert math.isnan(row["OndemandPrice"])
    assert row["SpotPrice"] == 0.02
    assert math.isnan(row["Savings"])


def test_an_on_demand_price_without_spot_is_published_with_spot_missing() -> None:
    [row] = rows([item(price=0.1)])
    assert row["OndemandPrice"] == 0.1
    assert math.isnan(row["SpotPrice"])


def test_the_tier_split_keeps_arm_casing_and_basic_is_its_own_tier() -> None:
    result = rows([
        item("Standard_NC24ads_A100_v4", price=3.6), item("Standard_NC24ads_A100_v4", price=0.7, spot=True),
        item("Basic_A1", price=0.018), item("Standard_A1", price=0.06),
    ])
    assert [(r["InstanceTier"], r["InstanceType"]) for r in result] == [
        ("Basic", "A1"), ("Standard", "A1"), ("Standard", "NC24ads_A100_v4"),
    ]


def test_meters_differing_only_in_case_pair_up() -> None:
    [row] = rows([item("Standard_NC24ads_A100_v4", "EastUS", price=3.6),
                  item("Standard_NC24ads_a100_v4", "eastus", price=0.7, spot=True)])
    assert row["Region"] == "eastus"
    assert row["InstanceType"] == "NC24ads_a100_v4"  # the spot meter's casing wins, deterministically
    assert row["OndemandPrice"] == 3.6


def test_duplicate_meters_resolve_to_the_latest_start_then_the_lowest_price() -> None:
    result = rows([
        item(price=0.12, start="2024-01-01T00:00:00Z", meter_id="a"),
        item(price=0.10, start="2025-01-01T00:00:00Z", meter_id="b"),
        item(price=0.11, start="2025-01-01T00:00:00Z", meter_id="c"),
        item(price=0.03, spot=True, meter_id="d"), item(price=0.02, spot=True, meter_id="e"),
    ])
    assert [(r["OndemandPrice"], r["SpotPrice"]) for r in result] == [(0.10, 0.02)]


def test_no_items_give_an_empty_frame_with_the_price_columns() -> None:
    frame = normalise_prices([], as_of=AS_OF)
    assert list(frame.columns) == PRICE_COLUMNS
    assert frame.empty


SKUS = st.sampled_from(["Standard_D2s_v3", "Standard_d2s_v3", "Basic_A1", "Standard_A1", "Standard_NC4as_T4_v3"])
REGIONS = st.sampled_from(["eastus", "westus2", "usgovvirginia", "germanywestcentral"])
ITEMS = st.builds(
    item, SKUS, REGIONS, st.sampled_from([0.0, 0.01, 0.1, 1.5]), spot=st.booleans(), windows=st.booleans(),
    kind=st.sampled_from(["Consumption", "DevTestConsumption"]), low_priority=st.booleans(),
    start=st.sampled_from(["2024-02-01T00:00:00Z", "2025-06-01T00:00:00Z", "2026-06-01T00:00:00Z"]),
    meter_id=st.sampled_from(["a", "b", "c"]),
)


PRODUCTS = st.sampled_from([None, None, "Virtual Machines DSv3 series", "DSv3 Series Linux",
                            "DSv3 Series Cloud Services", "DSv3 Series DedicatedHost"])
REAL_ITEMS = st.builds(
    lambda record, product, primary, price: {
        **record, **({"productName": product} if product else {}), "isPrimaryMeterRegion": primary,
        **({"retailPrice": price} if price != "keep" else {})},
    ITEMS, PRODUCTS, st.booleans(), st.sampled_from(["keep", "keep", "keep", float("inf"), -1.0, "0.2", None]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(REAL_ITEMS, max_size=25))
def test_any_item_list_gives_one_sorted_row_per_key_and_consistent_savings(items: list[dict[str, Any]]) -> None:
    frame = normalise_prices(items, as_of=AS_OF)
    assert list(frame.columns) == PRICE_COLUMNS
    keys = frame[["InstanceTier", "InstanceType", "Region"]]
    assert not keys.assign(InstanceType=keys["InstanceType"].str.lower()).duplicated().any()
    assert frame.equals(frame.sort_values(["InstanceTier", "InstanceType", "Region"]).reset_index(drop=True))
    assert not frame["Region"].isin(["usgovvirginia"]).any()
    assert (frame["OndemandPrice"].notna() | frame["SpotPrice"].notna()).all()
    assert (frame["SpotPrice"].dropna() > 0).all()
    assert (frame["OndemandPrice"].dropna() > 0).all()
    assert np.isfinite(frame[["OndemandPrice", "SpotPrice"]].fillna(1.0)).all().all()
    has_savings = frame["OndemandPrice"].gt(0) & frame["SpotPrice"].notna()
    assert frame["Savings"].notna().equals(has_savings)
    expected = (frame["OndemandPrice"] - frame["SpotPrice"]) / frame["OndemandPrice"] * 100
    pd.testing.assert_series_equal(frame["Savings"][has_savings], expected[has_savings], check_names=False)
    # the result does not depend on item order
    shuffled = normalise_prices(list(reversed(items)), as_of=AS_OF)
    pd.testing.assert_frame_equal(frame, shuffled)


# --- issue 12 / 14: the list as Azure really sends it -----------------------------------------------------

REAL_SHAPES = Path(__file__).resolve().parent / "data" / "retail_prices_real_shapes.json"


def by_size(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {r["InstanceType"]: r for r in frame.to_dict("records")}


def test_the_real_shapes_fixture_gives_linux_vm_prices_only() -> None:
    """A small list of our own in the real list's shapes (field set, product-name forms, Cloud Services and
    Dedicated Host meters, non-primary meters, Low Priority and expired meters, a zero price)."""
    items = json.loads(REAL_SHAPES.read_text())["Items"]
    frame, drops = normalise_prices_with_drops(items, as_of=AS_OF)
    got = {k: (v["OndemandPrice"], v["SpotPrice"]) for k, v in by_size(frame).items()}
    nan = float("nan")
    expected = {
        "D2s_v3": (0.1111, 0.0222),  # the only Linux on-demand meter is non-primary
        "E2as_v5": (0.1333, 0.0244),  # not the Cloud Services meter (later start, 0.2244)
        "D4as_v5": (0.2055, nan),  # not the Cloud Services meter (0.3555)
        "D2ls_v7": (0.0911, 0.0191), "EC2ads_v6": (0.1444, nan), "DC2ds_v3": (0.2666, nan),
        "L8as_v3": (0.7111, 0.1411), "NC8dsxl_RTX6K_v6": (1.4111, nan),
        "B2ats_v2": (0.0099, 0.0031),  # the spot window in force, not the expired one
        "F2s_v2": (0.0977, nan),  # the primary meter, not the later non-primary one
        "E4as_v5": (nan, 0.0488),  # a zero on-demand price is no price
    }
    assert set(got) == set(expected)
    for size, (od, spot) in expected.items():
        assert got[size][0] == od or (math.isnan(od) and math.isnan(got[size][0])), size
        assert got[size][1] == spot or (math.isnan(spot) and math.isnan(got[size][1])), size
    assert set(frame["InstanceTier"]) == {"Standard"}
    assert not frame["InstanceType"].str.contains("Type").any()  # no dedicated host became a size
    assert drops == PriceDrops(zero_on_demand=1)
    assert math.isnan(by_size(frame)["E4as_v5"]["Savings"])


@pytest.mark.parametrize("product", [
    "Virtual Machines DSv3 Series", "Virtual Machines ECadsv6 series", "Virtual Machines Dlsv7-series Linux",
    "Virtual Machines Ebsv6-Series Linux", "DCdsv3 Series Linux", "Lasv3 Series Linux",
    "Virtual Machines NCdsxlRTX6kv6", "Virtual Machines NDMI300Xv5 Srs", "Virtual Machines A Series Basic",
    "Virtual Machines NCads A100 v4 Series Linux",
])
def test_every_real_linux_vm_product_form_is_kept(product: str) -> None:
    assert is_linux_vm_product(pd.Series([product])).tolist() == [True]
    record = {**item(price=0.1), "productName": product}
    assert [r["OndemandPrice"] for r in rows([record])] == [0.1]


@pytest.mark.parametrize("product", [
    "Virtual Machines DSv3 Series Windows", "DCdsv3 Series Windows", "Virtual Machines Dlsv7-series Windows",
    "Easv5 Series CloudServices", "Dasv5 Series Cloud Services", "Ddsv4 Series Dedicated Host",
    "Esv5 Series DedicatedHost", "Dpsv6 Series",
])
def test_windows_cloud_services_dedicated_host_and_unknown_products_are_not_linux_vms(product: str) -> None:
    assert is_linux_vm_product(pd.Series([product])).tolist() == [False]
    assert rows([{**item(price=0.1), "productName": product}]) == []


@pytest.mark.parametrize("arm_name", ["Ddsv4_Type2", "Ddsv4_Type 1", "Ebsv5-Type1", "DCdsv3 Type1", "D2s_v3", ""])
def test_an_arm_name_without_a_tier_prefix_is_not_a_vm_size(arm_name: str) -> None:
    assert rows([item(price=5.2), {**item(price=5.0), "armSkuName": arm_name}])[0]["OndemandPrice"] == 5.2
    assert len(rows([{**item(price=5.0), "armSkuName": arm_name}])) == 0


def test_a_primary_meter_wins_over_a_later_non_primary_one_and_a_lone_non_primary_meter_counts() -> None:
    primary = item(price=0.10, meter_id="p")
    later_secondary = {**item(price=0.09, start="2025-06-01T00:00:00Z", meter_id="s"), "isPrimaryMeterRegion": False}
    assert [r["OndemandPrice"] for r in rows([later_secondary, primary])] == [0.10]
    assert [r["OndemandPrice"] for r in rows([later_secondary])] == [0.09]
    unknown = {k: v for k, v in item(price=0.08, meter_id="u").items() if k != "isPrimaryMeterRegion"}
    assert [r["OndemandPrice"] for r in rows([later_secondary, unknown])] == [0.08]


@pytest.mark.parametrize(("price", "reason"), [
    (float("inf"), "non_finite"), (json.loads("1e400"), "non_finite"), (float("nan"), "non_finite"),
    (-0.1, "negative"), ("0.1", "non_numeric"), (True, "non_numeric"), ([0.1], "non_numeric"),
])
def test_non_finite_negative_and_non_numeric_prices_are_dropped_and_counted(price: Any, reason: str) -> None:
    items = [item(price=0.1), {**item(price=0.02, spot=True), "retailPrice": price},
             {**item("Standard_D4s_v3", price=0.2), "retailPrice": price}]
    frame, drops = normalise_prices_with_drops(items, as_of=AS_OF)
    assert getattr(drops, reason) == 2
    assert sum(vars(drops).values()) == 2
    assert frame[["InstanceType", "OndemandPrice"]].to_dict("records") == [
        {"InstanceType": "D2s_v3", "OndemandPrice": 0.1}]
    assert frame["SpotPrice"].isna().all()
    assert np.isfinite(frame["OndemandPrice"]).all()
    [warning] = drops.warnings()
    assert warning.startswith("2 Linux VM price meter(s) ")


def test_zero_prices_are_counted_apart() -> None:
    _, drops = normalise_prices_with_drops([item(price=0.0), item(price=0.0, spot=True),
                                            item("Standard_D4s_v3", price=0.0, spot=True)], as_of=AS_OF)
    assert drops == PriceDrops(zero_on_demand=1, zero_spot=2)
    assert len(drops.warnings()) == 2


def test_a_price_of_a_meter_that_is_not_a_linux_vm_is_not_counted() -> None:
    _, drops = normalise_prices_with_drops([{**item(price=0.1, windows=True), "retailPrice": float("inf")}],
                                           as_of=AS_OF)
    assert drops == PriceDrops()


@pytest.mark.parametrize("casing", ["standard_d2s_v3", "STANDARD_D2S_V3", "Standard_D2s_v3"])
def test_any_tier_casing_keeps_its_prices_and_the_canonical_tier(casing: str) -> None:
    [row] = rows([{**item(price=0.1), "armSkuName": casing}, {**item(price=0.02, spot=True), "armSkuName": casing}])
    assert row["InstanceTier"] == "Standard"
    assert row["InstanceType"] == casing.split("_", 1)[1]
    assert (row["OndemandPrice"], row["SpotPrice"]) == (0.1, 0.02)


def test_lower_case_and_canonical_meters_of_one_size_pair_into_one_row() -> None:
    [row] = rows([{**item(price=0.1), "armSkuName": "standard_d2s_v3"}, item(price=0.02, spot=True)])
    assert (row["InstanceTier"], row["InstanceType"]) == ("Standard", "D2s_v3")
    assert (row["OndemandPrice"], row["SpotPrice"]) == (0.1, 0.02)
