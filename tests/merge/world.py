"""A small deterministic synthetic world for end-to-end merge tests: raw inputs per slot, written with
``write_parquet`` exactly as the collectors write them, and helpers to run the merge in-process."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from merge.merge_data import run_merge
from tests.merge.builders import slot_at, write_slot_inputs
from utils.constants import DESIRED_COUNTS
from utils.metrics import open_metrics_sink
from utils.settings import Settings, load_settings
from utils.store import Store
from utils.timeseries import open_timeseries_sink

PAIRS = [  # (tier, type, region, on-demand, spot, capacity: High up to capacity/2, Medium up to capacity)
    ("Standard", "D2s_v3", "eastus", 0.096, 0.0192, 40),
    ("Standard", "D4s_v3", "eastus", 0.192, 0.0384, 10),
    ("Basic", "A1", "eastus", 0.018, 0.004, 20),
    ("Standard", "A1", "eastus", 0.024, 0.005, 60),
    ("Standard", "NC24ads_A100_v4", "westeurope", 3.67, 0.73, 2),
    ("Standard", "D2s_v3", "westeurope", 0.11, 0.021, 30),
]
ZONES = ("1", "2", "3")


def score_for(capacity: int, zone: str, count: int) -> float | None:
    if zone == "3" and capacity == 2:
        return None  # DataNotFoundOrStale for one zone of the GPU size
    effective = capacity + int(zone) * 2
    if count <= effective // 2:
        return 3.0
    return 2.0 if count <= effective else 1.0


@dataclass
class World:
    """Mutable knobs for the next slots; ``write(store, index)`` writes slot ``index``'s inputs."""

    spot_override: dict[tuple[str, str, str], float] = field(default_factory=dict)
    unpriced: set[tuple[str, str, str]] = field(default_factory=set)
    unprobed: set[tuple[str, str, str]] = field(default_factory=set)
    start: datetime = field(default_factory=lambda: slot_at(0))  # the slot of index 0

    def count(self, index: int) -> int:
        return DESIRED_COUNTS[index % len(DESIRED_COUNTS)]

    def slot(self, index: int) -> datetime:
        return self.start + timedelta(minutes=10 * index)

    def write(self, store: Store, index: int, *, price: bool = True, if_data: bool = True) -> str:
        count = self.count(index)
        sps_rows = [
            (tier, size, region, zone, score_for(capacity, zone, count))
            for tier, size, region, _od, _spot, capacity in PAIRS
            if (tier, size, region) not in self.unprobed
            for zone in ZONES
        ]
        price_rows = [
            (tier, size, region, od, self.spot_override.get((tier, size, region), spot))
            for tier, size, region, od, spot, _c in PAIRS
            if (tier, size, region) not in self.unpriced
        ]
        if_rows = [(tier, size, region, 3.0 - 0.5 * (i % 3)) for i, (tier, size, region, *_r) in enumerate(PAIRS)]
        return write_slot_inputs(store, self.slot(index), count, sps_rows=sps_rows,
                                 price_rows=price_rows if price else None,
                                 if_rows=if_rows if if_data else None)  # fmt: skip


def local_settings(tmp_path: Path, base_env: dict[str, str]) -> Settings:
    """Local store in tmp_path/store; SQLite and metrics outside the store so the store holds only objects."""
    return load_settings({
        **base_env,
        "SPOTLAKE_STORE": str(tmp_path / "store"),
        "SPOTLAKE_TIMESERIES": f"sqlite:///{tmp_path / 'timeseries.db'}",
        "SPOTLAKE_METRICS": f"file:///{tmp_path / 'metrics.log'}",
    })  # fmt: skip


def merge_slot(settings: Settings, store: Store, sps_key: str, **sinks) -> dict:
    return run_merge(
        settings,
        store,
        sps_key,
        timeseries_sink=sinks.get("timeseries_sink") or open_timeseries_sink(settings, store),
        metrics_sink=sinks.get("metrics_sink") or open_metrics_sink(settings),
    )


def sqlite_rows(settings: Settings, sql: str = "SELECT * FROM azure_timeseries ORDER BY 1, 2, 3, 4, time",
                params: Iterable = ()) -> list[tuple]:  # fmt: skip
    path = settings.timeseries.sqlite_path
    if path is None or not Path(path).exists():
        return []
    with sqlite3.connect(path) as connection:
        return connection.execute(sql, tuple(params)).fetchall()


def store_snapshot(store: Store) -> dict[str, bytes]:
    """Every object in the store, by key."""
    return {key: store.get_bytes(key) for key in store.list_keys("")}


def slot_key(index: int) -> datetime:
    return slot_at(index)
