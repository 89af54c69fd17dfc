"""Change detection (docs/contract.md 7): compare(previous_observations, current) -> ChangeReport.

Prices, Savings, IF, T2 and T3 are compared with the row's last *published* point (any desired count), Score
with the last Score published at the same count; the invariant checked with hypothesis: replaying the
published points reconstructs every slot's values. Forced keys (orphan slots, docs/contract.md 8) only add
rows to what is published: checked table by table and with hypothesis."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from merge.compare_data import (
    COMPARED_COLUMNS,
    ROW_FIELDS,
    compare,
    empty_observations,
    restatement_rows,
)
from merge.state import split_state, state_bytes
from tests.merge.builders import SLOT, merged_frame
from utils.constants import DESIRED_COUNTS, ROW_KEY_COLUMNS


def published(merged: pd.DataFrame) -> pd.DataFrame:
    """The observations after ``merged`` was published in full (every row is new)."""
    return compare(empty_observations(), merged).observations


def run(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The observations after comparing and publishing each frame in turn."""
    observations = empty_observations()
    for frame in frames:
        observations = compare(observations, frame).observations
    return observations


ROWS = [
    {"InstanceTier": "Basic", "InstanceType": "A1", "AvailabilityZone": "1", "SpotPrice": 0.01},
    {"InstanceTier": "Standard", "InstanceType": "A1", "AvailabilityZone": "1", "SpotPrice": 0.012},
    {"InstanceType": "D2s_v3", "AvailabilityZone": "2", "Score": np.nan, "IF": np.nan},
    {"InstanceType": "D4s_v3", "Region": "westus", "AvailabilityZone": "Single", "OndemandPrice": np.nan},
]


def test_every_row_is_new_on_the_first_run_and_gets_both_scopes() -> None:
    report = compare(empty_observations(), merged_frame(ROWS))
    assert report.changed_rows == report.new_rows == 4
    assert report.observations["Latest"].tolist().count(True) == 4  # one last published point per row
    assert report.observations["Latest"].tolist().count(False) == 4  # one per (row, count)


def test_time_only_differences_produce_no_change() -> None:
    current = merged_frame([{**row, "Time": SLOT + timedelta(hours=5)} for row in ROWS])
    report = compare(published(merged_frame(ROWS)), current)
    assert report.changed_rows == 0
    assert report.unchanged_rows == 4


def test_rotation_of_the_desired_count_alone_produces_no_change() -> None:
    at_1 = merged_frame([{**row, "DesiredCount": 1, "Score": 1.0} for row in ROWS])
    at_5 = merged_frame([{**row, "DesiredCount": 5, "Score": 3.0} for row in ROWS])
    # Published at count 1, then at count 5 (a new count: its Score was never published), then count 1 again.
    assert compare(published(at_1), at_5).changed_rows == 4
    report = compare(run([at_1, at_5]), at_1.assign(Time=SLOT + timedelta(minutes=20)))
    assert report.changed_rows == 0
    assert report.field_changes["Score"] == 0


def test_a_revert_at_another_count_is_written() -> None:
    # Issue 14.4: the spot price doubles at a count-5 slot and returns at a count-10 slot.
    normal = merged_frame([{"DesiredCount": 10, "SpotPrice": 0.02}])
    doubled = merged_frame([{"DesiredCount": 5, "SpotPrice": 0.04}])
    back = merged_frame([{"DesiredCount": 10, "SpotPrice": 0.02}])
    report = compare(run([normal, doubled]), back)
    assert report.changed_rows == 1
    assert report.field_changes["SpotPrice"] == 1
    assert report.field_changes["Score"] == 0  # the count-10 Score is what count 10 published
    assert report.changes["SpotPrice"].tolist() == [0.02]


def test_score_is_compared_with_the_last_score_published_at_the_same_count() -> None:
    at_1 = merged_frame([{"DesiredCount": 1, "Score": 3.0}])
    at_5 = merged_frame([{"DesiredCount": 5, "Score": 1.0}])
    observations = run([at_1, at_5])
    assert compare(observations, merged_frame([{"DesiredCount": 1, "Score": 3.0}])).changed_rows == 0
    assert compare(observations, merged_frame([{"DesiredCount": 1, "Score": 1.0}])).field_changes["Score"] == 1
    assert compare(observations, merged_frame([{"DesiredCount": 10, "Score": 3.0}])).field_changes["Score"] == 1


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
    report = compare(published(previous), current)
    assert report.changed_rows == 1
    changed = report.changes.iloc[0]
    assert (changed["InstanceTier"], changed["InstanceType"]) == ("Standard", "A1")
    assert report.field_changes[column] == 1
    assert sum(report.field_changes.values()) == 1
    assert report.new_rows == 0


def test_missing_equals_missing() -> None:
    rows = [{"OndemandPrice": np.nan, "SpotPrice": np.nan, "Savings": np.nan, "IF": np.nan, "Score": np.nan}]
    assert compare(published(merged_frame(rows)), merged_frame(rows)).changed_rows == 0


def test_basic_and_standard_a1_in_the_same_region_and_zone_stay_distinct() -> None:
    current = merged_frame([{**ROWS[0], "SpotPrice": 0.02}, ROWS[1]])
    report = compare(published(merged_frame(ROWS[:2])), current)
    assert report.changes[["InstanceTier", "InstanceType", "SpotPrice"]].values.tolist() == [["Basic", "A1", 0.02]]
    latest = report.published_points().set_index("InstanceTier")["SpotPrice"]
    assert latest.to_dict() == {"Basic": 0.02, "Standard": 0.012}


def test_keys_match_case_insensitively() -> None:
    previous = merged_frame([{"InstanceType": "nc24ads_a100_v4", "Region": "EastUS"}])
    current = merged_frame([{"InstanceType": "NC24ads_A100_v4", "Region": "eastus"}])
    report = compare(published(previous), current)
    assert report.changed_rows == 0
    assert len(report.observations) == 2


def test_next_observations_update_published_rows_and_append_new_keys() -> None:
    current = merged_frame([{**ROWS[0], "SpotPrice": 0.5}, {**ROWS[1], "DesiredCount": 10}])
    report = compare(published(merged_frame(ROWS[:2])), current)
    # Basic: price changed; Standard: nothing published at count 10 yet (its Score there is news).
    assert report.new_rows == 0 and report.changed_rows == 2
    latest = report.published_points()
    assert latest.loc[latest["InstanceTier"] == "Basic", "SpotPrice"].tolist() == [0.5]
    assert latest.loc[latest["InstanceTier"] == "Standard", "DesiredCount"].tolist() == [10]
    counts = report.observations[~report.observations["Latest"]]
    assert sorted(counts.loc[counts["InstanceTier"] == "Standard", "DesiredCount"].tolist()) == [1, 10]
    # Feeding the report's observations back makes the same current dataset unchanged.
    assert compare(report.observations, current).changed_rows == 0


def test_unchanged_rows_do_not_move_the_published_point() -> None:
    first = merged_frame([{"DesiredCount": 1, "Score": 3.0}])
    later = merged_frame([{"DesiredCount": 1, "Score": 3.0, "Time": SLOT + timedelta(minutes=10)}])
    report = compare(published(first), later)
    assert report.changed_rows == 0
    pd.testing.assert_frame_equal(report.observations, published(first))


def test_a_keyframe_publishes_every_row_and_counts_only_real_changes() -> None:
    current = merged_frame([{**row, "SpotPrice": 0.5} if i == 0 else row for i, row in enumerate(ROWS)])
    report = compare(published(merged_frame(ROWS)), current, keyframe=True)
    assert report.keyframe and report.changed_rows == 4 and report.new_rows == 0
    assert report.field_changes["SpotPrice"] == 1 and sum(report.field_changes.values()) == 1
    assert compare(report.observations, current).changed_rows == 0


def test_a_state_without_published_points_takes_its_merged_rows_as_published() -> None:
    # A state written before the published scope: observations at counts 1 and 5, merged at count 5.
    at_1 = merged_frame([{**row, "DesiredCount": 1, "SpotPrice": 0.9} for row in ROWS])
    at_5 = merged_frame([{**row, "DesiredCount": 5} for row in ROWS])
    old = pd.concat([published(at_1), published(at_5)], ignore_index=True)
    old = old[~old["Latest"]].reset_index(drop=True)
    _, observations = split_state(pd.read_parquet(_bytes_io(state_bytes(at_5, old))), "old")
    assert observations["Latest"].sum() == 4
    # The merged rows (count 5) are the published values: the count-5 dataset again is no change.
    assert compare(observations, at_5).changed_rows == 0


def _bytes_io(data: bytes):
    import io

    return io.BytesIO(data)


def test_state_round_trip_keeps_both_scopes() -> None:
    merged = merged_frame(ROWS)
    observations = run([merged, merged_frame([{**r, "DesiredCount": 5} for r in ROWS])])
    _, back = split_state(pd.read_parquet(_bytes_io(state_bytes(merged, observations))), "state")
    assert back["Latest"].tolist() == observations["Latest"].tolist()
    assert compare(back, merged).changed_rows == compare(observations, merged).changed_rows


def test_restatement_rows_are_the_current_rows_and_the_previous_rows_gone_now() -> None:
    previous = merged_frame(ROWS)
    current = merged_frame([ROWS[0], {**ROWS[1], "SpotPrice": 0.5}])
    rows = restatement_rows(current, previous)
    assert len(rows) == 4
    assert rows.iloc[1]["SpotPrice"] == 0.5  # the current values win
    assert sorted(rows["InstanceType"].tolist()) == sorted(r.get("InstanceType", "D2s_v3") for r in ROWS)


# --- invariants -------------------------------------------------------------------------------------------
KEYS = [
    {"InstanceTier": "Standard", "InstanceType": "D2s_v3", "Region": "eastus", "AvailabilityZone": "1"},
    {"InstanceTier": "Standard", "InstanceType": "D2s_v3", "Region": "eastus", "AvailabilityZone": "2"},
    {"InstanceTier": "Basic", "InstanceType": "A1", "Region": "westus", "AvailabilityZone": "Single"},
]
PRICES = st.sampled_from([0.01, 0.02, np.nan])
ROW = st.fixed_dictionaries({
    "OndemandPrice": st.sampled_from([0.1, np.nan]), "SpotPrice": PRICES, "Savings": st.sampled_from([80.0, 90.0]),
    "IF": st.sampled_from([1.0, 3.0, np.nan]), "Score": st.sampled_from([1.0, 3.0, np.nan]),
    "T2": st.sampled_from([0, 5]), "T3": st.sampled_from([0, 5]),
})  # fmt: skip
SLOT_DATA = st.tuples(
    st.sampled_from(DESIRED_COUNTS[:4]), st.lists(st.one_of(st.none(), ROW), min_size=len(KEYS), max_size=len(KEYS)),
    st.booleans(),
)


def _frame(count: int, rows: list, index: int) -> pd.DataFrame:
    present = [{**KEYS[i], **row, "DesiredCount": count, "Time": SLOT + timedelta(minutes=10 * index)}
               for i, row in enumerate(rows) if row is not None]  # fmt: skip
    return merged_frame(present) if present else merged_frame([{}]).iloc[:0]


def _same(a: object, b: object) -> bool:
    return (a == b) or (pd.isna(a) and pd.isna(b))


@settings(max_examples=25, deadline=None)
@given(st.lists(SLOT_DATA, min_size=1, max_size=6))
def test_replaying_the_published_points_reconstructs_every_slot(slots: list) -> None:
    observations = empty_observations()
    points: list[dict] = []  # everything published, in slot order
    for index, (count, rows, keyframe) in enumerate(slots):
        current = _frame(count, rows, index)
        report = compare(observations, current, keyframe=keyframe)
        # Time alone is never a change; the report does not depend on the rows' Time.
        shifted = compare(observations, current.assign(Time=SLOT + timedelta(days=3)), keyframe=keyframe)
        assert shifted.changed_rows == report.changed_rows
        points += [{**p, "slot": index} for p in report.changes.to_dict(orient="records")]
        observations = report.observations
        assert compare(observations, current).changed_rows == 0  # published: the same data again is no news
        for row in current.to_dict(orient="records"):
            key = tuple(row[c] for c in ROW_KEY_COLUMNS)
            mine = [p for p in points if tuple(p[c] for c in ROW_KEY_COLUMNS) == key]
            last = mine[-1]
            assert all(_same(last[f], row[f]) for f in ROW_FIELDS), (row, last)
            at_count = [p for p in mine if p["DesiredCount"] == row["DesiredCount"]][-1]
            assert _same(at_count["Score"], row["Score"])


# --- forced keys (orphan slots, docs/contract.md 8) -------------------------------------------------------
D2_1 = {"InstanceTier": "Standard", "InstanceType": "D2s_v3", "Region": "eastus", "AvailabilityZone": "1"}
D2_2 = {**D2_1, "AvailabilityZone": "2"}
A1_W = {"InstanceTier": "Basic", "InstanceType": "A1", "Region": "westus", "AvailabilityZone": "Single"}


def _keys(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=ROW_KEY_COLUMNS)


def _row_keys(frame: pd.DataFrame) -> list[tuple]:
    return [tuple(str(v).lower() for v in key) for key in frame[ROW_KEY_COLUMNS].itertuples(index=False)]


BEFORE = [{**D2_1, "SpotPrice": 0.02}, {**D2_2, "SpotPrice": 0.02}, {**A1_W, "SpotPrice": 0.004}]


@dataclass(frozen=True)
class ForcedCase:
    current: list[dict]
    forced: list[dict] | None
    published: list[dict]
    forced_rows: int
    forgotten: int = 0
    keyframe: bool = False


FORCED_CASES = {
    # An unchanged row with a forced key is published with its current values; the others are not.
    "unchanged, forced": ForcedCase(BEFORE, [D2_1], [D2_1], 1),
    # A changed row is published once, forced or not.
    "changed, forced": ForcedCase([{**D2_1, "SpotPrice": 0.05}, *BEFORE[1:]], [D2_1], [D2_1], 1),
    "changed, other forced": ForcedCase([{**D2_1, "SpotPrice": 0.05}, *BEFORE[1:]], [A1_W], [D2_1, A1_W], 1),
    # Keys match case-insensitively, as every join does (docs/contract.md 6).
    "case": ForcedCase(BEFORE, [{**D2_2, "Region": "EastUS", "InstanceType": "d2S_V3"}], [D2_2], 1),
    # A forced key without a current row is forgotten (both scopes), and publishes nothing now.
    "gone": ForcedCase(BEFORE[:2], [A1_W], [], 0, forgotten=1),
    # A key no one knows changes nothing.
    "unknown": ForcedCase(BEFORE, [{**A1_W, "Region": "japaneast"}], [], 0),
    "none": ForcedCase(BEFORE, None, [], 0),
    "empty": ForcedCase(BEFORE, [], [], 0),
    # A keyframe publishes every row anyway; the forced ones are still counted.
    "keyframe": ForcedCase(BEFORE, [D2_2], [D2_1, D2_2, A1_W], 1, keyframe=True),
}


@pytest.mark.parametrize("name", FORCED_CASES)
def test_forced_keys_are_published_whatever_they_hold(name: str) -> None:
    case = FORCED_CASES[name]
    previous = run([merged_frame(BEFORE)])
    forced = None if case.forced is None else _keys(case.forced)
    report = compare(previous, merged_frame(case.current), keyframe=case.keyframe, forced=forced)
    assert _row_keys(report.changes) == _row_keys(_keys(case.published))
    assert (report.forced_rows, report.forgotten_keys) == (case.forced_rows, case.forgotten)
    unforced = compare(previous, merged_frame(case.current), keyframe=case.keyframe)
    assert report.field_changes == unforced.field_changes  # forcing is no change of a field
    assert report.new_rows == unforced.new_rows


def test_a_forgotten_key_is_new_when_it_returns() -> None:
    previous = run([merged_frame(BEFORE)])
    gone = compare(previous, merged_frame(BEFORE[:2]), forced=_keys([A1_W]))
    assert ("basic", "a1", "westus", "single") not in _row_keys(gone.observations)
    assert len(gone.observations) == len(previous) - 2  # its published point and its count observation
    back = compare(gone.observations, merged_frame(BEFORE))  # the same values it had before
    assert _row_keys(back.changes) == _row_keys(_keys([A1_W]))
    assert back.new_rows == 1


def test_a_forced_unchanged_row_moves_the_published_point_to_this_slot() -> None:
    # Published as it is now, so the next slot compares with these values (the ones a reader now sees).
    previous = run([merged_frame(BEFORE)])
    report = compare(previous, merged_frame(BEFORE), forced=_keys([D2_1]))
    assert compare(report.observations, merged_frame(BEFORE)).changed_rows == 0


FORCED_KEYS = st.lists(st.sampled_from(range(len(KEYS))), unique=True, max_size=len(KEYS))


@settings(max_examples=60, deadline=None)
@given(st.lists(SLOT_DATA, min_size=1, max_size=4), SLOT_DATA, FORCED_KEYS)
def test_forced_changes_are_the_unforced_ones_plus_the_forced_current_rows(
    history: list, now: tuple, forced_indexes: list[int]
) -> None:
    observations = empty_observations()
    for index, (count, rows, keyframe) in enumerate(history):
        observations = compare(observations, _frame(count, rows, index), keyframe=keyframe).observations
    count, rows, keyframe = now
    current = _frame(count, rows, len(history))
    forced = _keys([KEYS[i] for i in forced_indexes])
    plain = compare(observations, current, keyframe=keyframe)
    report = compare(observations, current, keyframe=keyframe, forced=forced)

    forced_set = set(_row_keys(forced))
    current_keys = _row_keys(current)
    # A superset of F ∩ current rows, and otherwise exactly the unforced result, in the current order.
    expected = [k for k in current_keys if k in set(_row_keys(plain.changes)) | forced_set]
    assert _row_keys(report.changes) == expected
    assert forced_set & set(current_keys) <= set(_row_keys(report.changes))
    assert report.forced_rows == len(forced_set & set(current_keys))
    assert (report.new_rows, report.field_changes, report.total_rows) == (
        plain.new_rows, plain.field_changes, plain.total_rows)  # fmt: skip
    # A published row is published with its current values, forced or not.
    changed = report.changes.set_index(ROW_KEY_COLUMNS)
    for key, row in current.set_index(ROW_KEY_COLUMNS).iterrows():
        if key in changed.index:
            assert all(_same(changed.loc[key, f], row[f]) for f in (*ROW_FIELDS, "Score", "DesiredCount"))
    # Observations: the keys outside F as without forcing; forced keys without a current row forgotten.
    def outside(frame: pd.DataFrame) -> list[tuple]:
        return sorted(tuple(map(str, r)) for r in frame.itertuples(index=False)
                      if tuple(str(v).lower() for v in r[:4]) not in forced_set)  # fmt: skip
    columns = list(report.observations.columns)
    assert outside(report.observations[columns]) == outside(plain.observations[columns])
    remaining = set(_row_keys(report.observations))
    assert not (forced_set - set(current_keys)) & remaining
    # Replaying stays exact: publishing the same data again after a forced slot is no news.
    assert compare(report.observations, current).changed_rows == 0
