"""The merged dataset of a slot (docs/contract.md 6, 7): join, casing, carried rows, dropped rows, match rates."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from merge.join import build_merged, empty_merged
from merge.public import PUBLIC_COLUMNS, public_frame, unknown_display_rows
from merge.records import latest_json_bytes
from tests.merge.builders import SLOT, if_frame, merged_frame, price_frame, slot_at, sps_frame
from utils.constants import MERGED_COLUMNS
from utils.vm_specs import MERGED_SPEC_COLUMNS

NEXT = slot_at(1)


def row(merged: pd.DataFrame, **key: str) -> pd.Series:
    mask = np.ones(len(merged), dtype=bool)
    for column, value in key.items():
        mask &= (merged[column] == value).to_numpy()
    assert mask.sum() == 1, f"expected exactly one row for {key}, found {mask.sum()}"
    return merged[mask].iloc[0]


def test_basic_a1_and_standard_a1_in_the_same_region_and_zone_stay_two_rows() -> None:
    sps = sps_frame([("Basic", "A1", "eastus", "1", 3), ("Standard", "A1", "eastus", "1", 1)], SLOT, 5)
    price = price_frame([("Basic", "A1", "eastus", 0.05, 0.01), ("Standard", "A1", "eastus", 0.06, 0.02)])
    ifs = if_frame([("Basic", "A1", "eastus", 2.0, "basicAFamily"), ("Standard", "A1", "eastus", 3.0, "stdA")])
    merged = build_merged(sps, price, ifs, empty_merged(), SLOT).merged
    assert len(merged) == 2
    basic, standard = row(merged, InstanceTier="Basic"), row(merged, InstanceTier="Standard")
    assert (basic["SpotPrice"], basic["IF"], basic["Score"], basic["T3"]) == (0.01, 2.0, 3.0, 5)
    assert (standard["SpotPrice"], standard["IF"], standard["Score"], standard["T2"]) == (0.02, 3.0, 1.0, 0)


def test_keys_join_case_insensitively_keeping_arm_casing_from_price_then_if_then_sps() -> None:
    sps = sps_frame([
        ("standard", "nc24ads_a100_v4", "EastUS", "1", 3),  # price has it
        ("Standard", "d2S_V3", "eastus", "1", 3),  # only IF has it
        ("Standard", "Zz9_Only_Sps", "eastus", "1", 2),  # neither
    ], SLOT, 1)  # fmt: skip
    price = price_frame([("Standard", "NC24ads_A100_v4", "eastus", 3.6, 0.7)])
    ifs = if_frame([("Standard", "D2s_v3", "eastus", 3.0), ("Standard", "nc24ads_a100_v4", "eastus", 2.5)])
    result = build_merged(sps, price, ifs, empty_merged(), SLOT)
    merged = result.merged
    assert sorted(merged["InstanceType"]) == ["D2s_v3", "NC24ads_A100_v4", "Zz9_Only_Sps"]
    nc = row(merged, InstanceType="NC24ads_A100_v4")
    assert (nc["InstanceTier"], nc["Region"], nc["SpotPrice"], nc["IF"]) == ("Standard", "eastus", 0.7, 2.5)
    assert result.match.as_dict() == {"sps_rows": 3, "sps_with_price": round(1 / 3, 6),
                                      "sps_with_if": round(2 / 3, 6), "price_pairs": 1, "price_with_sps": 1.0}


def test_a_probed_pair_without_a_price_is_kept_and_published_with_minus_one() -> None:
    sps = sps_frame([("Standard", "D2s_v3", "eastus", "2", 2)], SLOT, 10)
    merged = build_merged(sps, price_frame([]), if_frame([]), empty_merged(), SLOT).merged
    assert len(merged) == 1 and np.isnan(merged["SpotPrice"].iloc[0])
    public = public_frame(merged)
    assert list(public.columns) == PUBLIC_COLUMNS
    first = public.iloc[0]
    assert (first["OndemandPrice"], first["SpotPrice"], first["IF"]) == (-1, -1, -1)
    # No price row in the region at all: the display location is unknown, the public Region is the ARM code.
    assert (first["Region"], first["RegionCode"], first["InstanceFamily"]) == ("eastus", "eastus", "N/A")
    assert (first["T2"], first["T3"], first["Score"], first["Time"]) == (10, 0, 2, "2025-12-13 13:00:00")


def test_the_display_location_is_the_regions_from_any_price_row_else_from_the_previous_dataset() -> None:
    sps = sps_frame([("Standard", "D2s_v3", "EastUS", "1", 3), ("Standard", "D2s_v3", "westeurope", "1", 3),
                     ("Standard", "D2s_v3", "japaneast", "1", None)], NEXT, 5)  # fmt: skip
    price = price_frame([("Standard", "E4s_v5", "eastus", 0.25, 0.05)])  # another size in eastus
    previous = merged_frame([{"Region": "westeurope", "RegionName": "EU West"}])
    merged = build_merged(sps, price, if_frame([]), previous, NEXT).merged
    public = public_frame(merged).set_index("RegionCode")
    assert public.loc["EastUS", "Region"] == "US East"  # from the E4s_v5 price row of the region (any casing)
    assert public.loc["westeurope", "Region"] == "EU West"  # from the previous merged dataset
    assert public.loc["japaneast", "Region"] == "japaneast"  # unknown: the ARM code
    assert unknown_display_rows(merged) == 1


def test_previous_rows_not_probed_are_carried_while_they_have_a_spot_price() -> None:
    previous = merged_frame([
        {"InstanceType": "D2s_v3", "AvailabilityZone": "1", "DesiredCount": 5, "Score": 2.0, "T2": 5, "T3": 1},
        {"InstanceType": "D4s_v3", "AvailabilityZone": "1"},  # no price row now: dropped
        {"InstanceType": "D8s_v3", "AvailabilityZone": "1"},  # price row without a spot price: dropped
    ])  # fmt: skip
    sps = sps_frame([("Standard", "E2s_v3", "eastus", "1", 3)], NEXT, 10)
    price = price_frame([("Standard", "D2s_v3", "eastus", 0.1, 0.03), ("Standard", "D8s_v3", "eastus", 0.4, np.nan),
                         ("Standard", "E2s_v3", "eastus", 0.12, 0.02)])  # fmt: skip
    ifs = if_frame([("Standard", "D2s_v3", "eastus", 1.5, "newFamily")])
    result = build_merged(sps, price, ifs, previous, NEXT)
    merged = result.merged
    assert sorted(merged["InstanceType"]) == ["D2s_v3", "E2s_v3"]
    assert (result.probed_rows, result.carried_rows, result.dropped_previous_rows) == (1, 1, 2)
    carried = row(merged, InstanceType="D2s_v3")
    assert (carried["DesiredCount"], carried["Score"], carried["T2"], carried["T3"]) == (5, 2.0, 5, 1)
    assert carried["Time"] == pd.Timestamp(SLOT)
    assert (carried["SpotPrice"], carried["IF"], carried["InstanceFamily"]) == (0.03, 1.5, "newFamily")
    probed = row(merged, InstanceType="E2s_v3")
    assert (probed["DesiredCount"], probed["T3"], probed["Time"]) == (10, 10, pd.Timestamp(NEXT))


def test_a_probe_without_a_score_keeps_the_last_probe_of_a_known_row() -> None:
    previous = merged_frame([{"AvailabilityZone": "1", "DesiredCount": 5, "Score": 3.0, "T2": 5, "T3": 5}])
    sps = sps_frame([("Standard", "D2s_v3", "eastus", "1", None), ("Standard", "D2s_v3", "eastus", "2", None)],
                    NEXT, 10)  # fmt: skip
    price = price_frame([("Standard", "D2s_v3", "eastus", 0.1, 0.03)])
    merged = build_merged(sps, price, if_frame([]), previous, NEXT).merged
    known, new = row(merged, AvailabilityZone="1"), row(merged, AvailabilityZone="2")
    assert (known["DesiredCount"], known["Score"], known["T2"], known["T3"]) == (5, 3.0, 5, 5)
    assert known["Time"] == pd.Timestamp(SLOT)
    assert (new["DesiredCount"], new["T2"], new["T3"]) == (10, 0, 0) and np.isnan(new["Score"])
    assert new["Time"] == pd.Timestamp(NEXT)


def test_duplicate_keys_in_another_casing_are_dropped_and_counted() -> None:
    sps = sps_frame([("Standard", "D2s_v3", "eastus", "1", None), ("Standard", "d2s_v3", "eastus", "1", 3)], SLOT, 1)
    price = price_frame([("Standard", "D2s_v3", "eastus", 0.1, 0.03), ("standard", "D2S_V3", "EASTUS", 9.9, 9.9)])
    result = build_merged(sps, price, if_frame([]), empty_merged(), SLOT)
    assert len(result.merged) == 1
    assert result.merged["Score"].iloc[0] == 3.0  # the duplicate with a score wins
    assert result.merged["SpotPrice"].iloc[0] == 0.03  # the first price row wins
    assert result.duplicate_rows == {"sps": 1, "price": 1, "if": 0, "previous": 0}


def test_output_is_sorted_by_row_key_and_has_merged_columns_in_order() -> None:
    sps = sps_frame([("Standard", "B1s", "westus", "2", 3), ("Standard", "B1s", "eastus", "Single", 3),
                     ("Standard", "B1s", "eastus", "1", 3)], SLOT, 1)  # fmt: skip
    merged = build_merged(sps, price_frame([]), if_frame([]), empty_merged(), SLOT).merged
    assert list(merged.columns) == [*MERGED_COLUMNS, *MERGED_SPEC_COLUMNS]
    assert merged[["Region", "AvailabilityZone"]].values.tolist() == [["eastus", "1"], ["eastus", "Single"],
                                                                       ["westus", "2"]]  # fmt: skip


def test_latest_json_is_the_same_text_as_json_dumps_of_the_records() -> None:
    sps = sps_frame([("Standard", "D2s_v3", "eastus", "1", 3), ("Basic", 'Odd"Name\\ü', "eastus", "2", None)],
                    SLOT, 5)  # fmt: skip
    price = price_frame([("Standard", "D2s_v3", "eastus", 0.1 + 0.2, 1e-7), ("Basic", 'Odd"Name\\ü', "eastus",
                                                                             0.3, 0.1)])  # fmt: skip
    public = public_frame(build_merged(sps, price, if_frame([]), empty_merged(), SLOT).merged)
    expected = json.dumps(public.to_dict(orient="records"), separators=(",", ":"), allow_nan=False).encode()
    assert latest_json_bytes(public) == expected
    assert json.loads(expected)[1]["OndemandPrice"] == 0.1 + 0.2
    assert latest_json_bytes(public.iloc[:0]) == b"[]"
