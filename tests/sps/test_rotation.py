"""Desired-count rotation: which count a slot probes and how the metadata advances."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from sps_module.rotation import RotationReason, advance, decide, valid_metadata
from utils.constants import DESIRED_COUNTS
from utils.errors import UsageError

SLOT = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)


def meta(index: int, date: str = "2026-03-04", last: str = "2026-03-04T12:20:00Z", count: int | None = 5) -> dict:
    return {"desired_count_index": index, "workload_date": date, "last_timestamp": last, "last_desired_count": count}


@pytest.mark.parametrize(
    ("metadata", "count", "rebuild", "rerun"),
    [
        pytest.param(None, 1, True, False, id="missing metadata starts at 1 and rebuilds"),
        pytest.param({"garbage": True}, 1, True, False, id="wrong-shape metadata is treated as missing"),
        pytest.param("not a mapping", 1, True, False, id="non-mapping metadata is treated as missing"),
        pytest.param(meta(99), 1, True, False, id="out-of-range index is treated as missing"),
        pytest.param(meta(4, date="2026-03-03", last="2026-03-03T23:50:00Z"), 1, True, False,
                     id="first run of a UTC day uses 1 and rebuilds"),
        pytest.param(meta(2), DESIRED_COUNTS[2], False, False, id="next slot of the day uses the stored index"),
        pytest.param(meta(3, last="2026-03-04T12:30:00Z", count=10), 10, False, True,
                     id="same slot again reuses its count"),
        pytest.param(meta(10), 50, False, False, id="index 10 probes 50"),
    ],
)
def test_decide_picks_the_count_of_the_slot(metadata, count, rebuild, rerun):
    decision = decide(metadata, SLOT)
    assert (decision.desired_count, decision.rebuild_workload, decision.rerun) == (count, rebuild, rerun)


def test_advance_moves_the_index_and_records_the_slot():
    decision = decide(meta(2), SLOT)
    assert advance(meta(2), decision, SLOT) == {
        "desired_count_index": 3, "workload_date": "2026-03-04", "last_timestamp": "2026-03-04T12:30:00Z",
        "last_desired_count": 10,
    }


def test_rotation_wraps_around_after_50():
    decision = decide(meta(10), SLOT)
    new = advance(meta(10), decision, SLOT)
    assert new["desired_count_index"] == 0
    nxt = decide(new, datetime(2026, 3, 4, 12, 40, tzinfo=UTC))
    assert nxt.desired_count == 1 and not nxt.rebuild_workload


def test_a_rerun_of_the_same_slot_does_not_advance_the_metadata():
    stored = meta(4, last="2026-03-04T12:30:00Z", count=15)
    decision = decide(stored, SLOT)
    assert advance(stored, decision, SLOT) == stored


def test_a_whole_day_cycles_through_every_count_in_order():
    metadata = None
    seen = []
    for minute in range(0, 24 * 60, 10):
        slot = datetime(2026, 3, 4, minute // 60, minute % 60, tzinfo=UTC)
        decision = decide(metadata, slot)
        seen.append(decision.desired_count)
        metadata = advance(metadata, decision, slot)
        assert valid_metadata(metadata)
    assert seen[:12] == [*DESIRED_COUNTS, 1]
    assert len(seen) == 144 and seen == [DESIRED_COUNTS[i % 11] for i in range(144)]
    tomorrow = decide(metadata, datetime(2026, 3, 5, 0, 0, tzinfo=UTC))
    assert tomorrow.desired_count == 1 and tomorrow.rebuild_workload


def test_a_slot_that_already_has_a_raw_object_reruns_with_that_count_and_leaves_the_metadata():
    later = meta(4, last="2026-03-04T13:00:00Z", count=15)
    decision = decide(later, SLOT, stored_counts=[5])
    assert (decision.desired_count, decision.rerun, decision.rebuild_workload) == (5, True, False)
    assert advance(later, decision, SLOT) == later


def test_a_late_slot_without_a_raw_object_is_refused_instead_of_probing_the_next_slots_count():
    later = meta(4, last="2026-03-04T13:00:00Z", count=15)
    with pytest.raises(UsageError, match="late slots are refused"):
        decide(later, SLOT)


def test_a_rerun_after_a_failed_metadata_write_records_the_slot_as_a_clean_run_would():
    before = meta(1, last="2026-03-04T12:20:00Z", count=1)  # the slot's raw object (count 5) is stored
    decision = decide(before, SLOT, stored_counts=[5])
    assert decision.desired_count == 5
    assert advance(before, decision, SLOT) == advance(before, decide(before, SLOT), SLOT) == {
        "desired_count_index": 2, "workload_date": "2026-03-04", "last_timestamp": "2026-03-04T12:30:00Z",
        "last_desired_count": 5,
    }


@pytest.mark.parametrize(("metadata", "stored", "text"), [
    pytest.param(None, [5], "the slot already has a raw SPS object: rerun with its count", id="stored raw object"),
    pytest.param(None, [], "no usable rotation metadata", id="no metadata"),
    pytest.param(meta(3, last="2026-03-04T12:30:00Z", count=10), [], "same slot again", id="same slot"),
    pytest.param(meta(4, date="2026-03-03", last="2026-03-03T23:50:00Z"), [], "first run of the UTC day",
                 id="first of the day"),
    pytest.param(meta(2), [], "next count of the day", id="next of the day"),
])
def test_each_decision_names_its_reason_and_logs_the_same_text(metadata, stored, text):
    reason = decide(metadata, SLOT, stored).reason
    assert isinstance(reason, RotationReason)
    record = logging.LogRecord("sps", logging.INFO, __file__, 0, "desired count %d (%s)", (1, reason), None)
    assert reason == text and record.getMessage() == f"desired count 1 ({text})"  # as load_sps logs it
