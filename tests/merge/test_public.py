"""The public shape (merge.public): naming, formats, missing values, CSV neutralising, selector, association."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from merge.public import (
    PUBLIC_COLUMNS,
    association,
    csv_safe,
    metrics_message,
    public_frame,
    query_selector,
    region_display_names,
    timeseries_frame,
)
from merge.records import archive_bytes
from tests.merge.builders import merged_frame
from utils.timeseries import TIMESERIES_COLUMNS


def test_the_public_row_names_the_display_location_with_the_arm_code_beside_it() -> None:
    public = public_frame(merged_frame([{"Score": np.nan, "Time": pd.Timestamp("2025-12-13 13:10", tz="UTC")}]))
    assert list(public.columns) == PUBLIC_COLUMNS
    row = public.iloc[0].to_dict()
    assert (row["Region"], row["RegionCode"]) == ("US East", "eastus")
    assert (row["Score"], row["Time"]) == (-1, "2025-12-13 13:10:00")
    assert public["Score"].dtype == "int64" and public["T2"].dtype == "int64"


def test_a_row_without_a_display_location_keeps_the_arm_code_as_region() -> None:
    public = public_frame(merged_frame([{"Region": "newregion", "RegionName": None}]))
    assert (public.loc[0, "Region"], public.loc[0, "RegionCode"]) == ("newregion", "newregion")


def test_an_empty_family_is_published_as_missing_text_like_no_family() -> None:
    public = public_frame(merged_frame([{"InstanceFamily": ""}, {"InstanceFamily": None}, {"InstanceFamily": " "}]))
    assert public["InstanceFamily"].tolist() == ["N/A", "N/A", "N/A"]


def test_time_series_records_are_public_rows_in_the_sinks_columns() -> None:
    records = timeseries_frame(merged_frame([{"Score": 2.0}]))
    assert list(records.columns) == TIMESERIES_COLUMNS
    assert (records.loc[0, "Region"], records.loc[0, "RegionCode"], records.loc[0, "Score"]) == ("US East", "eastus", 2)


def test_formula_like_api_text_is_neutralised_in_the_archive_and_numbers_are_not() -> None:
    merged = merged_frame([{"InstanceFamily": "=HYPERLINK(\"x\")", "RegionName": "+US East", "OndemandPrice": np.nan},
                           {"InstanceType": "D4s_v3", "InstanceFamily": "@sum", "AvailabilityZone": "-1"}])
    archive = pd.read_csv(io.BytesIO(gzip.decompress(archive_bytes(public_frame(merged)))), dtype=str,
                          keep_default_na=False)  # fmt: skip
    assert archive["InstanceFamily"].tolist() == ["'=HYPERLINK(\"x\")", "'@sum"]
    assert archive["Region"].tolist() == ["'+US East", "US East"]
    assert archive["AvailabilityZone"].tolist() == ["1", "'-1"]
    assert archive["OndemandPrice"].tolist() == ["-1.0", "0.096"]  # a number, untouched
    assert archive["Score"].tolist() == ["3", "3"]


@settings(deadline=None, max_examples=50)  # a shared 2-core machine: pandas per example is slow, not wrong
@given(st.lists(st.text(max_size=6), min_size=1, max_size=8))
def test_csv_safe_only_prefixes_cells_a_spreadsheet_would_evaluate(texts: list[str]) -> None:
    public = public_frame(merged_frame([{"InstanceType": f"T{i}", "InstanceFamily": t} for i, t in enumerate(texts)]))
    safe = csv_safe(public)
    for before, after in zip(public["InstanceFamily"], safe["InstanceFamily"], strict=True):
        assert after == ("'" + before if before[:1] in {"=", "+", "-", "@"} else before)
    assert safe.drop(columns=["InstanceFamily"]).equals(public.drop(columns=["InstanceFamily"]))


def test_the_selector_renames_entries_written_with_arm_codes_and_counts_them() -> None:
    merged = merged_frame([{}, {"Region": "westeurope", "RegionName": "EU West"}])
    previous = [{"InstanceTier": "Standard", "InstanceType": "D2s_v3", "Region": "eastus"},
                {"InstanceTier": "Standard", "InstanceType": "E2s_v3", "Region": "WestEurope"},
                {"InstanceTier": "Standard", "InstanceType": "F2s_v2", "Region": "US West"},  # already new
                {"InstanceTier": "Standard", "InstanceType": "F2s_v2", "Region": "gone"}]  # unknown: kept
    selector, renamed = query_selector(previous, public_frame(merged), region_display_names(merged))
    assert renamed == 2
    assert [tuple(e.values()) for e in selector] == [
        ("Standard", "D2s_v3", "EU West"), ("Standard", "D2s_v3", "US East"), ("Standard", "E2s_v3", "EU West"),
        ("Standard", "F2s_v2", "US West"), ("Standard", "F2s_v2", "gone"),
    ]  # fmt: skip


def test_the_association_lists_sorted_regions_and_tiers_per_size() -> None:
    selector = [{"InstanceTier": t, "InstanceType": s, "Region": r} for t, s, r in [
        ("Standard", "A1", "US East"), ("Basic", "A1", "US East"), ("Standard", "A1", "EU West"),
        ("Standard", "D2s_v3", "JA East")]]  # fmt: skip
    assert association(selector) == [{
        "A1": {"Region": ["EU West", "US East"], "InstanceTier": ["Basic", "Standard"]},
        "D2s_v3": {"Region": ["JA East"], "InstanceTier": ["Standard"]},
    }]  # fmt: skip
    assert association([]) == [{}]


def test_the_metrics_message_counts_rows_with_each_value_present() -> None:
    merged = merged_frame([{}, {"InstanceType": "D4s_v3", "OndemandPrice": np.nan, "Score": np.nan, "IF": np.nan}])
    assert metrics_message(merged) == "AZUREONDEMAND: 1 AZURESPOT: 2 AZUREIF: 1 AZURESPS: 1"
