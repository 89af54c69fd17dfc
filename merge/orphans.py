"""Orphan slots (docs/contract.md 8): slots that wrote the time series and died before their commit, and were
never rerun.

The merge publishes the time series (step 4) before it commits the state (steps 7-9, ``merge.upload_data``).
A merge that dies in between leaves that slot's points in the sink while the committed state, which the next
merge compares with, does not know them. A rerun of the same slot replaces them (``utils.timeseries``), but
once the next scheduled slot has run the older one is refused as late (``merge.slot_order``), so its points
stay: genuine observations of that slot, but not the ones the next slot's change detection compares with.
Example: a row published price p0 at S0 (committed); S1 writes p1 and dies; S2 sees p0 again and, against
S0's observations, finds no change. A reader then takes p1 as the row's value from S1 on, for good.

Every sink that stores points records the series keys of a slot before it writes them (the key ledger,
``utils.timeseries.timeseries_written_key``). An *orphan slot* of a merge of slot S from base slot B (the
newest committed snapshot before S, ``merge.state``) is a slot with a ledger strictly between B and S: it
wrote, and no committed slot up to B has taken it into account. Every key of an orphan ledger is forced
into S's publication (``merge.compare_data.compare(forced=...)``): published with S's values if S has the
row, forgotten otherwise (published as new when it returns). The orphan slot's own points stay.

The ledgers hold the series keys as the sinks write them, in the public naming (``Region`` is the display
location); ``forced_row_keys`` maps them back to the internal row keys (``Region`` is the ARM code) through
the rows of this slot and of the base, the only rows whose observations can be affected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from merge.public import timeseries_frame
from utils.constants import ROW_KEY_COLUMNS
from utils.errors import CorruptObject, ObjectNotFound
from utils.store import Store
from utils.timeseries import DIMENSION_COLUMNS, SeriesKey, list_written_ledgers, normalise_records, read_written_keys
from utils.timestamps import slot_iso

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Orphans:
    """The orphan slots of one merge and the series keys their ledgers hold.

    ``keys`` is None when an orphan ledger could not be read: what that slot wrote is unknown.
    """

    slots: tuple[datetime, ...] = ()
    keys: frozenset[SeriesKey] | None = frozenset()

    def __bool__(self) -> bool:
        return bool(self.slots)


def orphan_slots(ledger_slots: list[datetime], base_slot: datetime | None, slot: datetime) -> list[datetime]:
    """The ledgers' slots strictly between the base slot and ``slot`` (pure).

    Without a base slot (the first run, or a state restored by hand without snapshots) there are none: that
    merge is a keyframe (``merge.merge_data.is_keyframe``) and publishes every row anyway.
    """
    if base_slot is None:
        return []
    return sorted(at for at in ledger_slots if base_slot < at < slot)


def find_orphans(store: Store, base_slot: datetime | None, slot: datetime) -> Orphans:
    """The orphan slots of a merge of ``slot`` from ``base_slot``, with their ledgers read."""
    found = orphan_slots([at for at, _key in list_written_ledgers(store)], base_slot, slot)
    keys: set[SeriesKey] | None = set()
    for at in found:
        try:
            written = read_written_keys(store, at)
        except ObjectNotFound:
            continue  # pruned or removed since it was listed: nothing left to account for
        except CorruptObject as exc:
            # What that slot wrote is unknown; the caller then forces every row it knows (see forced_row_keys).
            log.warning("orphan ledger of %s unreadable (%s): every known row is republished", slot_iso(at), exc)
            keys = None
            continue
        if keys is not None:
            keys |= written
    return Orphans(tuple(found), None if keys is None else frozenset(keys))


def _series_keys_of(merged: pd.DataFrame) -> pd.MultiIndex:
    """The series key of each merged row, exactly as the sinks write it (public naming, ``N/A`` for none)."""
    return pd.MultiIndex.from_frame(normalise_records(timeseries_frame(merged))[DIMENSION_COLUMNS])


def forced_row_keys(orphans: Orphans, current: pd.DataFrame, base_merged: pd.DataFrame,
                    base_observations: pd.DataFrame) -> pd.DataFrame:  # fmt: skip
    """The internal row keys (``ROW_KEY_COLUMNS``) to force for ``orphans`` (pure).

    The rows of ``current`` and of ``base_merged`` whose series key an orphan ledger holds. A key found in
    neither was new at the orphan slot and gone again; no observation holds it, so nothing needs forcing.
    When a ledger was unreadable (``keys`` None), every row of ``current`` and every observed row: all
    current rows are republished and every other row is forgotten.
    """
    if orphans.keys is None:
        return _keys_frame([current[ROW_KEY_COLUMNS], base_observations[ROW_KEY_COLUMNS]])
    if not orphans.keys:
        return _keys_frame([])
    wanted = pd.MultiIndex.from_tuples(sorted(orphans.keys), names=DIMENSION_COLUMNS)
    return _keys_frame([merged.loc[_series_keys_of(merged).isin(wanted), ROW_KEY_COLUMNS]
                        for merged in (current, base_merged) if len(merged)])  # fmt: skip


def _keys_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Row keys as plain objects (the parts' categoricals differ; a missing zone stays missing, as
    ``merge.keys`` matches it)."""
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in ROW_KEY_COLUMNS})
    frame = pd.concat([p.astype(object) for p in parts], ignore_index=True)
    return frame.drop_duplicates(ignore_index=True)


def orphan_details(orphans: Orphans, forced_rows: int, forgotten_keys: int) -> dict[str, Any]:
    """The summary fields of a merge that had orphan slots (none without: the normal summary is unchanged)."""
    if not orphans:
        return {}
    return {
        "orphan_slots": [slot_iso(at) for at in orphans.slots],
        "orphan_keys": None if orphans.keys is None else len(orphans.keys),
        "orphan_keys_republished": forced_rows,
        "orphan_keys_forgotten": forgotten_keys,
    }


def log_orphans(orphans: Orphans, forced_rows: int, forgotten_keys: int) -> None:
    """The one warning of a merge that had orphan slots."""
    if not orphans:
        return
    held = "unknown (unreadable ledger)" if orphans.keys is None else str(len(orphans.keys))
    log.warning("orphan slot(s) %s wrote the time series and were never committed (series keys: %s): "
                "%d series force-published at this slot, %d without a row here forgotten (published as new "
                "when they return)", ", ".join(slot_iso(at) for at in orphans.slots), held, forced_rows,
                forgotten_keys)  # fmt: skip
