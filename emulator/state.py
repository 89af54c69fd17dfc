"""Emulator state without HTTP: configuration, clock, SPS quota ledger, Resource Graph throttle, stats.

``EmulatorState`` is what the handlers read and update; ``reset()`` returns it to the start-up state (quota
ledger, throttle windows, stats, fault plan) while keeping the catalog and issued tokens valid.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.catalog import Catalog, load_catalog
from emulator.faults import APIS, FaultPlan


@dataclass(frozen=True)
class EmulatorConfig:
    """Start-up options (CLI flags / ``running_emulator`` kwargs).

    Attributes:
        page_size: None = each API's real page size (prices 1000, Resource Graph 1000, SKUs 500); a number
            caps all three (small catalogs still exercise paging).
        sps_quota: accepted SPS calls per (subscription, endpoint location) per ``sps_window_s``.
        sps_retry_after: Retry-After seconds of the SPS quota 429 (and the number in its text).
        arg_quota: Resource Graph queries per user (token client id) per ``arg_window_s``.
        token_ttl: lifetime of issued tokens, seconds of the emulator clock.
    """

    catalog_path: str | None = None
    seed: int = 0
    latency_ms: float = 0.0
    faults: str | None = None
    sps_quota: int = 10
    sps_window_s: int = 3600
    sps_retry_after: int = 3600
    page_size: int | None = None
    token_ttl: int = 3600
    arg_quota: int = 15
    arg_window_s: float = 5.0


class Clock:
    """UTC clock that tests can fix (``set(datetime)``) and release (``set(None)``)."""

    def __init__(self, source: Callable[[], datetime] | datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._fixed: datetime | None = None
        self._source: Callable[[], datetime] = lambda: datetime.now(UTC)
        if isinstance(source, datetime):
            self._fixed = _utc(source)
        elif source is not None:
            self._source = source

    def now(self) -> datetime:
        with self._lock:
            fixed = self._fixed
        return fixed if fixed is not None else _utc(self._source())

    def set(self, when: datetime | None) -> None:
        with self._lock:
            self._fixed = None if when is None else _utc(when)


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class QuotaLedger:
    """Rolling-window call budget per key (SPS: per "subscription/location", 10 per 60 minutes).

    Only accepted calls are recorded; a refused call (429) does not push the window forward.
    """

    def __init__(self, limit: int, window: timedelta) -> None:
        self.limit = limit
        self.window = window
        self._lock = threading.Lock()
        self._calls: dict[str, deque[datetime]] = defaultdict(deque)

    def try_consume(self, key: str, now: datetime) -> bool:
        """Record a call at ``now`` if the key has budget left in the window ending at ``now``."""
        with self._lock:
            calls = self._calls[key]
            while calls and calls[0] <= now - self.window:
                calls.popleft()
            if len(calls) >= self.limit:
                return False
            calls.append(now)
            return True

    def usage(self) -> dict[str, int]:
        """Accepted calls recorded per key ("subscription/location"), for tests and the stats of a run."""
        with self._lock:
            return {key: len(calls) for key, calls in self._calls.items() if calls}

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()


class UserThrottle:
    """Resource Graph per-user quota: ``limit`` queries per fixed ``window_s`` window (docs/azure-facts.md 3.3).

    Uses the monotonic wall clock, not the emulator clock: it is a seconds-scale throttle, and a fixed test
    clock must not freeze it shut.
    """

    def __init__(self, limit: int, window_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def consume(self, user: str) -> tuple[bool, int, float]:
        """Count one query; returns (allowed, remaining after it, seconds until the window resets)."""
        now = self._monotonic()
        with self._lock:
            start, used = self._windows.get(user, (now, 0))
            if now - start >= self.window_s:
                start, used = now, 0
            allowed = used < self.limit
            if allowed:
                used += 1
            self._windows[user] = (start, used)
        return allowed, max(0, self.limit - used), max(0.0, self.window_s - (now - start))

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


class Stats:
    """Calls and answers by status per API, and SPS calls per (subscription, location)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls = dict.fromkeys(APIS, 0)
            self._status: dict[str, dict[str, int]] = {api: {} for api in APIS}
            self._sps_by_key: dict[str, int] = {}

    def record_call(self, api: str) -> None:
        with self._lock:
            self._calls[api] += 1

    def record_status(self, api: str, status: int | str) -> None:
        with self._lock:
            key = str(status)
            self._status[api][key] = self._status[api].get(key, 0) + 1

    def record_sps_target(self, subscription: str, location: str) -> None:
        with self._lock:
            key = f"{subscription.lower()}/{location.lower()}"
            self._sps_by_key[key] = self._sps_by_key.get(key, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """``{"prices": {"calls": n, "status": {"200": n}}, ..., "sps": {..., "by_subscription_location"}}``."""
        with self._lock:
            result: dict[str, Any] = {
                api: {"calls": self._calls[api], "status": dict(self._status[api])} for api in APIS
            }
            result["sps"]["by_subscription_location"] = dict(self._sps_by_key)
        return result


class EmulatorState:
    """Everything the handlers share. Thread-safe pieces; the catalog is read-only."""

    def __init__(self, config: EmulatorConfig, catalog: Catalog | None = None,
                 clock: Clock | None = None) -> None:
        self.config = config
        self.catalog = catalog if catalog is not None else load_catalog(config.catalog_path, config.seed)
        self.clock = clock or Clock()
        self.sps_ledger = QuotaLedger(config.sps_quota, timedelta(seconds=config.sps_window_s))
        self.arg_throttle = UserThrottle(config.arg_quota, config.arg_window_s)
        self.stats = Stats()
        self.faults = FaultPlan(config.faults, config.seed)
        # Signs issued tokens; per process, so a token from another emulator instance is invalid.
        self.token_key = secrets.token_bytes(32)

    def reset(self) -> None:
        """Clear quota ledger, throttle windows and stats; faults back to the start-up spec."""
        self.sps_ledger.reset()
        self.arg_throttle.reset()
        self.stats.reset()
        self.faults.install(self.config.faults)
