"""Integer codes for composite keys, so joins and comparisons never build string-concatenated keys.

``key_codes([a, b], ["InstanceTier", "InstanceType", "Region"])`` returns one int64 array per frame; two
rows (of the same or different frames) get the same code exactly when their key columns are equal, string
columns compared case-insensitively (SPEC 6: joins on (tier, type, region) ignore case). Each column is
factorised once over all frames; only the distinct values are lower-cased, so the cost is one hash pass per
column.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

# Recode to dense codes before the mixed-radix product could overflow int64.
_RADIX_LIMIT = 2**62


def _column_codes(values: pd.Series) -> tuple[np.ndarray, int]:
    """Dense codes (0 = missing) and the code count for one column, strings compared case-insensitively."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if len(uniques) and (pd.api.types.is_string_dtype(uniques.dtype) or uniques.dtype == object):
        folded = pd.Series(uniques).astype("str").str.lower()
        fold_codes, fold_uniques = pd.factorize(folded)
        codes = np.where(codes >= 0, fold_codes[np.maximum(codes, 0)], -1)
        return codes.astype(np.int64) + 1, len(fold_uniques) + 1
    return codes.astype(np.int64) + 1, len(uniques) + 1


def key_codes(frames: Sequence[pd.DataFrame], columns: Sequence[str]) -> list[np.ndarray]:
    """One int64 code array per frame for the composite key ``columns`` (see the module docstring)."""
    lengths = [len(frame) for frame in frames]
    combined = np.zeros(sum(lengths), dtype=np.int64)
    radix = 1
    for column in columns:
        values = pd.concat([frame[column] for frame in frames], ignore_index=True)
        codes, count = _column_codes(values)
        if radix * count >= _RADIX_LIMIT:
            combined, uniques = pd.factorize(combined)
            combined = combined.astype(np.int64)
            radix = len(uniques)
        combined = combined * count + codes
        radix *= count
    bounds = np.cumsum([0, *lengths])
    return [combined[bounds[i] : bounds[i + 1]] for i in range(len(frames))]


def positions(target_codes: np.ndarray, probe_codes: np.ndarray) -> np.ndarray:
    """For each probe code, the position of the same code in ``target_codes`` (unique), or -1."""
    return pd.Index(target_codes).get_indexer(probe_codes)


def first_occurrence(codes: np.ndarray) -> np.ndarray:
    """Boolean mask keeping the first row of each code (deduplication in input order)."""
    return ~pd.Index(codes).duplicated(keep="first")


def sort_order(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Row positions that sort ``frame`` by ``columns`` (lexicographic, exact values, missing last); stable."""
    keys = []
    for column in reversed(columns):
        codes, _ = pd.factorize(frame[column], sort=True, use_na_sentinel=True)
        keys.append(np.where(codes < 0, np.iinfo(np.int64).max, codes))
    return np.lexsort(keys) if keys else np.arange(len(frame))
