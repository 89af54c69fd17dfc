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
from pandas.api.types import union_categoricals

from merge.keys import first_occurrence, key_codes, positions, text_categorical
from utils.constants import MERGED_COLUMNS, ROW_KEY_COLUMNS
from utils.vm_specs import spec_columns_in

COMPARED_COLUMNS = ("OndemandPrice", "SpotPrice", "Savings", "IF", "Score", "T2", "T3")
OBSERVATION_KEY = (*ROW_KEY_COLUMNS, "DesiredCount")
OBSERVATION_COLUMNS = (*OBSERVATION_KEY, *COMPARED_COLUMNS)
# Key text columns are categorical: 11 observations per row share few distinct values, and their codes make
# key matching cheap (merge.keys); the state stores them dictionary-encoded.
OBSERVATION_DTYPES = {
    "InstanceTier": "category", "InstanceType": "category", "Region": "category", "AvailabilityZone": "category",
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
    previous = previous_observations
    current = current.reset_index(drop=True)
    prev_codes, cur_codes = key_codes([previous, current], OBSERVATION_KEY)
    keep = first_occurrence(prev_codes)
    if not keep.all():
        previous, prev_codes = previous[keep], prev_codes[keep]
    pos = positions(prev_codes, cur_codes)
    matched = pos >= 0
    update_at = pos[matched]
    changed = ~matched
    field_changes: dict[str, int] = {}
    columns: dict[str, object] = {}
    appended = current.loc[~matched]
    for column in COMPARED_COLUMNS:
        dtype = OBSERVATION_DTYPES[column]
        now = current[column].to_numpy(dtype=dtype, na_value=np.nan if dtype == "float64" else None)
        before = previous[column].to_numpy(dtype=dtype, na_value=np.nan if dtype == "float64" else None)
        differs = np.zeros(len(current), dtype=bool)
        if dtype == "float64":
            differs[matched] = ~_same(now[matched], before[update_at])
        else:
            differs[matched] = now[matched] != before[update_at]
        field_changes[column] = int(differs.sum())
        changed |= differs
        # Next observations: previous values updated in place, new keys appended (one copy per column).
        values = np.concatenate([before, now[~matched]])
        values[update_at] = now[matched]
        columns[column] = values
    for column in OBSERVATION_KEY:
        if OBSERVATION_DTYPES[column] == "category":
            # Key columns of matched rows keep their first-seen casing (keys match case-insensitively).
            parts = [text_categorical(previous[column]), text_categorical(appended[column])]
            columns[column] = union_categoricals(parts, ignore_order=True)
        else:
            columns[column] = np.concatenate([previous[column].to_numpy(dtype=OBSERVATION_DTYPES[column]),
                                              appended[column].to_numpy(dtype=OBSERVATION_DTYPES[column])])
    # copy=False: the arrays above are fresh; consolidating them into 2-D blocks would copy 1-2 M rows again.
    observations = pd.DataFrame({column: columns[column] for column in OBSERVATION_COLUMNS}, copy=False)

    return ChangeReport(
        changes=current.loc[changed, [*MERGED_COLUMNS, *spec_columns_in(current)]].reset_index(drop=True),
        total_rows=len(current),
        new_rows=int((~matched).sum()),
        field_changes=field_changes,
        observations=observations,
    )
