"""Shapes of the published outputs, pure: public frame (CSV/JSON), time-series records, metrics line,
query selector, run summary.

Public outputs write missing numbers as -1 and missing text as ``N/A`` (SPEC 6, as SpotLake consumers
expect) and Time as an ISO UTC string (``2025-12-13T13:00:00Z``). Column order is ``MERGED_COLUMNS``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pandas as pd

from merge.compare_data import ChangeReport
from merge.join import FLOAT_COLUMNS, INT_COLUMNS, TEXT_COLUMNS
from utils.constants import KEY_COLUMNS, MERGED_COLUMNS
from utils.timeseries import TIMESERIES_COLUMNS

MISSING_NUMBER = -1
MISSING_TEXT = "N/A"
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def public_frame(merged: pd.DataFrame) -> pd.DataFrame:
    """The merged dataset as published: -1 / ``N/A`` for missing values, Time as ISO UTC text."""
    out = pd.DataFrame(index=merged.index)
    for column in MERGED_COLUMNS:
        values = merged[column]
        if column in TEXT_COLUMNS:
            out[column] = values.fillna(MISSING_TEXT).astype("str")
        elif column in FLOAT_COLUMNS:
            out[column] = values.astype("float64").fillna(float(MISSING_NUMBER))
        elif column in INT_COLUMNS:
            out[column] = values.fillna(MISSING_NUMBER).astype("int64")
        else:
            out[column] = values.dt.strftime(ISO_FORMAT).fillna(MISSING_TEXT).astype("str")
    return out.reset_index(drop=True)


def latest_json_bytes(public: pd.DataFrame) -> bytes:
    """JSON records (a list of objects, keys in ``MERGED_COLUMNS`` order) of a ``public_frame``."""
    records = public[MERGED_COLUMNS].to_dict(orient="records")
    return json.dumps(records, separators=(",", ":"), allow_nan=False).encode()


def timeseries_records(report: ChangeReport) -> pd.DataFrame:
    """The changed rows in the time-series sink's column set (missing values stay missing; the sink
    writes them as -1 / ``N/A``)."""
    return report.changes[TIMESERIES_COLUMNS].reset_index(drop=True)


def metrics_message(merged: pd.DataFrame) -> str:
    """SpotLake's collection-count line: rows with an on-demand price, a spot price, an IF, an SPS score."""
    return (
        f"AZUREONDEMAND: {int(merged['OndemandPrice'].notna().sum())} "
        f"AZURESPOT: {int(merged['SpotPrice'].notna().sum())} "
        f"AZUREIF: {int(merged['IF'].notna().sum())} "
        f"AZURESPS: {int(merged['Score'].notna().sum())}"
    )


def query_selector(previous: Iterable[dict[str, Any]] | None, merged: pd.DataFrame) -> list[dict[str, str]]:
    """Sorted distinct (InstanceTier, InstanceType, Region) ever seen: the previous selector plus this
    dataset's pairs."""
    frames = [merged[KEY_COLUMNS].astype("str")]
    if previous:
        frames.append(pd.DataFrame(list(previous), columns=KEY_COLUMNS).astype("str"))
    pairs = pd.concat(frames, ignore_index=True).drop_duplicates().sort_values(KEY_COLUMNS, kind="stable")
    return pairs.to_dict(orient="records")
