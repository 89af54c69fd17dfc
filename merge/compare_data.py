"""Change detection (docs/contract.md 7), pure and vectorised:
``compare(previous_observations, current) -> ChangeReport``.

What a reader of the time series holds is the series of *published* points. The observations remember the
last of them in two scopes (one frame, told apart by the ``Latest`` column):

- ``Latest == True``, one per row (tier, type, region, zone): the row's last published point, whatever its
  desired count;
- ``Latest == False``, one per (row, desired count): the last point published at that count.

A current merged row is a change when the row has no published point (new), when any of ``ROW_FIELDS``
(OndemandPrice, SpotPrice, Savings, IF, T2, T3) differs from the row's last published point, or when
Score differs from the last Score published at the row's desired count (or none was published at that
count). So a revert is written (prices are compared with the last published values, not with the last
observation at the same count), the rotation of the desired count alone is no change, and the series of
published points reconstructs every slot's values: replaying it, the latest point of a row at or before
slot S holds S's row fields, and the latest point at S's desired count holds S's Score. Missing equals
missing; Time is never compared. Floats are compared exactly: the state stores them in Parquet, which
round-trips float64 bit for bit, and the raw datasets are parsed the same way every run.

``keyframe=True`` (the first run of a UTC day, docs/contract.md 7) publishes every row, so "the latest point before
the window start" with a one-day look-back finds every series.

``forced`` (docs/contract.md 8, orphan slots) names row keys whose last published point the observations may
not know: an orphan slot (one that wrote the time series and died before its commit, ``merge.orphans``)
may have written another value for them. A current row with a forced key is published whatever it holds,
so the series is right again from this slot on; a forced key with no current row is *forgotten* (dropped
from the next observations), so that row is published as new when it returns instead of being compared
with a point that may not be the last one written. Like ``keyframe``, it only widens what is published:
every other row is decided exactly as without it.

The report carries the next observations (the previous ones updated with the published rows, new keys
appended), so the state written by the publisher comes from the same keyed match and is never recomputed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from merge.keys import contains, first_occurrence, key_codes, positions, text_categorical
from utils.constants import MERGED_COLUMNS, ROW_KEY_COLUMNS
from utils.vm_specs import spec_columns_in

log = logging.getLogger(__name__)

ROW_FIELDS = ("OndemandPrice", "SpotPrice", "Savings", "IF", "T2", "T3")
COMPARED_COLUMNS = (*ROW_FIELDS[:4], "Score", "T2", "T3")
OBSERVATION_KEY = (*ROW_KEY_COLUMNS, "DesiredCount")
OBSERVATION_COLUMNS = (*OBSERVATION_KEY, *COMPARED_COLUMNS, "Latest")
# Key text columns are categorical: 12 observations per row share few distinct values, and their codes make
# key matching cheap (merge.keys); the state stores them dictionary-encoded.
OBSERVATION_DTYPES = {
    "InstanceTier": "category", "InstanceType": "category", "Region": "category", "AvailabilityZone": "category",
    "DesiredCount": "int64", "OndemandPrice": "float64", "SpotPrice": "float64", "Savings": "float64",
    "IF": "float64", "Score": "float64", "T2": "int64", "T3": "int64", "Latest": "bool",
}  # fmt: skip


@dataclass(frozen=True)
class ChangeReport:
    """What changed between the last published points and the current merged dataset.

    ``changes`` holds the rows to publish (``MERGED_COLUMNS``, current order): the changed rows, or every
    row on a keyframe; ``new_rows`` of them had no published point; ``field_changes`` counts, per compared
    field, the rows whose value differs from the published one (Score: from the one published at the same
    count, or none published there); ``observations`` are the next observations to store.
    """

    changes: pd.DataFrame
    total_rows: int
    new_rows: int
    field_changes: dict[str, int] = field(default_factory=dict)
    observations: pd.DataFrame = field(default_factory=pd.DataFrame)
    keyframe: bool = False
    forced_rows: int = 0  # current rows with a forced key (all published, changed or not)
    forgotten_keys: int = 0  # forced keys without a current row, dropped from the observations

    @property
    def changed_rows(self) -> int:
        return len(self.changes)

    @property
    def unchanged_rows(self) -> int:
        return self.total_rows - len(self.changes)

    def published_points(self) -> pd.DataFrame:
        """The last published point of every known row (``Latest`` observations), after this slot."""
        latest = self.observations[self.observations["Latest"].to_numpy(dtype=bool)]
        return latest.drop(columns="Latest").reset_index(drop=True)


def empty_observations() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in OBSERVATION_DTYPES.items()})


def _values(frame: pd.DataFrame, column: str) -> np.ndarray:
    dtype = OBSERVATION_DTYPES[column]
    return frame[column].to_numpy(dtype=dtype, na_value=np.nan if dtype == "float64" else None)


def _differs(now: np.ndarray, before: np.ndarray) -> np.ndarray:
    if now.dtype.kind == "f":
        return ~((now == before) | (np.isnan(now) & np.isnan(before)))
    return now != before


def _dedup(frame: pd.DataFrame, codes: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    keep = first_occurrence(codes)
    if keep.all():
        return frame.reset_index(drop=True), codes
    return frame[keep].reset_index(drop=True), codes[keep]


def _next_scope(previous: pd.DataFrame, current: pd.DataFrame, pos: np.ndarray, publish: np.ndarray,
                latest: bool) -> dict[str, object]:  # fmt: skip
    """The columns of ``previous`` (one scope) with the published current rows written over their match or
    appended."""
    update = publish & (pos >= 0)
    append = publish & (pos < 0)
    appended = current.loc[append]
    columns: dict[str, object] = {}
    for column in (*OBSERVATION_KEY, *COMPARED_COLUMNS):
        dtype = OBSERVATION_DTYPES[column]
        if dtype == "category":
            # Key columns of matched rows keep their first-seen casing (keys match case-insensitively).
            parts = [text_categorical(previous[column]), text_categorical(appended[column])]
            columns[column] = union_categoricals(parts, ignore_order=True)
            continue
        before, now = _values(previous, column), _values(current, column)
        values = np.concatenate([before, now[append]])
        if column != "DesiredCount" or latest:  # a count observation's key never changes
            values[pos[update]] = now[update]
        columns[column] = values
    columns["Latest"] = np.full(len(previous) + int(append.sum()), latest)
    return columns


def _forced_masks(previous: pd.DataFrame, current: pd.DataFrame,
                  forced: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:  # fmt: skip
    """(current rows with a forced key, observations whose row key is forced and has no current row, how
    many distinct row keys those observations hold)."""
    previous_codes, current_codes, forced_codes = key_codes([previous, current, forced], ROW_KEY_COLUMNS)
    is_forced = contains(forced_codes, current_codes)
    gone = forced_codes[~contains(current_codes, forced_codes)]
    forget = contains(gone, previous_codes)
    return is_forced, forget, len(np.unique(previous_codes[forget]))


def compare(
    previous_observations: pd.DataFrame,
    current: pd.DataFrame,
    *,
    keyframe: bool = False,
    forced: pd.DataFrame | None = None,
) -> ChangeReport:
    """Compare the current merged dataset with the last published points (see the module docstring).

    Args:
        previous_observations: ``OBSERVATION_COLUMNS`` rows of both scopes (a duplicate key keeps its first
            row); empty on the first run (a state written before the ``Latest`` scope existed is given one
            by ``merge.state``).
        current: the merged dataset (``MERGED_COLUMNS``), one row per (tier, type, region, zone).
        keyframe: publish every row (the first run of a UTC day).
        forced: row keys (``ROW_KEY_COLUMNS``, internal naming, matched case-insensitively) to publish
            whatever they hold, and to forget where no current row has them (orphan slots, see the module
            docstring); None or empty: none.
    """
    current = current.reset_index(drop=True)
    is_forced = np.zeros(len(current), dtype=bool)
    forgotten_keys = 0
    if forced is not None and len(forced):
        is_forced, forget, forgotten_keys = _forced_masks(previous_observations, current, forced)
        if forget.any():
            # Forgotten rows drop both scopes of observations: when they return they are new, and published.
            previous_observations = previous_observations[~forget].reset_index(drop=True)
    is_latest = previous_observations["Latest"].to_numpy(dtype=bool)
    prev_latest, prev_count = previous_observations[is_latest], previous_observations[~is_latest]
    latest_codes, row_codes = key_codes([prev_latest, current], ROW_KEY_COLUMNS)
    count_codes, obs_codes = key_codes([prev_count, current], OBSERVATION_KEY)
    prev_latest, latest_codes = _dedup(prev_latest, latest_codes)
    prev_count, count_codes = _dedup(prev_count, count_codes)
    row_pos = positions(latest_codes, row_codes)
    count_pos = positions(count_codes, obs_codes)
    known = row_pos >= 0
    changed = ~known
    field_changes: dict[str, int] = {}
    for column in COMPARED_COLUMNS:
        differs = np.zeros(len(current), dtype=bool)
        now = _values(current, column)
        if column == "Score":
            at_count = known & (count_pos >= 0)
            differs[known & (count_pos < 0)] = True  # nothing published at this count yet
            differs[at_count] = _differs(now[at_count], _values(prev_count, column)[count_pos[at_count]])
        else:
            differs[known] = _differs(now[known], _values(prev_latest, column)[row_pos[known]])
        field_changes[column] = int(differs.sum())
        changed |= differs
    publish = np.ones(len(current), dtype=bool) if keyframe else changed | is_forced
    scopes = (_next_scope(prev_latest, current, row_pos, publish, latest=True),
              _next_scope(prev_count, current, count_pos, publish, latest=False))  # fmt: skip
    columns = {
        column: union_categoricals([scope[column] for scope in scopes], ignore_order=True)
        if OBSERVATION_DTYPES[column] == "category" else np.concatenate([scope[column] for scope in scopes])
        for column in OBSERVATION_COLUMNS
    }  # fmt: skip
    # copy=False: the arrays above are fresh; consolidating them into 2-D blocks would copy 1-2 M rows again.
    observations = pd.DataFrame(columns, copy=False)
    return ChangeReport(
        changes=current.loc[publish, [*MERGED_COLUMNS, *spec_columns_in(current)]].reset_index(drop=True),
        total_rows=len(current),
        new_rows=int((~known).sum()),
        field_changes=field_changes,
        observations=observations,
        keyframe=keyframe,
        forced_rows=int(is_forced.sum()),
        forgotten_keys=forgotten_keys,
    )


def restatement_rows(current: pd.DataFrame, previous_merged: pd.DataFrame) -> pd.DataFrame:
    """What a reader should see at this slot for every row a failed earlier attempt may have published:
    the current merged rows, and the previous slot's rows not merged now (their last values, no change).

    A sink that cannot delete (Timestream) rewrites the series keys an earlier attempt of the slot wrote and
    this attempt does not change with these rows (``utils.timeseries.with_restatements``).
    """
    current_codes, previous_codes = key_codes([current, previous_merged], ROW_KEY_COLUMNS)
    gone = ~contains(current_codes, previous_codes)
    columns = [*MERGED_COLUMNS, *spec_columns_in(current)]  # the VM specs ride along for the SQLite/Parquet sinks
    rows = [current[columns]]
    if gone.any():
        rows.append(previous_merged.loc[gone].reindex(columns=columns))
    return pd.concat(rows, ignore_index=True) if len(rows) > 1 else rows[0].reset_index(drop=True)
