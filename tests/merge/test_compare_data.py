"""Change detection (SPEC 7): compare(previous_observations, current) -> ChangeReport."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from merge.compare_data import COMPARED_COLUMNS, OBSERVATION_COLUMNS, compare, empty_observations
from tests.merge.builders import SLOT, merged_frame


def observations_of(merged):
    return merged[list(OBSERVATION_COLUMNS)].copy()


ROWS = [
    {"InstanceTier": "Basic", "InstanceType": "A1", "AvailabilityZone": "1", "SpotPrice": 0.01},
    {"InstanceTier": "Standard", "InstanceType": "A1", "AvailabilityZone": "1", "SpotPrice": 0.012},
    {"InstanceType": "D2s_v3", "AvailabilityZone": "2", "Score": np.nan, "IF": np.nan},
    {"InstanceType": "D4s_v3", "Region": "westus", "AvailabilityZone": "Single", "OndemandPrice": np.nan},
]


def test_every_row_is_new_on_the_first_run() -> None:
    current = merged_frame(ROWS)
    report = compare(empty_observations(), current)
    assert report.changed_rows == report.new_rows == 4
    assert len(report.observations) == 4


def test_time_only_differences_produce_no_change() -> None:
    previous = merged_frame(ROWS)
    current = merged_frame([{**row, "Time": SLOT + timedelta(hours=5)} for row in ROWS])
    report = compare(observations_of(previous), current)
    assert report.changed_rows == 0
    assert report.unchanged_rows == 4


def test_rotation_of_the_desired_count_alone_produces_no_change() -> None:
    # Observations exist for counts 1 and 5; this run probes count 5 and sees what count 5 saw last time,
    # although the previous run (count 1) had other scores and thresholds.
    at_1 = merged_frame([{**row, "DesiredCount": 1, "Score": 1.0, "T2": 0, "T3": 0} for row in ROWS])
    at_5 = merged_frame([{**row, "DesiredCount": 5, "Score": 3.0, "T2": 5, "T3": 5} for row in ROWS])
    previous = pd.concat([observations_of(at_1), observations_of(at_5)], ignore_index=True)
    report = compare(previous, at_5.assign(Time=SLOT + timedelta(minutes=10)))
    assert report.changed_rows == 0
    assert len(report.observations) == 8


TRANSITIONS = [(3.0, 2.0), (np.nan, 2.0), (2.0, np.nan)]
ONE_FIELD_CASES = [
    (column, before, after)
    for column in COMPARED_COLUMNS
    for before, after in ([(5, 10), (10, 0)] if column in {"T2", "T3"} else TRANSITIONS)  # T is never missing
]


@pytest.mark.parametrize(("column", "before", "after"), ONE_FIELD_CASES)
def test_a_one_field_change_produces_exactly_that_row(column: str, before: float, after: float) -> None:
    previous = merged_frame([{**row, column: before} if i == 1 else row for i, row in enumerate(ROWS)])
    current = merged_frame([{**row, column: after} if i == 1 else row for i, row in enumerate(ROWS)])
    report = compare(observations_of(previous), current)
    assert report.changed_rows == 1
    changed = report.changes.iloc[0]
    assert (changed["InstanceTier"], changed["InstanceType"]) == ("Standard", "A1")
    assert report.field_changes[column] == 1
    assert sum(report.field_changes.values()) == 1
    assert report.new_rows == 0


def test_missing_equals_missing() -> None:
    rows = [{"OndemandPrice": np.nan, "SpotPrice": np.nan, "Savings": np.nan, "IF": np.nan, "Score": np.nan}]
    assert compare(observations_of(merged_frame(rows)), merged_frame(rows)).changed_rows == 0


def test_basic_and_standard_a1_in_the_same_region_and_zone_stay_distinct() -> None:
    previous = merged_frame(ROWS[:2])
    current = merged_frame([{**ROWS[0], "SpotPrice": 0.02}, ROWS[1]])
    report = compare(observations_of(previous), current)
    assert report.changes[["InstanceTier", "InstanceType", "SpotPrice"]].values.tolist() == [["Basic", "A1", 0.02]]
    observed = report.observations.set_index("InstanceTier")["SpotPrice"]
    assert observed.to_dict() == {"Basic": 0.02, "Standard": 0.012}


def test_keys_match_case_insensitively() -> None:
    previous = merged_frame([{"InstanceType": "nc24ads_a100_v4", "Region": "EastUS"}])
    current = merged_frame([{"InstanceType": "NC24ads_A100_v4", "Region": "eastus"}])
    report = compare(observations_of(previous), current)
    assert report.changed_rows == 0
    assert len(report.observations) == 1


def test_next_observations_update_matched_keys_and_append_new_ones() -> None:
    previous = observations_of(merged_frame(ROWS[:2]))
    current = merged_frame([{**ROWS[0], "SpotPrice": 0.5}, {**ROWS[1], "DesiredCount": 10}])
    report = compare(previous, current)
    assert report.new_rows == 1 and report.changed_rows == 2
    obs = report.observations
    assert len(obs) == 3
    assert obs.loc[obs["InstanceTier"] == "Basic", "SpotPrice"].tolist() == [0.5]
    assert sorted(obs.loc[obs["InstanceTier"] == "Standard", "DesiredCount"].tolist()) == [1, 10]
    # Feeding the report's observations back makes the same current dataset unchanged.
    assert compare(obs, current).changed_rows == 0
