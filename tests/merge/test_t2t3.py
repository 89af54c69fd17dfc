"""T2/T3 (docs/contract.md 7): table-driven multi-run sequences and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from merge.t2t3 import next_lower_count, update_t2_t3
from utils.constants import DESIRED_COUNTS

H, M, L = 3.0, 2.0, 1.0
NO_PROBE = None  # the row was not probed in that run
STALE = math.nan  # probed, but Azure returned no score (DataNotFoundOrStale)

# Each step: (count or NO_PROBE, score) -> expected (T2, T3) after the run. Start: first ever (T missing).
SEQUENCES = {
    "rising: High at every count climbs T2 and T3": [
        ((1, H), (1, 1)), ((5, H), (5, 5)), ((10, H), (10, 10)), ((15, H), (15, 15)), ((50, H), (50, 50)),
    ],
    "falling: Medium then Low lower T3 then T2 to the next lower count": [
        ((1, H), (1, 1)), ((5, H), (5, 5)), ((10, M), (10, 5)), ((15, L), (10, 5)), ((10, L), (5, 5)),
        ((5, M), (5, 1)), ((1, L), (0, 0)),
    ],
    "a lower probe scoring High does not lower T": [
        ((20, H), (20, 20)), ((1, H), (20, 20)), ((5, M), (20, 1)),
    ],
    "missing probes leave T unchanged": [
        ((1, H), (1, 1)), ((NO_PROBE, None), (1, 1)), ((10, M), (10, 1)), ((NO_PROBE, None), (10, 1)),
    ],
    "a probe without a score counts as no probe": [
        ((5, H), (5, 5)), ((10, STALE), (5, 5)), ((1, STALE), (5, 5)), ((10, L), (5, 5)),
    ],
    "first day: a first Low probe gives 0, a first High at 50 gives 50": [
        ((5, L), (0, 0)), ((50, H), (50, 50)),
    ],
    "first day: a first probe without a score gives 0": [
        ((1, STALE), (0, 0)), ((5, M), (5, 0)),
    ],
    "Low at the lowest count gives 0 for both": [
        ((10, H), (10, 10)), ((1, L), (0, 0)),
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_t2_t3_follow_the_rule_over_multi_run_sequences(name: str) -> None:
    t2, t3 = np.array([np.nan]), np.array([np.nan])  # first ever: no previous estimate
    for step, ((count, score), expected) in enumerate(SEQUENCES[name]):
        count_arr = np.array([np.nan if count is None else count], dtype=float)
        score_arr = np.array([np.nan if score is None else score], dtype=float)
        t2, t3 = update_t2_t3(t2, t3, count_arr, score_arr)
        assert (int(t2[0]), int(t3[0])) == expected, f"{name}: step {step}"


def test_rows_are_updated_independently_in_one_vectorised_call() -> None:
    t2, t3 = update_t2_t3(
        np.array([5, 5, 5, 0]), np.array([5, 1, 0, 0]), np.array([10, 10, np.nan, 1]), np.array([H, L, H, M])
    )
    assert t2.tolist() == [10, 5, 5, 1]
    assert t3.tolist() == [10, 1, 0, 0]


def test_next_lower_count_is_the_previous_desired_count_and_zero_below_one() -> None:
    assert next_lower_count(np.array(DESIRED_COUNTS)).tolist() == [0, *DESIRED_COUNTS[:-1]]
    with pytest.raises(ValueError, match="not in"):
        next_lower_count(np.array([7]))


steps = st.lists(
    st.tuples(st.sampled_from([None, *DESIRED_COUNTS]), st.sampled_from([H, M, L, STALE])), min_size=1, max_size=30
)


@given(st.lists(steps, min_size=1, max_size=5))
def test_t3_never_exceeds_t2_t_stays_in_the_count_set_and_never_moves_without_a_probe(rows: list) -> None:
    width = len(rows)
    length = max(len(r) for r in rows)
    t2 = np.full(width, np.nan)
    t3 = np.full(width, np.nan)
    allowed = {0, *DESIRED_COUNTS}
    for step in range(length):
        counts = np.array([np.nan if step >= len(r) or r[step][0] is None else r[step][0] for r in rows], float)
        scores = np.array([np.nan if step >= len(r) else r[step][1] for r in rows], float)
        before2 = np.nan_to_num(t2, nan=0.0)
        before3 = np.nan_to_num(t3, nan=0.0)
        t2, t3 = update_t2_t3(t2, t3, counts, scores)
        assert (t3 <= t2).all()
        assert set(t2.tolist()) | set(t3.tolist()) <= allowed
        not_probed = np.isnan(counts) | np.isnan(scores)
        assert (t2[not_probed] == before2[not_probed]).all()
        assert (t3[not_probed] == before3[not_probed]).all()
        probed = ~not_probed
        assert (t3[probed & (scores == H)] >= counts[probed & (scores == H)]).all()
        assert (t2[probed & (scores == L)] < counts[probed & (scores == L)]).all()
