"""Desired-count rotation (docs/contract.md 7, ``sps_metadata.yaml``): which count this slot probes, and what to
store after.

The rotation is a pure function of the stored metadata and the slot:

===========================================  ===========================  ================  =================
situation                                    desired count                rebuild workload  metadata index
===========================================  ===========================  ================  =================
metadata missing or corrupt                  1                            yes               -> 1
first run of a UTC day (workload_date old)   1                            yes               -> 1
slot already has a raw SPS object (rerun)    that object's count          no                unchanged*
same slot again (last_timestamp == slot)     last_desired_count           no                unchanged
late slot (older than last_timestamp)        refused (UsageError, exit 2)
any other slot of the day                    DESIRED_COUNTS[index]        no                -> index + 1 (wraps)
===========================================  ===========================  ================  =================

(*) unless the metadata still names an earlier slot (the first attempt stored the raw object but failed to
write the metadata): then the slot is recorded as a clean run would have recorded it.

A rerun of an older slot after newer slots ran must probe the count it probed before (its raw object names
it) and must not move the rotation back, or it would rewrite that slot's published history with another
count (docs/contract.md 8: a rerun gives the same outputs). A late slot that was never probed is refused: it would
probe the next slot's count (the index names the *next* slot) and spend that slot's quota; the
orchestrator refuses it before collecting anything (``merge.slot_order``), this is the same rule for the
SPS collector run alone.

Each row of the table is one ``RotationReason`` (a ``StrEnum``: its value is the text the collector logs, so the
log line reads as before).

``desired_count_index`` is the index of the count the *next* slot uses; after 50 it wraps to 1. The new
metadata (``advance``) is written only after the slot's raw SPS object is stored, so a failed run leaves the
rotation where it was and its rerun probes the same count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from utils.constants import DESIRED_COUNTS
from utils.errors import UsageError
from utils.timestamps import slot_iso

METADATA_KEYS = ("desired_count_index", "workload_date", "last_timestamp", "last_desired_count")


class RotationReason(StrEnum):
    """Which row of the module table decided the slot (the value is logged as it is)."""

    STORED_RAW_OBJECT = "the slot already has a raw SPS object: rerun with its count"
    NO_METADATA = "no usable rotation metadata"
    SAME_SLOT = "same slot again"
    FIRST_OF_DAY = "first run of the UTC day"
    NEXT_OF_DAY = "next count of the day"


@dataclass(frozen=True)
class RotationDecision:
    """What this slot does.

    Attributes:
        desired_count: the count to probe.
        index: position of ``desired_count`` in ``DESIRED_COUNTS``.
        rebuild_workload: first run of the day (or no usable metadata): rebuild workload and plan.
        rerun: the slot (or a later one) was already handled; for the log — ``advance`` decides from the
            metadata and the slot alone.
        reason: the row of the module table that decided (its value is the log text).
    """

    desired_count: int
    index: int
    rebuild_workload: bool
    rerun: bool
    reason: RotationReason


def slot_date(slot: datetime) -> str:
    """The UTC date of a slot as ``YYYY-MM-DD`` (the ``workload_date`` format)."""
    return slot_iso(slot)[:10]


def valid_metadata(metadata: Any) -> bool:
    """True when ``metadata`` is a mapping with the four keys and usable values."""
    if not isinstance(metadata, dict) or any(k not in metadata for k in METADATA_KEYS):
        return False
    index = metadata["desired_count_index"]
    last = metadata["last_desired_count"]
    return (
        isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(DESIRED_COUNTS)
        and isinstance(metadata["workload_date"], str) and isinstance(metadata["last_timestamp"], str)
        and (last is None or last in DESIRED_COUNTS)
    )


def decide(
    metadata: dict[str, Any] | None, slot: datetime, stored_counts: Sequence[int] = ()
) -> RotationDecision:
    """The rotation decision for ``slot`` given the stored metadata (None = missing or corrupt) and the
    desired counts of raw SPS objects already stored for this slot."""
    known = sorted(c for c in stored_counts if c in DESIRED_COUNTS)
    if known:
        count = known[0]
        return RotationDecision(count, DESIRED_COUNTS.index(count), False, True,
                                RotationReason.STORED_RAW_OBJECT)
    if metadata is None or not valid_metadata(metadata):
        return RotationDecision(DESIRED_COUNTS[0], 0, True, False, RotationReason.NO_METADATA)
    if metadata["last_timestamp"] == slot_iso(slot) and metadata["last_desired_count"] in DESIRED_COUNTS:
        count = int(metadata["last_desired_count"])
        return RotationDecision(count, DESIRED_COUNTS.index(count), False, True, RotationReason.SAME_SLOT)
    if slot_iso(slot) < metadata["last_timestamp"]:  # same ISO format: text order is time order
        raise UsageError(f"slot {slot_iso(slot)} is older than the last SPS run {metadata['last_timestamp']}: "
                         "late slots are refused (it would probe the next slot's desired count)")  # fmt: skip
    if metadata["workload_date"] != slot_date(slot):
        return RotationDecision(DESIRED_COUNTS[0], 0, True, False, RotationReason.FIRST_OF_DAY)
    index = int(metadata["desired_count_index"])
    return RotationDecision(DESIRED_COUNTS[index], index, False, False, RotationReason.NEXT_OF_DAY)


def advance(metadata: dict[str, Any] | None, decision: RotationDecision, slot: datetime) -> dict[str, Any]:
    """The metadata to store once the slot's raw object is stored: unchanged for the slot already recorded
    or an older one; otherwise this slot, its count and the next index (also when a rerun found the slot's
    raw object stored but its metadata write had failed, so the rerun converges to the clean run's state)."""
    if metadata is not None and valid_metadata(metadata) and slot_iso(slot) <= metadata["last_timestamp"]:
        return dict(metadata)
    return {
        "desired_count_index": (decision.index + 1) % len(DESIRED_COUNTS),
        "workload_date": slot_date(slot),
        "last_timestamp": slot_iso(slot),
        "last_desired_count": decision.desired_count,
    }
