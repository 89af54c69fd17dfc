"""QuotaLedger: never more than capacity per (subscription, location) in any window; round robin; persistence."""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from sps_module.quota_ledger import (
    QuotaLedger,
    subscriptions_needed,
    subscriptions_needed_rate_only,
    sweeps_per_window,
)

WINDOW = 62 * 60.0


def test_acquire_spreads_calls_round_robin_over_subscriptions_then_locations():
    ledger = QuotaLedger(["s1", "s2", "s3"], ["eastus", "westus"], capacity=10, window_seconds=WINDOW)
    got = [ledger.acquire(0.0) for _ in range(6)]
    assert got == [("s1", "eastus"), ("s2", "eastus"), ("s3", "eastus"),
                   ("s1", "westus"), ("s2", "westus"), ("s3", "westus")]


def test_acquire_returns_none_when_every_bucket_is_used_up():
    ledger = QuotaLedger(["s1", "s2"], ["eastus"], capacity=3, window_seconds=WINDOW)
    assert all(ledger.acquire(10.0) is not None for _ in range(6))
    assert ledger.acquire(20.0) is None
    assert ledger.available(20.0) == 0


def test_capacity_returns_when_calls_leave_the_window():
    ledger = QuotaLedger(["s1"], ["eastus"], capacity=2, window_seconds=100.0)
    ledger.acquire(0.0)
    ledger.acquire(50.0)
    assert ledger.acquire(99.0) is None
    assert ledger.acquire(100.0) == ("s1", "eastus")  # the call at 0 is out of (0, 100]


def test_a_429_benches_the_bucket_for_a_whole_window():
    ledger = QuotaLedger(["s1", "s2"], ["eastus"], capacity=10, window_seconds=WINDOW)
    ledger.mark_over_limit(("s1", "eastus"), 0.0)
    assert {ledger.acquire(1.0) for _ in range(10)} == {("s2", "eastus")}
    assert ledger.acquire(2.0) is None
    assert ledger.acquire(WINDOW + 1.0) == ("s1", "eastus")


def test_avoid_skips_a_bucket_when_another_has_capacity():
    ledger = QuotaLedger(["s1", "s2"], ["eastus"], capacity=10, window_seconds=WINDOW)
    assert ledger.acquire(0.0, avoid=[("s1", "eastus")]) == ("s2", "eastus")


def test_persistence_round_trip_keeps_history_cooldowns_and_the_round_robin_point():
    ledger = QuotaLedger(["s1", "s2"], ["eastus", "westus"], capacity=3, window_seconds=WINDOW)
    for _ in range(5):
        ledger.acquire(100.0)
    ledger.mark_over_limit(("s2", "westus"), 100.0)
    history, cool, last = ledger.call_history(200.0), ledger.over_limit(200.0), ledger.last_bucket

    restored = QuotaLedger(["s1", "s2"], ["eastus", "westus"], capacity=3, window_seconds=WINDOW)
    restored.restore(history, cool)
    restored.resume_after(last)
    assert restored.call_history(200.0) == history
    assert restored.over_limit(200.0) == cool
    assert restored.available(200.0) == ledger.available(200.0)
    assert restored.acquire(200.0) == ledger.acquire(200.0)


def test_history_older_than_the_window_is_pruned_when_saved():
    ledger = QuotaLedger(["s1"], ["eastus"], capacity=3, window_seconds=100.0)
    ledger.acquire(0.0)
    ledger.acquire(60.0)
    assert ledger.call_history(150.0) == {"s1/eastus": [60.0]}


def test_assume_exhausted_blocks_every_bucket_for_one_window():
    ledger = QuotaLedger(["s1", "s2"], ["eastus", "westus"], capacity=10, window_seconds=WINDOW)
    ledger.assume_exhausted(1000.0)
    assert ledger.acquire(1000.0 + WINDOW - 1) is None
    assert ledger.acquire(1000.0 + WINDOW) is not None


def test_subscriptions_needed_counts_the_seven_sweeps_that_share_a_62_minute_window():
    assert sweeps_per_window(62) == 7
    assert subscriptions_needed(871, 58, 10, 62) == math.ceil(871 * 7 / 580) == 11
    assert subscriptions_needed_rate_only(871, 58, 10, 62) == 10
    assert subscriptions_needed(0, 58, 10, 62) == 0


@settings(max_examples=60, deadline=None)
@given(
    subs=st.integers(1, 3),
    locs=st.integers(1, 3),
    capacity=st.integers(1, 4),
    steps=st.lists(st.tuples(st.floats(0, 50), st.booleans()), min_size=1, max_size=120),
)
def test_no_bucket_ever_exceeds_capacity_in_any_window(subs, locs, capacity, steps):
    window = 100.0
    ledger = QuotaLedger([f"s{i}" for i in range(subs)], [f"l{i}" for i in range(locs)], capacity, window)
    now = 0.0
    made: dict[tuple[str, str], list[float]] = {}
    for gap, throttle in steps:
        now += gap
        bucket = ledger.acquire(now)
        if bucket is None:
            assert ledger.available(now) == 0
            continue
        made.setdefault(bucket, []).append(now)
        if throttle and len(made[bucket]) % 5 == 0:
            ledger.mark_over_limit(bucket, now)
    for times in made.values():
        for start in times:
            in_window = [t for t in times if start <= t < start + window]
            assert len(in_window) <= capacity


@settings(max_examples=40, deadline=None)
@given(subs=st.integers(1, 4), locs=st.integers(1, 4), calls=st.integers(1, 40))
def test_round_robin_spreads_calls_evenly_over_buckets(subs, locs, calls):
    ledger = QuotaLedger([f"s{i}" for i in range(subs)], [f"l{i}" for i in range(locs)], 1000, WINDOW)
    counts = Counter(ledger.acquire(0.0) for _ in range(calls))
    per_bucket = [counts.get(b, 0) for b in ledger.buckets]
    assert max(per_bucket) - min(per_bucket) <= 1


def test_a_refunded_call_frees_its_bucket_again():
    ledger = QuotaLedger(["s1"], ["eastus"], capacity=1, window_seconds=WINDOW)
    bucket = ledger.acquire(5.0)
    assert ledger.acquire(6.0) is None
    ledger.refund(bucket, 5.0)
    assert ledger.acquire(6.0) == bucket
