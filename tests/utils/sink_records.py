"""Tiny builders of change-record frames for the sink tests, and the SQLite table of before the cutover."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

SLOT = datetime(2025, 12, 13, 13, 0, tzinfo=UTC)
SLOT_MS = 1765630800000


def pre_cutover_table(name: str) -> str:
    """``CREATE TABLE name`` as the SQLite sink created its table before the public naming cutover: Region held
    the ARM code and there was no RegionCode column."""
    return f"""
CREATE TABLE {name} (
    InstanceTier TEXT NOT NULL, InstanceType TEXT NOT NULL, Region TEXT NOT NULL, AvailabilityZone TEXT NOT NULL,
    DesiredCount REAL NOT NULL, OndemandPrice REAL NOT NULL, SpotPrice REAL NOT NULL, Savings REAL NOT NULL,
    IF REAL NOT NULL, T2 REAL NOT NULL, T3 REAL NOT NULL, Score REAL NOT NULL, time TEXT NOT NULL,
    PRIMARY KEY (InstanceTier, InstanceType, Region, AvailabilityZone, time));
"""


def change_records(n: int = 3, *, spot_offset: float = 0.0) -> pd.DataFrame:
    """``n`` distinct rows in the public naming (as ``merge.public.timeseries_frame`` gives them): D2s_v3
    first (US East / eastus, zone 1), then synthetic sizes; row 2 has missing values."""
    types = ["D2s_v3", "E4s_v5", "NC24ads_A100_v4"] + [f"X{i}_v9" for i in range(max(0, n - 3))]
    frame = pd.DataFrame(
        {
            "InstanceTier": ["Standard"] * n,
            "InstanceType": types[:n],
            "Region": ["US East"] * n,
            "AvailabilityZone": (["1", "Single", "3"] * n)[:n],
            "RegionCode": ["eastus"] * n,
            "DesiredCount": [5] * n,
            "OndemandPrice": [0.096 + i for i in range(n)],
            "SpotPrice": [0.0192 + i + spot_offset for i in range(n)],
            "Savings": [80.0] * n,
            "IF": [3.0] * n,
            "T2": [5.0] * n,
            "T3": [1.0] * n,
            "Score": [3] * n,
            "Time": ["2025-12-13 13:00:00"] * n,
        }
    )
    if n >= 3:
        frame.loc[2, ["OndemandPrice", "Savings", "Score"]] = np.nan
        frame.loc[2, "AvailabilityZone"] = None
    return frame
