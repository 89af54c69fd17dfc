"""Bytes of the published objects, pure: the latest JSON, the CSV.gz archive, the time-series records.

Every one starts from ``merge.public.public_frame`` (the public shape and its rules live there).
"""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from merge.compare_data import ChangeReport
from merge.public import csv_safe, timeseries_frame
from utils.store_io import frame_to_csv_gz_bytes


def _json_tokens(values: pd.Series) -> pa.Array:
    """JSON text of each value: ``json.dumps`` of each distinct value (shortest round-trip repr for floats,
    escaped text for strings), taken back to every row."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    tokens = pa.array([json.dumps(u, allow_nan=False) for u in pd.Index(uniques).tolist()], type=pa.string())
    return tokens.take(pa.array(codes))


def latest_json_bytes(public: pd.DataFrame) -> bytes:
    """JSON records (a list of objects, keys in column order) of a ``public_frame``; the same text as
    ``json.dumps(records, separators=(",", ":"), allow_nan=False)``, assembled column by column."""
    if public.empty:
        return b"[]"
    pieces: list[object] = []
    for i, column in enumerate(public.columns):
        pieces += [pa.scalar(("{" if i == 0 else ",") + json.dumps(column) + ":"), _json_tokens(public[column])]
    rows = pc.binary_join_element_wise(*pieces, pa.scalar("}"), "")
    return ("[" + ",".join(rows.to_pylist()) + "]").encode()


def archive_bytes(public: pd.DataFrame) -> bytes:
    """The public CSV.gz archive of a ``public_frame``, formula-like API text neutralised (``csv_safe``)."""
    return frame_to_csv_gz_bytes(csv_safe(public))


def timeseries_records(report: ChangeReport) -> pd.DataFrame:
    """The changed rows as time-series records in the public naming (the sinks write -1 / ``N/A``)."""
    return timeseries_frame(report.changes)
