"""Where the merge's state snapshots live and which slot a key holds (no pandas: the slot-order check
imports this before every run, and it only lists keys).

A snapshot is ``latest_data/azure/states/YYYY/MM/DD/HH-MM.parquet``; ``merge.state`` reads and writes them.
"""

from __future__ import annotations

from datetime import datetime

from utils.slot_objects import SlotObjects
from utils.store import Store

SNAPSHOT_PREFIX = "latest_data/azure/states"
SNAPSHOTS = SlotObjects(SNAPSHOT_PREFIX, ".parquet")


def snapshot_key(slot: datetime) -> str:
    """The key of the snapshot of ``slot``."""
    return SNAPSHOTS.key(slot)


def snapshot_slot(key: str) -> datetime | None:
    """The slot of a snapshot key; None for any other key."""
    return SNAPSHOTS.slot(key)


def list_snapshots(store: Store) -> list[tuple[datetime, str]]:
    """(slot, key) of every stored snapshot, oldest first."""
    return SNAPSHOTS.list(store)
