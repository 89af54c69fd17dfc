"""The emulator's Retail Prices list has the real list's shapes by default (issue 12): product-name forms,
Cloud Services and Dedicated Host meters, non-primary meters, ``meterRegion='primary'``, the nolink fault."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from emulator.catalog import load_catalog
from emulator.faults import FaultSpecError, parse_fault_spec
from emulator.models.price_items import build_price_items
from emulator.testing import RunningEmulator, running_emulator
from tests.emulator.test_apis import COLLECTOR_FILTER, page_prices
from tests.price.helpers import write_wide_catalog


@pytest.fixture(scope="module")
def wide_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wide_catalog(tmp_path_factory.mktemp("wide") / "wide.csv")


@pytest.fixture(scope="module")
def items(wide_catalog: Path) -> pd.DataFrame:
    return build_price_items(load_catalog(wide_catalog)).items


@pytest.fixture(scope="module")
def wide_emu(wide_catalog: Path) -> Iterator[RunningEmulator]:
    with running_emulator(catalog=wide_catalog, page_size=100) as emu:
        yield emu


def linux_vm(items: pd.DataFrame) -> pd.Series:
    return ~items["productName"].str.contains("Windows|Cloud ?Services|Dedicated ?Host")


def test_every_real_product_name_form_is_served(items: pd.DataFrame) -> None:
    names = items["productName"]
    for form in (r"Virtual Machines \S+ Series", r"Virtual Machines \S+ series",
                 r"Virtual Machines \S+-series Linux", r"(?!Virtual)\S+ Series Linux",
                 r"Virtual Machines \S+ series Linux", r"Virtual Machines \S+ Series Windows",
                 r"Virtual Machines \S+-series Windows", r"(?!Virtual)\S+ Series Windows",
                 r"Virtual Machines \S+ Series Basic", r"\S+ Series Cloud Services", r"\S+ Series CloudServices",
                 r"\S+ Series Dedicated Host", r"\S+ Series DedicatedHost"):
        assert names.str.fullmatch(form).any(), form


def test_cloud_services_meters_share_the_vm_name_with_a_later_start_and_a_windows_price(items: pd.DataFrame) -> None:
    cloud = items[items["productName"].str.contains("Cloud ?Services")]
    assert len(cloud) > 0
    assert cloud["armSkuName"].str.startswith("Standard_").all()
    assert (cloud["effectiveStartDate"] > "2024-02-01T00:00:00Z").all()
    linux = items[linux_vm(items) & ~items["skuName"].str.contains("Spot|Low Priority")]
    vm_price = linux.drop_duplicates(["armRegionName", "armSkuName"]).set_index(
        ["armRegionName", "armSkuName"])["retailPrice"]
    cloud_price = cloud.set_index(["armRegionName", "armSkuName"])["retailPrice"]
    assert (cloud_price > vm_price.reindex(cloud_price.index)).all()


def test_dedicated_host_meters_have_no_tier_prefix(items: pd.DataFrame) -> None:
    hosts = items[items["productName"].str.contains("Dedicated ?Host")]
    assert len(hosts) > 0
    assert not hosts["armSkuName"].str.match("(?i)(standard|basic)_").any()
    assert {"_", "-", " "} <= {sep for name in hosts["armSkuName"] for sep in "_- " if sep + "Type1" in name}


def test_non_primary_meters_alone_and_next_to_primary_ones(items: pd.DataFrame) -> None:
    od = items[linux_vm(items) & ~items["skuName"].str.contains("Spot|Low Priority") & (items["type"] == "Consumption")
               & items["effectiveEndDate"].isna()]
    per_size = od.groupby(["armRegionName", "armSkuName"])["isPrimaryMeterRegion"].agg(["any", "all", "size"])
    assert ((~per_size["any"]) & (per_size["size"] == 1)).sum() > 0  # the only Linux OD meter is non-primary
    assert (per_size["any"] & ~per_size["all"]).sum() > 0  # a primary meter and a non-primary twin
    assert items["isPrimaryMeterRegion"].map(type).eq(bool).all()


def test_meter_region_primary_drops_non_primary_meters(wide_emu: RunningEmulator) -> None:
    wide_emu.reset()
    every, _ = page_prices(wide_emu.url, {"$filter": COLLECTOR_FILTER})
    primary, _ = page_prices(wide_emu.url, {"$filter": COLLECTOR_FILTER, "meterRegion": "'primary'"})
    assert all(item["isPrimaryMeterRegion"] for item in primary)
    assert len(primary) == sum(item["isPrimaryMeterRegion"] for item in every) < len(every)


def test_the_nolink_fault_serves_a_full_page_without_its_link(wide_emu: RunningEmulator) -> None:
    wide_emu.reset()
    wide_emu.set_faults("prices:nolink@calls=1")
    try:
        first = requests.get(f"{wide_emu.url}/api/retail/prices", params={"$filter": COLLECTOR_FILTER}, timeout=10)
        second = requests.get(f"{wide_emu.url}/api/retail/prices", params={"$filter": COLLECTOR_FILTER}, timeout=10)
    finally:
        wide_emu.set_faults(None)
    assert first.status_code == 200
    assert first.json()["Count"] == len(first.json()["Items"]) == 100
    assert first.json()["NextPageLink"] is None
    assert second.json()["Items"] == first.json()["Items"]
    assert second.json()["NextPageLink"].endswith("$skip=100")


@pytest.mark.parametrize("spec", ["skus:nolink", "*:nolink", "sps:nolink@calls=1"])
def test_nolink_exists_for_prices_only(spec: str) -> None:
    with pytest.raises(FaultSpecError, match="nolink"):
        parse_fault_spec(spec)
    assert parse_fault_spec("prices:nolink@calls=2")[0].kind == "nolink"
