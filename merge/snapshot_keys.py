"""Where the merge's state snapshots live and which slot a key holds (no pandas: the slot-order check
imports this before every run, and it only lists keys).

A snapshot is ``latest_data/azure/states/YYYY/MM/DD/HH-MM.parquet``; ``merge.state`` reads and writes them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from utils.store import Store
from utils.timestamps import slot_date_path, slot_hhmm

SNAPSHOT_PREFIX = "latest_data/azure/states"
_SNAPSHOT_RE = re.compile(re.escape(SNAPSHOT_PREFIX) + r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})-(\d{2})\.parquet$")


def snapshot_key(slot: datetime) -> str:
    """The key of the snapshot of ``slot``."""
    return f"{SNAPSHOT_PREFIX}/{slot_date_path(slot)}/{slot_hhmm(slot)}.parquet"


def snapshot_slot(key: str) -> datetime | None:
    """The slot of a snapshot key; None for any other key."""
    match = _SNAPSHOT_RE.match(key)
    if match is None:
        return None
    year, month, day, hour, minute = (int(g) for g in match.groups())
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def list_snapshots(store: Store) -> list[tuple[datetime, str]]:
    """(slot, key) of every stored snapshot, oldest first."""
    found = []
    for key in store.list_keys(f"{SNAPSHOT_PREFIX}/"):
        slot = snapshot_slot(key)
        if slot is not None:
            found.append((slot, key))
    return sorted(found)
