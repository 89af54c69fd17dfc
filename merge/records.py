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
import pyarrow as pa
import pyarrow.compute as pc

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


def _json_tokens(values: pd.Series) -> pa.Array:
    """JSON text of each value: ``json.dumps`` of each distinct value (shortest round-trip repr for floats,
    escaped text for strings), taken back to every row."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    tokens = pa.array([json.dumps(u, allow_nan=False) for u in pd.Index(uniques).tolist()], type=pa.string())
    return tokens.take(pa.array(codes))


def latest_json_bytes(public: pd.DataFrame) -> bytes:
    """JSON records (a list of objects, keys in ``MERGED_COLUMNS`` order) of a ``public_frame``; the same
    text as ``json.dumps(records, separators=(",", ":"), allow_nan=False)``, assembled column by column."""
    if public.empty:
        return b"[]"
    pieces: list[object] = []
    for i, column in enumerate(MERGED_COLUMNS):
        pieces += [pa.scalar(("{" if i == 0 else ",") + json.dumps(column) + ":"), _json_tokens(public[column])]
    rows = pc.binary_join_element_wise(*pieces, pa.scalar("}"), "")
    return ("[" + ",".join(rows.to_pylist()) + "]").encode()


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
