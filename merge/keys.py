"""Integer codes for composite keys, so joins and comparisons never build string-concatenated keys.

``key_codes([a, b], ["InstanceTier", "InstanceType", "Region"])`` returns one int64 array per frame; two
rows (of the same or different frames) get the same code exactly when their key columns are equal, string
columns compared case-insensitively (docs/contract.md 6: joins on (tier, type, region) ignore case). Each column is
factorised per frame (free for a categorical column: its codes), and only the distinct values are
lower-cased and matched across frames, so the cost is about one hash pass per column and row.

Codes are mixed-radix numbers over the per-column cardinalities, small enough in practice (tiers x sizes x
regions x zones x counts, about 10 million) for ``positions`` to use a direct-address table instead of a
hash table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

# Recode to dense codes before the mixed-radix product could overflow int64.
_RADIX_LIMIT = 2**62
# Largest code space served by a direct-address table (int32 entries: 64 MiB); above it, a hash index.
_DIRECT_LIMIT = 2**24


def _frame_codes(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes (-1 = missing) and distinct values of one column of one frame."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(dtype=np.int64), pd.Series(values.cat.categories)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64, copy=False), pd.Series(uniques)


def _is_text(values: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(values.dtype) or values.dtype == object


def key_codes(frames: Sequence[pd.DataFrame], columns: Sequence[str]) -> list[np.ndarray]:
    """One int64 code array per frame for the composite key ``columns`` (see the module docstring)."""
    codes_per_frame = [np.zeros(len(frame), dtype=np.int64) for frame in frames]
    radix = 1
    for column in columns:
        local = [_frame_codes(frame[column]) for frame in frames]
        uniques = pd.concat([u for _, u in local], ignore_index=True)
        if len(uniques) and _is_text(uniques):
            uniques = uniques.astype("str").str.lower()
        shared, distinct = pd.factorize(uniques, use_na_sentinel=True)
        count = len(distinct) + 1  # 0 = missing
        if radix * count >= _RADIX_LIMIT:
            dense, dense_uniques = pd.factorize(np.concatenate(codes_per_frame))
            bounds = np.cumsum([0, *(len(f) for f in frames)])
            codes_per_frame = [dense[bounds[i] : bounds[i + 1]].astype(np.int64) for i in range(len(frames))]
            radix = len(dense_uniques)
        offset = 0
        for i, (codes, frame_uniques) in enumerate(local):
            # mapping[-1] (a missing value) is the appended 0.
            mapping = np.append(shared[offset : offset + len(frame_uniques)] + 1, 0).astype(np.int64)
            codes_per_frame[i] = codes_per_frame[i] * count + mapping[codes]
            offset += len(frame_uniques)
        radix *= count
    return codes_per_frame


def _code_space(*arrays: np.ndarray) -> int:
    return int(max((a.max() for a in arrays if len(a)), default=-1)) + 1


def positions(target_codes: np.ndarray, probe_codes: np.ndarray) -> np.ndarray:
    """For each probe code, the position of the same code in ``target_codes`` (unique), or -1."""
    size = _code_space(target_codes, probe_codes)
    if size > _DIRECT_LIMIT or (target_codes.min(initial=0) < 0) or (probe_codes.min(initial=0) < 0):
        return pd.Index(target_codes).get_indexer(probe_codes)
    # Zero-filled (lazily mapped pages) holding position + 1, so untouched entries read as -1.
    table = np.zeros(size, dtype=np.int32 if len(target_codes) < 2**31 - 1 else np.int64)
    table[target_codes] = np.arange(1, len(target_codes) + 1, dtype=table.dtype)
    return table[probe_codes].astype(np.int64) - 1


def contains(target_codes: np.ndarray, probe_codes: np.ndarray) -> np.ndarray:
    """For each probe code, whether it occurs in ``target_codes`` (duplicates allowed)."""
    size = _code_space(target_codes, probe_codes)
    if size > _DIRECT_LIMIT or (target_codes.min(initial=0) < 0) or (probe_codes.min(initial=0) < 0):
        return np.isin(probe_codes, target_codes)
    table = np.zeros(size, dtype=bool)
    table[target_codes] = True
    return table[probe_codes]


def first_occurrence(codes: np.ndarray) -> np.ndarray:
    """Boolean mask keeping the first row of each code (deduplication in input order)."""
    size = _code_space(codes)
    if size <= _DIRECT_LIMIT and codes.min(initial=0) >= 0:
        seen = np.zeros(size, dtype=bool)
        seen[codes] = True
        if int(seen.sum()) == len(codes):
            return np.ones(len(codes), dtype=bool)  # the usual case: already unique
    return ~pd.Index(codes).duplicated(keep="first")


def text_categorical(values: pd.Series) -> pd.Categorical:
    """``values`` as a categorical whose categories are ``str`` (so categoricals can be united)."""
    categorical = pd.Categorical(values) if not isinstance(values.dtype, pd.CategoricalDtype) else values.array
    return categorical.rename_categories(pd.Index(categorical.categories, dtype="str"))


def sort_order(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Row positions that sort ``frame`` by ``columns`` (lexicographic, exact values, missing last); stable."""
    keys = []
    for column in reversed(columns):
        codes, _ = pd.factorize(frame[column], sort=True, use_na_sentinel=True)
        keys.append(np.where(codes < 0, np.iinfo(np.int64).max, codes))
    return np.lexsort(keys) if keys else np.arange(len(frame))
