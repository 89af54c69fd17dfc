"""price/normalise.py: SPEC 6 rules on hand-built Retail Prices items."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from price.normalise import normalise_prices
from utils.constants import PRICE_COLUMNS

AS_OF = datetime(2025, 12, 13, 13, 0, tzinfo=UTC)


def item(sku: str = "Standard_D2s_v3", region: str = "eastus", price: float = 0.1, *, spot: bool = False,
         windows: bool = False, location: str = "US East", kind: str = "Consumption", low_priority: bool = False,
         start: str = "2024-02-01T00:00:00Z", end: str | None = None, meter_id: str = "m") -> dict[str, Any]:
    """A Retail Prices item shaped like azure.md 2.3."""
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


@settings(max_examples=60, deadline=None)
@given(st.lists(ITEMS, max_size=25))
def test_any_item_list_gives_one_sorted_row_per_key_and_consistent_savings(items: list[dict[str, Any]]) -> None:
    frame = normalise_prices(items, as_of=AS_OF)
    assert list(frame.columns) == PRICE_COLUMNS
    keys = frame[["InstanceTier", "InstanceType", "Region"]]
    assert not keys.assign(InstanceType=keys["InstanceType"].str.lower()).duplicated().any()
    assert frame.equals(frame.sort_values(["InstanceTier", "InstanceType", "Region"]).reset_index(drop=True))
    assert not frame["Region"].isin(["usgovvirginia"]).any()
    assert (frame["OndemandPrice"].notna() | frame["SpotPrice"].notna()).all()
    assert (frame["SpotPrice"].dropna() > 0).all()
    has_savings = frame["OndemandPrice"].gt(0) & frame["SpotPrice"].notna()
    assert frame["Savings"].notna().equals(has_savings)
    expected = (frame["OndemandPrice"] - frame["SpotPrice"]) / frame["OndemandPrice"] * 100
    pd.testing.assert_series_equal(frame["Savings"][has_savings], expected[has_savings], check_names=False)
    # the result does not depend on item order
    shuffled = normalise_prices(list(reversed(items)), as_of=AS_OF)
    pd.testing.assert_frame_equal(frame, shuffled)
