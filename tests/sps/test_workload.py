"""Workload pairs, region/size maps and the stored daily plan."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sps_module.request_planner import PlannedCall, plan_requests
from sps_module.sps_prepare_parameters import (
    build_workload,
    drop_invalid,
    load_plan,
    pairs_from_region_map,
    region_size_maps,
    save_plan,
)
from utils.constants import SPS_REQUEST_PLAN_KEY
from utils.store import LocalStore


def prices(rows):
    return pd.DataFrame(rows, columns=["InstanceTier", "InstanceType", "Region", "SpotPrice"])


def skus(rows):
    return pd.DataFrame(rows, columns=["Name", "Region", "LocationRestricted"])


def test_workload_keeps_spot_priced_unrestricted_offered_pairs_minus_invalid_ones():
    price_rows = prices([
        ("Standard", "NC24ads_A100_v4", "eastus", 1.0),
        ("Standard", "D2s_v3", "eastus", 0.1),
        ("Standard", "D2s_v3", "westus", np.nan),  # no spot price
        ("Standard", "D4s_v3", "eastus", 0.2),  # restricted in eastus
        ("Basic", "A1", "westus", 0.01),
        ("Standard", "D8s_v3", "mars", 0.3),  # invalid region
        ("Standard", "E2s_v3", "eastus", 0.3),  # not in the SKU listing
    ])
    sku_rows = skus([
        ("Standard_NC24ads_A100_v4", "eastus", False), ("Standard_D2s_v3", "eastus", False),
        ("Standard_D2s_v3", "westus", False), ("Standard_D4s_v3", "eastus", True), ("Basic_A1", "westus", False),
        ("Standard_D8s_v3", "mars", False),
    ])
    pairs = build_workload(price_rows, sku_rows, invalid_regions={"MARS"})
    assert pairs.values.tolist() == [
        ["eastus", "Standard_D2s_v3"], ["eastus", "Standard_NC24ads_A100_v4"], ["westus", "Basic_A1"]]
    assert build_workload(price_rows, sku_rows, invalid_sizes={"basic_a1"})["InstanceType"].tolist() == [
        "Standard_D2s_v3", "Standard_NC24ads_A100_v4", "Standard_D8s_v3"]  # sorted by region, then size


def test_maps_round_trip_to_the_same_pairs():
    pairs = pd.DataFrame({"Region": ["eastus", "eastus", "westus"],
                          "InstanceType": ["Standard_A", "Standard_B", "Standard_A"]})
    region_map, size_map = region_size_maps(pairs)
    assert region_map == {"eastus": ["Standard_A", "Standard_B"], "westus": ["Standard_A"]}
    assert size_map == {"Standard_A": ["eastus", "westus"], "Standard_B": ["eastus"]}
    assert pairs_from_region_map(region_map).equals(pairs)


def test_the_plan_is_reused_only_on_its_workload_date(tmp_path):
    store = LocalStore(tmp_path)
    plan = plan_requests([("eastus", "Standard_A"), ("westus", "Standard_B")])
    save_plan(store, plan, "2026-03-04")
    assert load_plan(store, "2026-03-04") == plan.calls
    assert load_plan(store, "2026-03-05") is None
    store.put_bytes(SPS_REQUEST_PLAN_KEY, b"not parquet")
    assert load_plan(store, "2026-03-04") is None


def test_drop_invalid_removes_learned_values_and_emptied_calls():
    calls = [PlannedCall(("eastus", "mars"), ("Standard_A",)), PlannedCall(("mars",), ("Standard_B",))]
    assert drop_invalid(calls, {"mars"}, set()) == [PlannedCall(("eastus",), ("Standard_A",))]
