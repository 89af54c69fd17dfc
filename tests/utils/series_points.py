"""Reading a time-series sink back the way a reader does (docs/contract.md 7, README "Reading the time series"):
every point of the SQLite, Parquet or Timestream sink as one frame, and "the latest point at or before slot
S" of every series compared with that slot's public rows (the latest JSON)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pandas as pd

from bench.reliability.harness import normalise_records
from utils.store import Store
from utils.store_io import read_parquet
from utils.timeseries import DIMENSION_COLUMNS, SQLITE_TABLE

# The public values a point holds (the Timestream measures but Time, which is the row's last probe).
POINT_VALUES = ("DesiredCount", "OndemandPrice", "SpotPrice", "Savings", "IF", "T2", "T3", "Score")


def _points(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[[*DIMENSION_COLUMNS, *POINT_VALUES]].astype({c: "float64" for c in POINT_VALUES})
    out["time"] = pd.to_datetime(frame["time"], utc=True)
    return out.astype({c: str for c in DIMENSION_COLUMNS})


def sqlite_points(path: Path) -> pd.DataFrame:
    with sqlite3.connect(path) as connection:
        frame = pd.read_sql_query(f"SELECT * FROM {SQLITE_TABLE}", connection)
    return _points(frame)


def parquet_points(store: Store) -> pd.DataFrame:
    keys = sorted(k for k in store.list_keys("timeseries/azure/") if k.endswith(".parquet"))
    return _points(pd.concat([read_parquet(store, key) for key in keys], ignore_index=True))


def timestream_points(raw: list[dict]) -> pd.DataFrame:
    """Points of raw WriteRecords entries (moto's append-only list): per (dimensions, time) the highest
    Version wins, as in Timestream."""
    points, conflicts = normalise_records(raw)
    assert conflicts == []
    rows = []
    for (dims, _measure, time_ms), values in points.items():
        row = dict(dims)
        row.update({name: value for name, value, _kind in values})
        row["time"] = pd.Timestamp(int(time_ms), unit="ms", tz="UTC")
        rows.append(row)
    return _points(pd.DataFrame(rows, columns=[*DIMENSION_COLUMNS, *POINT_VALUES, "time"]))


def latest_at_or_before(points: pd.DataFrame, slot: datetime) -> pd.DataFrame:
    """Each series' latest point at or before ``slot``, indexed by its key."""
    seen = points[points["time"] <= pd.Timestamp(slot)].sort_values("time", kind="stable")
    return seen.groupby(DIMENSION_COLUMNS, sort=True).tail(1).set_index(DIMENSION_COLUMNS)


def series_mismatches(points: pd.DataFrame, slot: datetime, public_rows: list[dict]) -> list[str]:
    """Every row of ``public_rows`` (the slot's latest JSON) whose series' latest point at or before ``slot``
    is missing or holds other values; empty when a reader of the series sees exactly the slot's rows."""
    latest = latest_at_or_before(points, slot)
    problems = []
    for row in public_rows:
        key = tuple(str(row[c]) for c in DIMENSION_COLUMNS)
        if key not in latest.index:
            problems.append(f"{key}: no point at or before {slot}")
            continue
        point = latest.loc[key]
        differ = {c: (float(point[c]), float(row[c])) for c in POINT_VALUES if float(point[c]) != float(row[c])}
        if differ:
            problems.append(f"{key}: point of {point['time']} differs (point, row): {differ}")
    return problems
