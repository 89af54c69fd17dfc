"""Time-series sinks for the merge's change records (SPEC section 7): SQLite, Timestream, Parquet, none.

Every sink takes the same frame of change records (``TIMESERIES_COLUMNS``) and the slot; the sink writes
``time = slot``. Public-output rules (SPEC 6) apply to every sink: a missing number is written as -1 and a
missing text as ``N/A``, so a query never has to tell NULL from "not measured".

Idempotency per slot (SPEC 8, a rerun of the same slot adds no duplicates):
- SQLite: upsert on (InstanceTier, InstanceType, Region, AvailabilityZone, time).
- Timestream: one point per (dimensions, time = slot); ``Version`` = the write's wall-clock epoch ms (never
  below the slot's), so a rerun of the slot upserts the same points: identical values only bump the Version,
  and values that differ (a rerun asks Azure again) replace the stale ones instead of being rejected.
- Parquet: one file per slot (``timeseries/azure/YYYY/MM/DD/HH-MM.parquet``), replaced by each write.

Querying the Parquet dataset with DuckDB (store root ``./spotlake-data``)::

    SELECT time, Region, SpotPrice FROM read_parquet('spotlake-data/timeseries/azure/*/*/*/*.parquet')
    WHERE InstanceType = 'D2s_v3' AND Region = 'eastus' ORDER BY time;

(Athena: an external table over ``s3://bucket/prefix/timeseries/azure/`` with the same columns.)
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time as time_module
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from utils.constants import timeseries_parquet_key
from utils.errors import RunFailed
from utils.store import Store
from utils.store_io import write_parquet
from utils.vm_specs import MERGED_SPEC_COLUMNS, SPEC_TEXT_COLUMNS, public_specs

log = logging.getLogger(__name__)

DIMENSION_COLUMNS = ["InstanceTier", "InstanceType", "Region", "AvailabilityZone"]
DOUBLE_MEASURES = ["DesiredCount", "OndemandPrice", "SpotPrice", "Savings", "IF", "T2", "T3"]
TEXT_MEASURE = "Score"  # VARCHAR in Timestream (SPEC 7); numeric in SQLite and Parquet
NUMBER_COLUMNS = [*DOUBLE_MEASURES, TEXT_MEASURE]
TIMESERIES_COLUMNS = [*DIMENSION_COLUMNS, *DOUBLE_MEASURES, TEXT_MEASURE]

MISSING_NUMBER = -1.0
MISSING_TEXT = "N/A"
MEASURE_NAME = "azure_values"
TIMESTREAM_BATCH = 100  # WriteRecords quota; neither botocore nor moto enforces it (reference/aws.md 1)
SQLITE_TABLE = "azure_timeseries"
# Timestream error codes worth another try (botocore's standard mode already retried them per call).
_RETRIABLE_CODES = {"ThrottlingException", "InternalServerException", "ServiceUnavailable"}


class TimeseriesSink(Protocol):
    def write(self, records: pd.DataFrame, slot: datetime) -> int:
        """Write the change records of ``slot``; returns how many records are now stored for them."""
        ...


# ---------------------------------------------------------------------------------------------------------
# Pure record preparation (no I/O)


def _utc(slot: datetime) -> datetime:
    return slot.replace(tzinfo=UTC) if slot.tzinfo is None else slot.astimezone(UTC)


def slot_epoch_ms(slot: datetime) -> int:
    return int(_utc(slot).timestamp() * 1000)


def sqlite_time_text(slot: datetime) -> str:
    """The ``time`` column text in SQLite: ISO-8601 UTC ``YYYY-MM-DD HH:MM:SS`` (sorts as time)."""
    return _utc(slot).strftime("%Y-%m-%d %H:%M:%S")


def normalise_records(records: pd.DataFrame) -> pd.DataFrame:
    """The ``TIMESERIES_COLUMNS`` of ``records`` with public missing-value rules applied.

    Dimensions become non-empty strings (missing or empty -> ``N/A``); measures and Score become float64
    (missing or non-finite -> -1). Extra columns are dropped.

    Raises:
        ValueError: a required column is absent (a caller bug, not a data fault).
    """
    missing = [c for c in TIMESERIES_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"time-series records lack columns {missing}")
    out = pd.DataFrame(index=pd.RangeIndex(len(records)))
    for column in DIMENSION_COLUMNS:
        values = records[column].reset_index(drop=True)
        text = values.astype("string").str.strip()
        out[column] = text.where(values.notna() & (text != ""), MISSING_TEXT).astype(object)
    for column in NUMBER_COLUMNS:
        numbers = pd.to_numeric(records[column].reset_index(drop=True), errors="coerce").astype("float64")
        finite = numbers.where(numbers.abs() != math.inf)
        out[column] = finite.fillna(MISSING_NUMBER)
    return out


def with_spec_columns(frame: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """``normalise_records(records)`` with the VM spec columns (``utils.vm_specs.MERGED_SPEC_COLUMNS``)
    appended, -1 / ``N/A`` where ``records`` lacks them: columns of the SQLite and Parquet sinks only, never
    Timestream measures."""
    return pd.concat([frame, public_specs(records)], axis=1)


def _number_text(values: pd.Series) -> pd.Series:
    """Shortest round-trip decimal text of float64 values ("3.0", "0.096", "-1.0")."""
    return values.astype("float64").astype(str)


def build_timestream_records(records: pd.DataFrame, slot: datetime, version: int | None = None) -> list[dict[str, Any]]:
    """Multi-measure WriteRecords entries (SPEC 7), one per row of ``records``; vectorised per column.

    >>> build_timestream_records(frame_with_one_row, slot)[0]
    {'Dimensions': [{'Name': 'InstanceTier', 'Value': 'Standard', 'DimensionValueType': 'VARCHAR'}, ...],
     'MeasureName': 'azure_values', 'MeasureValueType': 'MULTI',
     'MeasureValues': [{'Name': 'DesiredCount', 'Value': '5.0', 'Type': 'DOUBLE'}, ...,
                       {'Name': 'Score', 'Value': '3.0', 'Type': 'VARCHAR'}],
     'Time': '1765630800000', 'TimeUnit': 'MILLISECONDS', 'Version': 1765630800000}
    """
    frame = normalise_records(records)
    epoch_ms = slot_epoch_ms(slot)
    version = epoch_ms if version is None else version
    time_text = str(epoch_ms)
    dim_cols = [frame[c].tolist() for c in DIMENSION_COLUMNS]
    measure_cols = [_number_text(frame[c]).tolist() for c in NUMBER_COLUMNS]
    measure_types = ["DOUBLE"] * len(DOUBLE_MEASURES) + ["VARCHAR"]
    out: list[dict[str, Any]] = []
    for dims, measures in zip(zip(*dim_cols, strict=True), zip(*measure_cols, strict=True), strict=True):
        out.append(
            {
                "Dimensions": [
                    {"Name": name, "Value": value, "DimensionValueType": "VARCHAR"}
                    for name, value in zip(DIMENSION_COLUMNS, dims, strict=True)
                ],
                "MeasureName": MEASURE_NAME,
                "MeasureValueType": "MULTI",
                "MeasureValues": [
                    {"Name": name, "Value": value, "Type": kind}
                    for name, value, kind in zip(NUMBER_COLUMNS, measures, measure_types, strict=True)
                ],
                "Time": time_text,
                "TimeUnit": "MILLISECONDS",
                "Version": version,
            }
        )
    return out


def chunked(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# ---------------------------------------------------------------------------------------------------------
# SQLite

_SQLITE_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {SQLITE_TABLE} (
    InstanceTier TEXT NOT NULL,
    InstanceType TEXT NOT NULL,
    Region TEXT NOT NULL,
    AvailabilityZone TEXT NOT NULL,
    DesiredCount REAL NOT NULL,
    OndemandPrice REAL NOT NULL,
    SpotPrice REAL NOT NULL,
    Savings REAL NOT NULL,
    IF REAL NOT NULL,
    T2 REAL NOT NULL,
    T3 REAL NOT NULL,
    Score REAL NOT NULL,
    time TEXT NOT NULL,
    PRIMARY KEY (InstanceTier, InstanceType, Region, AvailabilityZone, time)
);
CREATE INDEX IF NOT EXISTS {SQLITE_TABLE}_type_region_time ON {SQLITE_TABLE} (InstanceType, Region, time);
"""

_SQLITE_COLUMNS = [*TIMESERIES_COLUMNS, *MERGED_SPEC_COLUMNS, "time"]
_SQLITE_UPSERT = (
    f"INSERT INTO {SQLITE_TABLE} ({', '.join(_SQLITE_COLUMNS)}) VALUES ({', '.join('?' for _ in _SQLITE_COLUMNS)}) "
    f"ON CONFLICT (InstanceTier, InstanceType, Region, AvailabilityZone, time) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in [*NUMBER_COLUMNS, *MERGED_SPEC_COLUMNS])
)


def _add_spec_columns(connection: sqlite3.Connection) -> None:
    """Add the VM spec columns (``utils.vm_specs``) to a table that lacks them; rows written before them
    keep NULL there (no spec was recorded), later rows hold -1 / ``N/A`` for a missing spec."""
    columns = {row[1] for row in connection.execute(f"PRAGMA table_info({SQLITE_TABLE})")}
    for column in MERGED_SPEC_COLUMNS:
        if column not in columns:
            kind = "TEXT" if column in SPEC_TEXT_COLUMNS else "REAL"
            connection.execute(f"ALTER TABLE {SQLITE_TABLE} ADD COLUMN {column} {kind}")


class SqliteSink:
    """A local SQLite table ``azure_timeseries``, one row per record; query it with plain SQL.

    Missing numbers are stored as -1 and missing text as ``N/A`` (not NULL), like every public output.
    ``time`` is text ``YYYY-MM-DD HH:MM:SS`` in UTC.
    """

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(_SQLITE_SCHEMA)
        _add_spec_columns(connection)
        return connection

    def write(self, records: pd.DataFrame, slot: datetime) -> int:
        frame = with_spec_columns(normalise_records(records), records)
        if frame.empty:
            return 0
        frame["time"] = sqlite_time_text(slot)
        rows = list(zip(*(frame[c].tolist() for c in _SQLITE_COLUMNS), strict=True))
        try:
            connection = self._connect()
        except (sqlite3.Error, OSError) as exc:
            raise RunFailed(f"cannot open time-series database {self.path}: {exc}") from exc
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(_SQLITE_UPSERT, rows)
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise RunFailed(f"time-series write to {self.path} failed: {exc}") from exc
        finally:
            connection.close()
        return len(rows)


# ---------------------------------------------------------------------------------------------------------
# Timestream


class TimestreamSink:
    """Amazon Timestream (LiveAnalytics) multi-measure records, in batches of at most 100.

    Throttling and 5xx are retried by botocore (standard retry mode, see utils/aws.py) and, when botocore gives
    up, by this sink up to ``max_retries`` times with backoff. Rejected records are re-sent alone, up to
    ``max_retries`` times with backoff; anything still rejected raises ``RunFailed`` with counts and reasons:
    nothing is dropped silently. Each write's ``Version`` is its wall-clock epoch ms (``version_clock``), so a
    later write of the same point (a rerun of the slot) always supersedes an earlier one (Timestream upsert
    rules, reference/aws.md section 1).
    """

    def __init__(
        self,
        client: Any,
        database: str,
        table: str,
        *,
        max_retries: int = 3,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time_module.sleep,
        version_clock: Callable[[], float] = time_module.time,
    ) -> None:
        self.client = client
        self.database = database
        self.table = table
        self.version_clock = version_clock
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep

    def write(self, records: pd.DataFrame, slot: datetime) -> int:
        version = max(int(self.version_clock() * 1000), slot_epoch_ms(slot))
        entries = build_timestream_records(records, slot, version)
        written = 0
        for batch in chunked(entries, TIMESTREAM_BATCH):
            written += self._write_batch(list(batch))
        return written

    def _write_batch(self, batch: list[dict[str, Any]]) -> int:
        pending = batch
        written = 0
        reasons: dict[str, int] = {}
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            rejected = self._send(pending)
            if rejected is None:
                return written + len(pending)
            retry: list[dict[str, Any]] = []
            reasons = {}
            for item in rejected:
                retry.append(pending[int(item["RecordIndex"])])
                reason = str(item.get("Reason", "unknown"))
                reasons[reason] = reasons.get(reason, 0) + 1
            written += len(pending) - len(rejected)
            if not retry:
                return written
            log.warning("timestream rejected %d of %d records (attempt %d): %s",
                        len(retry), len(pending), attempt + 1, reasons)  # fmt: skip
            pending = retry
        raise RunFailed(
            f"timestream {self.database}.{self.table}: {len(pending)} records still rejected after "
            f"{self.max_retries} retries ({written} written); reasons: {reasons}"
        )

    def _send(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """WriteRecords, retrying throttling/5xx; None when all were accepted, else the RejectedRecords list."""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            try:
                self.client.write_records(DatabaseName=self.database, TableName=self.table, Records=batch)
                return None
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code", "error"))
                if code == "RejectedRecordsException":
                    return list(exc.response.get("RejectedRecords", []))
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
                if (code in _RETRIABLE_CODES or status >= 500) and attempt < self.max_retries:
                    log.warning("timestream %s (attempt %d); retrying", code, attempt + 1)
                    continue
                raise RunFailed(
                    f"timestream write to {self.database}.{self.table} failed after {attempt + 1} attempts: "
                    f"{code}: {error.get('Message', '')}"
                ) from exc
            except BotoCoreError as exc:
                raise RunFailed(
                    f"timestream write to {self.database}.{self.table} failed: {type(exc).__name__}"
                ) from exc
        raise AssertionError("unreachable: the last attempt returns or raises")


# ---------------------------------------------------------------------------------------------------------
# Parquet in the store, and none


class ParquetSink:
    """One Parquet file per slot at ``timeseries/azure/YYYY/MM/DD/HH-MM.parquet`` (date-partitioned).

    Columns as the SQLite table, with ``time`` a UTC timestamp. Each write replaces the slot's file, so a
    rerun of the slot is idempotent; an empty write removes it.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def write(self, records: pd.DataFrame, slot: datetime) -> int:
        frame = with_spec_columns(normalise_records(records), records)
        key = timeseries_parquet_key(slot)
        if frame.empty:
            self.store.delete(key)
            return 0
        for column in DIMENSION_COLUMNS:
            frame[column] = frame[column].astype(str)
        frame["time"] = pd.Timestamp(_utc(slot)).as_unit("ms")
        write_parquet(self.store, key, frame)
        return len(frame)


class NoneSink:
    """Discards records (``SPOTLAKE_TIMESERIES=none``); reports them as written."""

    def write(self, records: pd.DataFrame, slot: datetime) -> int:
        return len(records)


def open_timeseries_sink(settings: Any, store: Store, *, timestream_client: Any = None) -> TimeseriesSink:
    """The sink named by ``settings.timeseries``; a Timestream client is built when none is injected."""
    config = settings.timeseries
    if config.kind == "sqlite":
        return SqliteSink(config.sqlite_path)
    if config.kind == "timestream":
        if timestream_client is None:
            from utils.aws import aws_client

            timestream_client = aws_client("timestream-write", settings)
        return TimestreamSink(timestream_client, config.database, config.table)
    if config.kind == "parquet":
        return ParquetSink(store)
    if config.kind == "none":
        return NoneSink()
    raise ValueError(f"unknown time-series sink kind {config.kind!r}")
