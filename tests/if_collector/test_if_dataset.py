"""utils/azure_api/resource_graph.py and utils/azure_api/skus.py pure parts: paging rules, parsers, the IF join."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from utils.azure_api.arm_names import split_arm_sku_name
from utils.azure_api.paging import NextLinkPaging, SkipTokenPaging
from utils.azure_api.resource_graph import EVICTION_BUCKET_TO_IF, eviction_rates_frame, parse_resets_after
from utils.azure_api.skus import vm_skus_frame
from utils.constants import IF_COLUMNS
from utils.errors import RetriableError, RunFailed
from utils.if_dataset import IF_DATASET_COLUMNS, build_if_dataset
from utils.vm_specs import SPEC_COLUMNS


def arg_page(rows: list[dict[str, Any]], token: str | None, total: int, *, count: int | None = None,
             truncated: str = "false") -> SimpleNamespace:
    """A QueryResponse-shaped page (docs/azure-facts.md 3.2)."""
    return SimpleNamespace(data=rows, skip_token=token, total_records=total,
                           count=len(rows) if count is None else count, result_truncated=truncated)


def rate(sku: str, location: str, bucket: str) -> dict[str, str]:
    return {"skuName": sku, "location": location, "spotEvictionRate": bucket}


def sku_record(name: str, region: str, zones: list[str] | None = None,
               restrictions: list[dict[str, Any]] | None = None, *, family: str = "standardDSv3Family",
               resource_type: str = "virtualMachines") -> dict[str, Any]:
    tier, _, size = name.partition("_")
    return {"resourceType": resource_type, "name": name, "tier": tier, "size": size, "family": family,
            "locations": [region], "locationInfo": [{"location": region, "zones": zones or []}],
            "restrictions": restrictions or []}


def test_the_bucket_table_is_the_spec_table() -> None:
    assert EVICTION_BUCKET_TO_IF == {"0-5": 3.0, "5-10": 2.5, "10-15": 2.0, "15-20": 1.5, "20+": 1.0}


def test_skip_token_paging_collects_every_page_until_no_token() -> None:
    paging = SkipTokenPaging()
    paging.accept(arg_page([rate("a", "x", "0-5")] * 2, "t1", total=5))
    paging.accept(arg_page([rate("b", "x", "0-5")] * 2, "t2", total=5))
    assert not paging.done
    assert paging.token == "t2"
    paging.accept(arg_page([rate("c", "x", "0-5")], None, total=5))
    assert paging.done
    assert len(paging.rows) == 5


def test_a_repeated_skip_token_is_refused() -> None:
    paging = SkipTokenPaging()
    paging.accept(arg_page([rate("a", "x", "0-5")], "t1", total=9))
    with pytest.raises(RunFailed, match="repeated"):
        paging.accept(arg_page([rate("b", "x", "0-5")], "t1", total=9))


def test_an_empty_page_with_a_token_or_a_wrong_count_is_worth_retrying() -> None:
    paging = SkipTokenPaging()
    with pytest.raises(RetriableError, match="gap"):
        paging.accept(arg_page([], "t1", total=9))
    with pytest.raises(RetriableError, match="count=3"):
        paging.accept(arg_page([rate("a", "x", "0-5")], "t1", total=9, count=3))
    assert paging.rows == []


def test_a_truncated_result_or_a_short_total_fails() -> None:
    with pytest.raises(RunFailed, match="resultTruncated"):
        SkipTokenPaging().accept(arg_page([rate("a", "x", "0-5")], None, total=1, truncated="true"))
    with pytest.raises(RunFailed, match="totalRecords=4"):
        SkipTokenPaging().accept(arg_page([rate("a", "x", "0-5")], None, total=4))


def test_quota_reset_times_are_read_as_hh_mm_ss() -> None:
    assert parse_resets_after("00:00:05") == 5.0
    assert parse_resets_after("00:01:02.5") == 62.5
    assert parse_resets_after("soon") is None
    assert parse_resets_after(None) is None


def test_eviction_buckets_map_to_scores_with_an_optional_percent_sign() -> None:
    frame = eviction_rates_frame([rate("Standard_D2s_v3", "EastUS", "0-5%"), rate("standard_d4s_v3", "eastus", "20+"),
                                  rate("standard_e2s_v3", "eastus", "weird")])
    assert frame["SkuKey"].tolist() == ["standard_d2s_v3", "standard_d4s_v3", "standard_e2s_v3"]
    assert frame["RegionKey"].tolist() == ["eastus"] * 3
    assert frame["IF"].tolist()[:2] == [3.0, 1.0]
    assert math.isnan(frame["IF"].iloc[2])


def test_sku_records_give_family_zones_and_restrictions_per_region() -> None:
    frame = vm_skus_frame([
        sku_record("Standard_D2s_v3", "eastus", ["3", "1", "2"], [
            {"type": "Zone", "values": ["eastus"], "restrictionInfo": {"locations": ["eastus"], "zones": ["3"]},
             "reasonCode": "NotAvailableForSubscription"}]),
        sku_record("Standard_D2s_v3", "WestUS", [], [
            {"type": "Location", "values": ["westus"], "restrictionInfo": {"locations": ["westus"]},
             "reasonCode": "NotAvailableForSubscription"}]),
        sku_record("Premium_LRS", "eastus", resource_type="disks"),
        sku_record("Standard_D2s_v3", "eastus", ["1"]),  # a duplicate record: the first one wins
    ])
    assert frame.drop(columns=SPEC_COLUMNS).to_dict("records") == [
        {"Name": "Standard_D2s_v3", "Tier": "Standard", "Size": "D2s_v3", "Family": "standardDSv3Family",
         "Region": "eastus", "Zones": "1,2,3", "LocationRestricted": False, "RestrictedZones": "3"},
        {"Name": "Standard_D2s_v3", "Tier": "Standard", "Size": "D2s_v3", "Family": "standardDSv3Family",
         "Region": "westus", "Zones": "", "LocationRestricted": True, "RestrictedZones": ""},
    ]


def test_next_link_paging_refuses_a_repeated_link_and_retries_an_empty_linked_page() -> None:
    paging = NextLinkPaging("/subscriptions/s/providers/Microsoft.Compute/skus?api-version=2021-07-01")
    paging.accept({"value": [{"name": "a"}], "nextLink": "http://h/next?$skiptoken=1"})
    with pytest.raises(RetriableError, match="gap"):
        paging.accept({"value": [], "nextLink": "http://h/next?$skiptoken=1"})
    with pytest.raises(RunFailed, match="repeated"):
        paging.accept({"value": [{"name": "b"}], "nextLink": "http://h/next?$skiptoken=1"})
    paging.accept({"value": [{"name": "b"}]})
    assert paging.done
    assert [r["name"] for r in paging.records] == ["a", "b"]


def test_the_tier_split_keeps_arm_casing() -> None:
    tier, size = split_arm_sku_name(pd.Series(["Standard_NC24ads_A100_v4", "Basic_A1", "Standard_A1"]))
    assert tier.tolist() == ["Standard", "Basic", "Standard"]
    assert size.tolist() == ["NC24ads_A100_v4", "A1", "A1"]


def test_the_if_join_is_case_insensitive_keeps_sizes_without_rates_and_drops_rates_without_sizes() -> None:
    skus = vm_skus_frame([
        sku_record("Standard_NC24ads_A100_v4", "eastus", ["1", "2", "3"], family="StandardNCADSA100v4Family"),
        sku_record("Standard_D2s_v3", "eastus", ["1", "2", "3"]),
        sku_record("Basic_A1", "westus", [], family="basicAFamily"),
    ])
    rates = eviction_rates_frame([rate("standard_nc24ads_a100_v4", "eastus", "15-20"),
                                  rate("standard_gone_v1", "eastus", "0-5")])
    frame = build_if_dataset(skus, rates)
    assert list(frame.columns) == IF_DATASET_COLUMNS
    assert IF_DATASET_COLUMNS[: len(IF_COLUMNS)] == IF_COLUMNS
    records = frame.to_dict("records")
    assert [(r["InstanceTier"], r["InstanceType"], r["Region"]) for r in records] == [
        ("Basic", "A1", "westus"), ("Standard", "D2s_v3", "eastus"), ("Standard", "NC24ads_A100_v4", "eastus"),
    ]
    assert records[2]["IF"] == 1.5
    assert records[2]["InstanceFamily"] == "StandardNCADSA100v4Family"
    assert math.isnan(records[0]["IF"])
    assert math.isnan(records[1]["IF"])
    assert records[1]["Zones"] == "1,2,3"


def test_no_eviction_rates_at_all_still_publish_every_size_with_if_missing() -> None:
    skus = vm_skus_frame([sku_record("Standard_D2s_v3", "eastus", ["1"])])
    frame = build_if_dataset(skus, eviction_rates_frame([]))
    assert len(frame) == 1
    assert math.isnan(frame["IF"].iloc[0])


def capabilities(**values: str) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in values.items()]


def test_specs_come_from_the_sku_capabilities_and_a_record_without_gpus_has_none() -> None:
    # Shapes as the API sends them (every capability value a string, docs/azure-facts.md 4.2).
    records = [
        {**sku_record("Standard_D2s_v3", "eastus", ["1"]),
         "capabilities": capabilities(vCPUs="2", MemoryGB="8", CpuArchitectureType="x64", vCPUsAvailable="2")},
        {**sku_record("Standard_NC24ads_A100_v4", "eastus", ["1"], family="StandardNCADSA100v4Family"),
         "capabilities": capabilities(vCPUs="24", MemoryGB="220", GPUs="1", CpuArchitectureType="x64")},
        {**sku_record("Standard_D2ps_v5", "eastus", ["1"], family="standardDPSv5Family"),
         "capabilities": capabilities(MemoryGB="8", vCPUs="2", CpuArchitectureType="Arm64")},
        {**sku_record("Standard_A0", "westus"), "capabilities": capabilities(vCPUs="1", MemoryGB="0.75")},
        {**sku_record("Standard_X1", "westus"), "capabilities": capabilities(vCPUs="many")},
    ]
    frame = build_if_dataset(vm_skus_frame(records), eviction_rates_frame([]))
    specs = frame.set_index("InstanceType")[["vCPUs", "MemoryGiB", "GPUs", "Architecture"]]
    assert specs.loc["D2s_v3"].tolist() == [2.0, 8.0, 0.0, "x64"]
    assert specs.loc["NC24ads_A100_v4"].tolist() == [24.0, 220.0, 1.0, "x64"]
    assert specs.loc["D2ps_v5"].tolist() == [2.0, 8.0, 0.0, "Arm64"]
    # No CpuArchitectureType in the record (older API versions, the 2019 recording): missing, not guessed.
    assert specs.loc["A0", "MemoryGiB"] == 0.75 and pd.isna(specs.loc["A0", "Architecture"])
    assert math.isnan(specs.loc["X1", "vCPUs"]) and math.isnan(specs.loc["X1", "MemoryGiB"])
    assert frame["vCPUs"].dtype == "float64" and frame["GPUs"].dtype == "float64"
