"""Change detection (SPEC 7), pure and vectorised: ``compare(previous_observations, current) -> ChangeReport``.

An observation is what a merged row held for one (tier, type, region, zone, desired count): the compared
fields ``COMPARED_COLUMNS``. A current merged row is a change when its observation key is new, or when any
compared field differs from the last observation of that key. Missing equals missing. Time is not compared
(a row carried forward with the same values is no change), and DesiredCount is part of the key (the
rotation of the desired count alone is no change). Floats are compared exactly: the state stores them in
Parquet, which round-trips float64 bit for bit, and the raw datasets are parsed the same way every run.

The report also carries the next observations (the previous ones updated with every current row, new keys
appended), so the state written by the publisher comes from the same keyed match and is never recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from merge.keys import first_occurrence, key_codes, positions
from utils.constants import MERGED_COLUMNS, ROW_KEY_COLUMNS

COMPARED_COLUMNS = ("OndemandPrice", "SpotPrice", "Savings", "IF", "Score", "T2", "T3")
OBSERVATION_KEY = (*ROW_KEY_COLUMNS, "DesiredCount")
OBSERVATION_COLUMNS = (*OBSERVATION_KEY, *COMPARED_COLUMNS)
OBSERVATION_DTYPES = {
    "InstanceTier": "str", "InstanceType": "str", "Region": "str", "AvailabilityZone": "str",
    "DesiredCount": "int64", "OndemandPrice": "float64", "SpotPrice": "float64", "Savings": "float64",
    "IF": "float64", "Score": "float64", "T2": "int64", "T3": "int64",
}  # fmt: skip


@dataclass(frozen=True)
class ChangeReport:
    """What changed between the last observations and the current merged dataset.

    ``changes`` holds the changed rows of the current dataset (``MERGED_COLUMNS``, current order);
    ``new_rows`` of them had no observation; ``field_changes`` counts, per compared field, the rows whose
    value differs from their observation; ``observations`` are the next observations to store.
    """

    changes: pd.DataFrame
    total_rows: int
    new_rows: int
    field_changes: dict[str, int] = field(default_factory=dict)
    observations: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def changed_rows(self) -> int:
        return len(self.changes)

    @property
    def unchanged_rows(self) -> int:
        return self.total_rows - len(self.changes)


def empty_observations() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in OBSERVATION_DTYPES.items()})


def _same(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    return (current == previous) | (np.isnan(current) & np.isnan(previous))


def compare(previous_observations: pd.DataFrame, current: pd.DataFrame) -> ChangeReport:
    """Compare the current merged dataset with the last observations (see the module docstring).

    Args:
        previous_observations: ``OBSERVATION_COLUMNS`` rows, one per observation key (a duplicate key keeps
            its first row); empty on the first run.
        current: the merged dataset (``MERGED_COLUMNS``), one row per (tier, type, region, zone).
    """
    previous = previous_observations[list(OBSERVATION_COLUMNS)].reset_index(drop=True)
    current = current.reset_index(drop=True)
    prev_codes, cur_codes = key_codes([previous, current], OBSERVATION_KEY)
    keep = first_occurrence(prev_codes)
    if not keep.all():
        previous, prev_codes = previous[keep].reset_index(drop=True), prev_codes[keep]
    pos = positions(prev_codes, cur_codes)
    matched = pos >= 0
    safe_pos = np.maximum(pos, 0)
    changed = ~matched
    field_changes: dict[str, int] = {}
    for column in COMPARED_COLUMNS:
        now = current[column].to_numpy(dtype=np.float64, na_value=np.nan)
        before = previous[column].to_numpy(dtype=np.float64, na_value=np.nan)
        differs = np.zeros(len(current), dtype=bool)
        if len(previous):
            differs = matched & ~_same(now, before[safe_pos])
        field_changes[column] = int(differs.sum())
        changed |= differs

    # Next observations: previous rows with their compared fields updated in place, new keys appended.
    # Key columns of matched rows keep their first-seen casing (they match case-insensitively anyway).
    updated = previous.copy()
    update_at = pos[matched]
    for column in COMPARED_COLUMNS:
        values = previous[column].to_numpy(dtype=OBSERVATION_DTYPES[column], copy=True)
        values[update_at] = current[column].to_numpy(dtype=OBSERVATION_DTYPES[column])[matched]
        updated[column] = values
    appended = current.loc[~matched, list(OBSERVATION_COLUMNS)]
    observations = pd.concat([updated, appended], ignore_index=True) if len(appended) else updated
    observations = observations.astype(OBSERVATION_DTYPES)

    return ChangeReport(
        changes=current.loc[changed, MERGED_COLUMNS].reset_index(drop=True),
        total_rows=len(current),
        new_rows=int((~matched).sum()),
        field_changes=field_changes,
        observations=observations,
    )
