"""Quota-exact scheduling of SPS calls over (subscription, endpoint location) buckets.

Azure's SPS quota is a rolling window per subscription and endpoint location (SpotLake production:
10 calls per (subscription, location) per 62 minutes, conservative against Azure's 60; reference
docs/azure-facts.md 8). ``QuotaLedger`` records every call it hands out and never hands out a bucket that has had
``capacity`` calls in the last ``window`` seconds, or that a 429 put in cool-down. Buckets are taken
round-robin from a cursor that survives across runs, so load spreads over every subscription and
location instead of draining the first ones.

The ledger is pure (times are passed in as epoch seconds) and thread-safe; ``to_state``/``from_state``
give the JSON persisted in the store between runs.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Bucket = tuple[str, str]  # (subscription id, endpoint location)
SLOT_MINUTES = 10


def bucket_name(bucket: Bucket) -> str:
    return f"{bucket[0]}/{bucket[1]}"


def parse_bucket_name(name: str) -> Bucket:
    subscription, sep, location = name.partition("/")
    if not sep or not subscription or not location:
        raise ValueError(f"not a subscription/location bucket name: {name!r}")
    return subscription, location


def sweeps_per_window(window_minutes: float, slot_minutes: float = SLOT_MINUTES) -> int:
    """How many 10-minute sweeps fall inside one rolling quota window: floor(window / slot) + 1.

    A sweep at slot t (made a few seconds after t) still counts in the window of the sweep at t + 60 min when
    the window is 62 minutes, so 7 sweeps share one window, not 6.2.
    """
    return math.floor(window_minutes / slot_minutes) + 1


def subscriptions_needed(calls_per_sweep: int, locations: int, capacity: int, window_minutes: float,
                         slot_minutes: float = SLOT_MINUTES) -> int:
    """Subscriptions an operator needs so that every 10-minute slot can run a full sweep, in steady state.

    One subscription has ``locations * capacity`` calls per rolling window of ``window_minutes``; with one
    sweep per slot, ``k = sweeps_per_window(window_minutes) = floor(window / slot) + 1`` sweeps share it
    (7 for the 62-minute window), so::

        subscriptions = ceil(calls_per_sweep * k / (locations * capacity))

    The rate-only estimate ``ceil(calls_per_sweep / (locations * capacity * slot_minutes / window_minutes))``
    (6.2 sweeps per window) is up to 13 % too low: the ledger counts every call of the last 62 minutes,
    which spans 7 sweep start times when sweeps are a few seconds long.

    Example: 871 calls, 58 endpoint locations, 10 calls per 62 minutes -> ceil(871 * 7 / 580) = 11
    (the rate-only estimate says 10, and 10 subscriptions would see a partial sweep every 7th slot).
    Returns 0 for an empty sweep; raises ValueError when no location or no capacity is available.
    """
    if calls_per_sweep <= 0:
        return 0
    if locations <= 0 or capacity <= 0:
        raise ValueError("no endpoint locations or no quota: no number of subscriptions suffices")
    return math.ceil(calls_per_sweep * sweeps_per_window(window_minutes, slot_minutes) / (locations * capacity))


def subscriptions_needed_rate_only(calls_per_sweep: int, locations: int, capacity: int, window_minutes: float,
                                   slot_minutes: float = SLOT_MINUTES) -> int:
    """``ceil(calls_per_sweep / (locations * capacity * slot_minutes / window_minutes))``: the long-run rate
    bound (a lower bound on ``subscriptions_needed``; kept for comparison in logs and the benchmark)."""
    if calls_per_sweep <= 0:
        return 0
    if locations <= 0 or capacity <= 0:
        raise ValueError("no endpoint locations or no quota: no number of subscriptions suffices")
    return math.ceil(calls_per_sweep / (locations * capacity * slot_minutes / window_minutes) - 1e-9)


@dataclass(frozen=True)
class LedgerSummary:
    buckets: int
    available_now: int
    cooling_down: int


class QuotaLedger:
    """Calls per (subscription, location) bucket over a rolling window, with 429 cool-downs.

    >>> ledger = QuotaLedger(["sub-a", "sub-b"], ["eastus"], capacity=2, window_seconds=3720)
    >>> [ledger.acquire(0.0) for _ in range(5)]
    [('sub-a', 'eastus'), ('sub-b', 'eastus'), ('sub-a', 'eastus'), ('sub-b', 'eastus'), None]
    """

    def __init__(self, subscriptions: Sequence[str], locations: Sequence[str], capacity: int,
                 window_seconds: float) -> None:
        if capacity < 1 or window_seconds <= 0:
            raise ValueError("capacity must be >= 1 and the window > 0")
        self.capacity = capacity
        self.window = float(window_seconds)
        subs = list(dict.fromkeys(subscriptions))
        locs = list(dict.fromkeys(locations))
        # Location-major order: consecutive buckets are different subscriptions (ARM read throttling is
        # per subscription), then the next location.
        self.buckets: list[Bucket] = [(sub, loc) for loc in locs for sub in subs]
        self._index = {bucket: i for i, bucket in enumerate(self.buckets)}
        self._calls: dict[Bucket, deque[float]] = {}
        self._cool_until: dict[Bucket, float] = {}
        self._cursor = 0
        self._lock = threading.Lock()

    # -- queries -----------------------------------------------------------------------------------
    def _prune(self, bucket: Bucket, now: float) -> deque[float]:
        calls = self._calls.setdefault(bucket, deque())
        while calls and calls[0] <= now - self.window:
            calls.popleft()
        return calls

    def _free(self, bucket: Bucket, now: float) -> int:
        if self._cool_until.get(bucket, -math.inf) > now:
            return 0
        return max(0, self.capacity - len(self._prune(bucket, now)))

    def used(self, bucket: Bucket, now: float) -> int:
        """Calls recorded for ``bucket`` in the window ending at ``now``."""
        with self._lock:
            return len(self._prune(bucket, now))

    def available(self, now: float) -> int:
        """Calls that could be made right now over all buckets."""
        with self._lock:
            return sum(self._free(bucket, now) for bucket in self.buckets)

    def summary(self, now: float) -> LedgerSummary:
        with self._lock:
            cooling = sum(1 for b in self.buckets if self._cool_until.get(b, -math.inf) > now)
            return LedgerSummary(len(self.buckets), sum(self._free(b, now) for b in self.buckets), cooling)

    @property
    def last_bucket(self) -> Bucket | None:
        """The bucket handed out last (persisted so the next run continues the round robin)."""
        with self._lock:
            if not self.buckets:
                return None
            return self.buckets[(self._cursor - 1) % len(self.buckets)]

    # -- updates -----------------------------------------------------------------------------------
    def acquire(self, now: float, avoid: Iterable[Bucket] = ()) -> Bucket | None:
        """Take one call of quota at ``now`` from the next bucket (round robin) that has some.

        ``avoid`` skips buckets (e.g. the one that just answered 429) when another has capacity.
        Returns None when no bucket has quota left now.
        """
        avoid_set = set(avoid)
        with self._lock:
            count = len(self.buckets)
            for step in range(count):
                position = (self._cursor + step) % count
                bucket = self.buckets[position]
                if bucket in avoid_set or self._free(bucket, now) <= 0:
                    continue
                self._calls[bucket].append(now)
                self._cursor = position + 1
                return bucket
            return None

    def record(self, bucket: Bucket, when: float) -> None:
        """Record a call made outside ``acquire`` (e.g. restoring history); keeps entries sorted."""
        with self._lock:
            calls = self._calls.setdefault(bucket, deque())
            calls.append(when)
            if len(calls) > 1 and calls[-2] > when:
                self._calls[bucket] = deque(sorted(calls))

    def refund(self, bucket: Bucket, when: float) -> None:
        """Give back a call taken at ``when`` that Azure cannot have counted (a 401: ARM rejects the token
        before the request reaches the SPS resource provider). No-op when no such entry exists."""
        with self._lock:
            calls = self._calls.get(bucket)
            if calls is not None and when in calls:
                calls.remove(when)

    def mark_over_limit(self, bucket: Bucket, now: float) -> None:
        """A 429 from ``bucket``: bench it for a whole window (SpotLake's production rule)."""
        with self._lock:
            self._cool_until[bucket] = max(self._cool_until.get(bucket, -math.inf), now + self.window)

    def assume_exhausted(self, at: float) -> None:
        """Treat every bucket as used up to capacity at time ``at`` (a lost ledger: err on fewer calls)."""
        with self._lock:
            for bucket in self.buckets:
                calls = self._calls.setdefault(bucket, deque())
                missing = self.capacity - len(calls)
                calls.extend([at] * max(0, missing))
                self._calls[bucket] = deque(sorted(calls))

    def resume_after(self, bucket: Bucket | None) -> None:
        """Continue the round robin after ``bucket`` (the last one used by the previous run)."""
        with self._lock:
            if bucket in self._index:
                self._cursor = self._index[bucket] + 1

    # -- persistence -------------------------------------------------------------------------------
    def call_history(self, now: float) -> dict[str, list[float]]:
        """``{"sub/loc": [epoch seconds, ...]}`` of the calls still inside the window (pruned)."""
        with self._lock:
            out: dict[str, list[float]] = {}
            for bucket in list(self._calls):
                calls = self._prune(bucket, now)
                if calls:
                    out[bucket_name(bucket)] = [round(t, 3) for t in calls]
            return out

    def over_limit(self, now: float) -> dict[str, float]:
        """``{"sub/loc": cool-down end (epoch seconds)}`` of the buckets still cooling down."""
        with self._lock:
            return {bucket_name(b): round(t, 3) for b, t in sorted(self._cool_until.items()) if t > now}

    def restore(self, call_history: dict[str, Any], over_limit: dict[str, Any]) -> None:
        """Load persisted history and cool-downs (buckets of other subscriptions/locations are kept too).

        Raises:
            ValueError: an entry is not ``"sub/loc": [numbers]`` / ``"sub/loc": number``.
        """
        parsed_calls: dict[Bucket, list[float]] = {}
        for name, times in call_history.items():
            if not isinstance(times, list):
                raise ValueError(f"call history of {name!r} is not a list")
            parsed_calls[parse_bucket_name(name)] = sorted(float(t) for t in times)
        parsed_cool = {parse_bucket_name(name): float(until) for name, until in over_limit.items()}
        with self._lock:
            for bucket, times in parsed_calls.items():
                self._calls[bucket] = deque(sorted([*self._calls.get(bucket, ()), *times]))
            for bucket, until in parsed_cool.items():
                self._cool_until[bucket] = max(until, self._cool_until.get(bucket, -math.inf))
