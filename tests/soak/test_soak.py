"""The soak (bench/soak.py): a short run with every check, and the checks themselves on small inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.soak import SlotRecord, format_soak_summary, recompute_t2_t3, run_soak, summarize_soak, t2t3_mismatches

KEY = {"InstanceTier": "Standard", "InstanceType": "D2s_v3", "Region": "eastus", "AvailabilityZone": "1"}


def _probe(count: int, score: float) -> pd.DataFrame:
    return pd.DataFrame([{**KEY, "DesiredCount": count, "Score": score}])


def _record(index: int, *, changes: int = 10, state: int = 1000, snapshots: int | None = None,
            codes: dict[str, int] | None = None, sps_429: int = 0) -> SlotRecord:  # fmt: skip
    slot = f"2026-03-04T{index // 6:02d}:{index % 6 * 10:02d}:00Z"
    count = snapshots if snapshots is not None else index + 1
    return SlotRecord(slot=slot, exit_codes=codes or {"sps": 0, "if": 0, "price": 0, "merge": 0},
                      seconds={"sps": 0.1, "if": 0.1, "price": 0.1, "merge": 0.1, "slot": 0.4},
                      sps_429_emulator=sps_429, state_bytes={"latest_state": state, "sps_saved": 100,
                                                             "snapshots": count * state},
                      merge_summary={"slot": slot, "changes": changes, "timeseries_records": changes,
                                     "desired_count": 1, "rows": 50},
                      snapshot_count=count)  # fmt: skip


def _clean_t2t3() -> dict[str, int]:
    return {"mismatches": 0, "never_probed_nonzero": 0, "snapshot_mismatches": 0}


def test_recomputed_t2_t3_follow_the_spec_example_of_the_merge() -> None:
    frames = [_probe(1, 3.0), _probe(5, 3.0), _probe(10, 1.0), _probe(15, np.nan), _probe(1, 1.0)]
    assert recompute_t2_t3(frames)[["T2", "T3"]].iloc[0].tolist() == [0.0, 0.0]
    assert recompute_t2_t3(frames[:4])[["T2", "T3"]].iloc[0].tolist() == [5.0, 5.0]


def test_a_published_t3_that_differs_from_the_history_is_a_mismatch() -> None:
    expected = recompute_t2_t3([_probe(1, 3.0), _probe(5, 2.0)])
    published = pd.DataFrame([{**KEY, "T2": 5.0, "T3": 5.0}])
    assert t2t3_mismatches(expected, published)["mismatches"] == 1
    assert t2t3_mismatches(expected, published.assign(T3=1.0))["mismatches"] == 0


def test_a_clean_day_passes_every_check() -> None:
    records = [_record(i) for i in range(20)]
    rows = {r.slot: 10 for r in records}
    summary = summarize_soak(records, timeseries_rows=rows, t2t3=_clean_t2t3())
    assert summary["checks"] == dict.fromkeys(summary["checks"], True)
    assert "soak PASSED" in format_soak_summary(summary)


def test_a_429_after_the_first_hour_fails_the_soak_but_one_during_it_does_not() -> None:
    early = [_record(i, sps_429=2 if i == 3 else 0) for i in range(20)]
    late = [_record(i, sps_429=1 if i == 12 else 0) for i in range(20)]
    rows = {r.slot: 10 for r in early}
    assert summarize_soak(early, timeseries_rows=rows, t2t3=_clean_t2t3())["checks"]["no_429_in_steady_state"]
    assert not summarize_soak(late, timeseries_rows=rows, t2t3=_clean_t2t3())["checks"]["no_429_in_steady_state"]


def test_carried_state_that_keeps_growing_after_the_first_rotation_fails_the_soak() -> None:
    records = [_record(i, state=1000 + 200 * i) for i in range(20)]
    summary = summarize_soak(records, timeseries_rows={r.slot: 10 for r in records}, t2t3=_clean_t2t3())
    assert not summary["checks"]["carried_state_bounded"]


def test_a_lost_snapshot_or_a_duplicate_time_series_row_fails_the_soak() -> None:
    records = [_record(i) for i in range(19)] + [_record(19, snapshots=5)]
    rows = {r.slot: 10 for r in records}
    summary = summarize_soak(records, timeseries_rows=rows, t2t3=_clean_t2t3())
    assert not summary["checks"]["snapshots_as_retained"]
    clean = [_record(i) for i in range(20)]
    summary = summarize_soak(clean, timeseries_rows={**rows, clean[4].slot: 11}, t2t3=_clean_t2t3())
    assert not summary["checks"]["timeseries_equals_changes"]
    assert summary["slots_where_sqlite_rows_differ_from_changes"] == [clean[4].slot]


def test_a_failed_run_fails_the_soak() -> None:
    records = [_record(i) for i in range(20)]
    records[7] = _record(7, codes={"sps": 1, "if": 0, "price": 0, "merge": -1})
    summary = summarize_soak(records, timeseries_rows={r.slot: 10 for r in records}, t2t3=_clean_t2t3())
    assert summary["runs_failed"] == 1 and not summary["ok"]


@pytest.mark.slow
def test_twelve_slots_with_low_rate_faults_pass_every_soak_check(tmp_path: Path) -> None:
    summary = run_soak(12, tmp_path)
    assert summary["checks"] == dict.fromkeys(summary["checks"], True), format_soak_summary(summary)
    assert summary["runs_ok"] == 12
    assert summary["desired_counts_seen"] == [1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    assert summary["t2t3"]["slots_compared"] == 12 and summary["t2t3"]["rows_compared"] > 0
    assert summary["changes"] == summary["timeseries_rows_in_sqlite"] > 0


def _archive_row(slot: str, count: int, spot: float, score: float) -> dict:
    return {**KEY, "slot": slot, "DesiredCount": count, "OndemandPrice": 0.1, "SpotPrice": spot, "Savings": 80.0,
            "IF": 3.0, "T2": 5, "T3": 0, "Score": score}  # fmt: skip


def test_the_reconstruction_check_finds_a_revert_the_time_series_missed() -> None:
    from bench.soak import reconstruction_mismatches

    slots = ["2026-03-04T00:00:00Z", "2026-03-04T00:10:00Z", "2026-03-04T00:20:00Z"]
    archives = pd.DataFrame([_archive_row(slots[0], 1, 0.02, 3.0), _archive_row(slots[1], 5, 0.04, 3.0),
                             _archive_row(slots[2], 1, 0.02, 3.0)])  # fmt: skip
    complete = archives.copy()
    assert reconstruction_mismatches(archives, complete)["mismatches"] == 0
    without_revert = complete.iloc[:2]  # the old per-count rule: the revert at count 1 was never written
    found = reconstruction_mismatches(archives, without_revert)
    assert found["mismatches"] == 1 and found["field_mismatches"] == 1
    assert reconstruction_mismatches(archives, complete.iloc[1:])["no_record"] == 1


def test_the_price_drift_changes_and_reverts_some_pairs() -> None:
    from bench.soak import drift_prices

    prices = pd.DataFrame({"InstanceType": [f"D{i}s_v3" for i in range(40)], "Region": "eastus",
                           "OndemandPrice": 0.1, "SpotPrice": 0.02, "Savings": 80.0})  # fmt: skip
    spots = np.array([drift_prices(prices, index)["SpotPrice"].to_numpy() for index in range(12)])
    moved = (spots != 0.02).any(axis=0)
    assert 0 < moved.sum() < len(prices)
    assert ((spots[:, moved] == 0.02).any(axis=0)).all()  # every drifted pair is back at its price some slot
    assert drift_prices(prices, 3).equals(drift_prices(prices, 3))
