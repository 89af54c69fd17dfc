"""Fault injection for crash tests: a store that fails before writing a named key, and sinks that fail
part-way, each raising ``InjectedCrash`` (a ``RunFailed``: the merge exits 1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from utils.errors import RunFailed
from utils.store import Store


class InjectedCrash(RunFailed):
    pass


class CrashBeforeKeyStore:
    """Delegates to ``inner``; the first ``put_bytes`` of ``key`` raises instead of writing."""

    def __init__(self, inner: Store, key: str) -> None:
        self.inner = inner
        self.key = key
        self.puts: list[str] = []

    def put_bytes(self, key: str, data: bytes, **kwargs: Any) -> None:
        if key == self.key:
            raise InjectedCrash(f"injected crash before writing {key}")
        self.inner.put_bytes(key, data, **kwargs)
        self.puts.append(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CrashMidwayTimeseriesSink:
    """Writes the first half of the records through the real sink, then crashes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def write(self, records: pd.DataFrame, slot: datetime) -> int:
        self.inner.write(records.iloc[: len(records) // 2], slot)
        raise InjectedCrash("injected crash half-way through the time-series write")


class CrashingMetricsSink:
    def put(self, message: str, slot: datetime) -> None:
        raise InjectedCrash("injected crash in the metrics put")
