"""T2/T3 update (docs/contract.md 7), pure and vectorised.

T3 is the largest desired count at which the score was High (3); T2 the largest at which it was Medium (2)
or High. They are carried per (tier, type, region, zone) across the desired-count rotation:

- a probe at count c scoring >= the threshold: T = max(T_prev, c)
- a probe at count c scoring below it: T = min(T_prev, the next lower count in DESIRED_COUNTS; 0 below 1)
- no probe for the row in this run: T unchanged.

Decisions where docs/contract.md 7 is silent:
- T_prev missing (a row seen for the first time) counts as 0.
- A probe whose score is missing (ScoreLabel DataNotFoundOrStale, RestrictedSkuNotAvailable, ...) is treated
  as no probe: Azure gave no evidence either way, so T stays where it was.

Example (T3 of one row over five runs)::

    run count score  T3
    1   1     High   1
    2   5     High   5
    3   10    Low    5   (min(5, next lower of 10 = 5))
    4   15    n/a    5   (no probe)
    5   1     Low    0   (below 1)
"""

from __future__ import annotations

import numpy as np

from utils.constants import DESIRED_COUNTS

T3_MIN_SCORE = 3.0  # High
T2_MIN_SCORE = 2.0  # Medium or High

_COUNTS = np.asarray(DESIRED_COUNTS, dtype=np.int64)
_LOWER = np.concatenate([[0], _COUNTS[:-1]])  # next lower count of each entry; 0 below the first


def next_lower_count(counts: np.ndarray) -> np.ndarray:
    """The next lower desired count of each count (0 for the lowest). ValueError for a count not in the list."""
    counts = np.asarray(counts, dtype=np.int64)
    index = np.searchsorted(_COUNTS, counts)
    valid = (index < len(_COUNTS)) & (_COUNTS[np.minimum(index, len(_COUNTS) - 1)] == counts)
    if not valid.all():
        raise ValueError(f"desired counts not in {DESIRED_COUNTS}: {sorted(set(counts[~valid].tolist()))}")
    return _LOWER[index]


def update_threshold(previous: np.ndarray, count: np.ndarray, score: np.ndarray, min_score: float) -> np.ndarray:
    """New T per row.

    Args:
        previous: T_prev per row (NaN = never estimated = 0).
        count: desired count probed for the row in this run, NaN (or any value) where not probed.
        score: score of that probe (3/2/1), NaN where not probed or no score.
        min_score: the threshold (``T3_MIN_SCORE`` or ``T2_MIN_SCORE``).

    Returns:
        int64 array of T values, each 0 or one of DESIRED_COUNTS.
    """
    previous = np.nan_to_num(np.asarray(previous, dtype=np.float64), nan=0.0).astype(np.int64)
    score = np.asarray(score, dtype=np.float64)
    count = np.asarray(count, dtype=np.float64)
    probed = ~np.isnan(score) & ~np.isnan(count)
    result = previous.copy()
    if not probed.any():
        return result
    probed_count = count[probed].astype(np.int64)
    lower = next_lower_count(probed_count)
    at_least = score[probed] >= min_score
    result[probed] = np.where(
        at_least, np.maximum(previous[probed], probed_count), np.minimum(previous[probed], lower)
    )
    return result


def update_t2_t3(
    previous_t2: np.ndarray, previous_t3: np.ndarray, count: np.ndarray, score: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(T2, T3) after this run's probes; see ``update_threshold``. T3 <= T2 holds when it held before."""
    return (
        update_threshold(previous_t2, count, score, T2_MIN_SCORE),
        update_threshold(previous_t3, count, score, T3_MIN_SCORE),
    )
