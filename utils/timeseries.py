"""Time-series sinks for the merge's change records (docs/contract.md 7): SQLite, Timestream, Parquet, none.

Every sink takes the same frame of change records (``TIMESERIES_COLUMNS``, in the public naming that
``merge.public`` produces) and the slot; the sink writes ``time = slot``. Public-output rules apply to every
sink: a missing number is written as -1 and a missing text as ``N/A``, so a query never has to tell NULL
from "not measured".

Record shape (SpotLake's live Azure table, ddps-lab/spotlake ``collector/spot-dataset/azure`` upload code,
observed 2026-01): dimensions InstanceTier, InstanceType, Region (the display location, ``US East``) and
AvailabilityZone; one multi-measure ``azure_values`` with DesiredCount, OndemandPrice, SpotPrice, Savings,
IF, T2, T3 (DOUBLE), Score (VARCHAR integer text ``"3"``, missing ``"-1"``) and Time (VARCHAR
``YYYY-MM-DD HH:MM:SS``: the slot of the row's last SPS probe, older than the record time for a carried
row). ``RegionCode`` (the ARM code) is a column of the SQLite and Parquet sinks only, never a Timestream
dimension, so the series keys stay SpotLake's. SQLite and Parquet have no ``Time`` column: SQL column names
are case-insensitive there and ``time`` (the slot) already holds the record time.

A write replaces the slot's records (docs/contract.md 8; issue 14 item 5): a rerun of a slot that saw other Azure
data leaves no record of the earlier attempt, and no duplicates.
- SQLite: the slot's rows are deleted and the new ones inserted in one transaction.
- Parquet: one file per slot (``timeseries/azure/YYYY/MM/DD/HH-MM.parquet``), replaced by each write
  (removed by an empty one).
- Timestream cannot delete. One point per (dimensions, time = slot); ``Version`` = the write's wall-clock
  epoch ms (never below the slot's), so a later write of a point replaces it. A rerun that does not
  change a key an earlier attempt wrote writes that key again with the rerun's values
  (``with_restatements``), so no point of the earlier attempt survives.

The key ledger (docs/contract.md 5, 8). Before any sink that stores points (all but ``none``) writes, the
series keys of the write are added to the slot's ledger (``timeseries_written_key``). It answers two
questions a later merge cannot answer from the committed state, which only knows what *committed* slots
published:

- a rerun of the same slot: which keys did an earlier attempt write (Timestream restates them, above);
- a later slot: which keys did a slot write that died after the time-series step and was never committed
  (an *orphan slot*, ``merge.orphans``); the next merge publishes those keys again whatever they hold.

The ledger is the union over the slot's attempts, never replaced: it is written before the write it
describes, so a write that then fails must not have removed the keys of an earlier attempt the sink still
holds. A key too many only costs a record; a key too few leaves a wrong point. Ledgers are pruned after a
commit (``ledgers_to_prune``), never before the slot they could be an orphan for has committed.

Querying the Parquet dataset with DuckDB (store root ``./spotlake-data``)::

    SELECT time, Region, SpotPrice FROM read_parquet('spotlake-data/timeseries/azure/*/*/*/*.parquet')
    WHERE InstanceType = 'D2s_v3' AND Region = 'US East' ORDER BY time;

(Athena: an external table over ``s3://bucket/prefix/timeseries/azure/`` with the same columns.)
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time as time_module
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from utils.constants import timeseries_parquet_key
from utils.errors import CorruptObject, ObjectNotFound, RunFailed
from utils.slot_objects import SlotObjects
from utils.store import Store
from utils.store_io import read_json, write_json, write_parquet
from utils.vm_specs import MERGED_SPEC_COLUMNS, SPEC_TEXT_COLUMNS, public_specs

log = logging.getLogger(__name__)

DIMENSION_COLUMNS = ["InstanceTier", "InstanceType", "Region", "AvailabilityZone"]
REGION_CODE_COLUMN = "RegionCode"  # SQLite / Parquet only, not a Timestream dimension
DOUBLE_MEASURES = ["DesiredCount", "OndemandPrice", "SpotPrice", "Savings", "IF", "T2", "T3"]
SCORE_MEASURE = "Score"  # VARCHAR integer text in Timestream; numeric in SQLite and Parquet
TIME_MEASURE = "Time"  # VARCHAR in Timestream only (the row's last probe), see the module docstring
NUMBER_COLUMNS = [*DOUBLE_MEASURES, SCORE_MEASURE]
TEXT_COLUMNS = [*DIMENSION_COLUMNS, REGION_CODE_COLUMN, TIME_MEASURE]
TABLE_COLUMNS = [*DIMENSION_COLUMNS, REGION_CODE_COLUMN, *NUMBER_COLUMNS]  # SQLite / Parquet, plus ``time``
TIMESERIES_COLUMNS = [*TABLE_COLUMNS, TIME_MEASURE]  # the records frame every sink takes
TIMESTREAM_MEASURES = [*((name, "DOUBLE") for name in DOUBLE_MEASURES), (SCORE_MEASURE, "VARCHAR"),
                       (TIME_MEASURE, "VARCHAR")]  # fmt: skip

MISSING_NUMBER = -1.0
MISSING_TEXT = "N/A"
MEASURE_NAME = "azure_values"
TIMESTREAM_BATCH = 100  # WriteRecords quota; neither botocore nor moto enforces it (docs/aws-facts.md section 1)
SQLITE_TABLE = "azure_timeseries"
# Timestream error codes worth another try (botocore's standard mode already retried them per call).
_RETRIABLE_CODES = {"ThrottlingException", "InternalServerException", "ServiceUnavailable"}


WRITTEN_PREFIX = "latest_data/azure/timeseries_written"
# A ledger older than this before the merged slot is pruned even when no committed base covers it. Safe for
# orphans: an orphan slot on an earlier UTC day than the merged slot means the merge's base is from an earlier
# day too, so the merge is a keyframe and publishes every row anyway (docs/contract.md 7). 48 h, as the state
# snapshots, is twice that day.
WRITTEN_RETENTION_SECONDS = 48 * 3600
_LEDGERS = SlotObjects(WRITTEN_PREFIX, ".json")

SeriesKey = tuple[str, ...]  # (InstanceTier, InstanceType, Region, AvailabilityZone), as written


class TimeseriesSink(Protocol):
    """A sink of change records. Two optional class attributes, read by ``with_restatements`` (a wrapper that
    lacks them, such as a test's fault injector, gets the defaults): ``replaces_slot`` (default True: a write
    replaces the slot's earlier points; False for Timestream) and ``writes_points`` (default True: it stores
    what it is given, so its keys go to the ledger; False for ``none``)."""

    def write(self, records: pd.DataFrame, slot: datetime) -> int:
        """Write the change records of ``slot``; returns how many records are now stored for them."""
        ...


def timeseries_written_key(slot: datetime) -> str:
    """The ledger of series keys written for ``slot`` (a JSON list of [tier, type, region, zone])."""
    return _LEDGERS.key(slot)


def timeseries_written_slot(key: str) -> datetime | None:
    """The slot of a ledger key; None for any other key (a temp file, a stray object)."""
    return _LEDGERS.slot(key)


def list_written_ledgers(store: Store) -> list[tuple[datetime, str]]:
    """(slot, key) of every stored ledger, oldest first."""
    return _LEDGERS.list(store)


def read_written_keys(store: Store, slot: datetime) -> set[SeriesKey]:
    """The series keys of ``slot``'s ledger. Raises ObjectNotFound, or CorruptObject when it is not a list
    of four-text lists."""
    key = timeseries_written_key(slot)
    items = read_json(store, key)
    if not isinstance(items, list) or not all(isinstance(i, list) and len(i) == len(DIMENSION_COLUMNS)
                                              for i in items):  # fmt: skip
        raise CorruptObject(key, "not a list of [tier, type, region, zone] lists")
    return {tuple(str(v) for v in item) for item in items}


def ledgers_to_prune(ledgers: Sequence[tuple[datetime, str]], slot: datetime, base_slot: datetime | None) -> list[str]:
    """Keys of the ledgers a committed merge of ``slot`` (from ``base_slot``) no longer needs (pure).

    A ledger at or before the base slot is done with: that slot committed, or it was an orphan of a slot up
    to the base, whose commit republished its keys. A ledger after the base may be an orphan of the next
    merge, or (``slot``'s own) the one a committed rerun of ``slot`` reads, so it is kept, unless it is
    older than ``WRITTEN_RETENTION_SECONDS`` (see there why that is safe).
    """
    slot = _utc(slot)
    base = None if base_slot is None else _utc(base_slot)
    cutoff = slot - timedelta(seconds=WRITTEN_RETENTION_SECONDS)
    return [key for at, key in ledgers
            if at != slot and ((base is not None and at <= base) or at < cutoff)]  # fmt: skip


def prune_ledgers(store: Store, slot: datetime, base_slot: datetime | None) -> int:
    """Delete the ledgers ``ledgers_to_prune`` names; call only after ``slot`` committed. Returns how many."""
    stale = ledgers_to_prune(list_written_ledgers(store), slot, base_slot)
    for key in stale:
        store.delete(key)
    return len(stale)


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

    Text columns (dimensions, RegionCode, Time) become non-empty strings (missing or empty -> ``N/A``);
    measures and Score become float64 (missing or non-finite -> -1). Extra columns are dropped.

    Raises:
        ValueError: a required column is absent (a caller bug, not a data fault).
    """
    missing = [c for c in TIMESERIES_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"time-series records lack columns {missing}")
    out = pd.DataFrame(index=pd.RangeIndex(len(records)))
    for column in TIMESERIES_COLUMNS:
        values = records[column].reset_index(drop=True)
        if column in TEXT_COLUMNS:
            text = values.astype("string").str.strip()
            out[column] = text.where(values.notna() & (text != ""), MISSING_TEXT).astype(object)
        else:
            numbers = pd.to_numeric(values, errors="coerce").astype("float64")
            out[column] = numbers.where(numbers.abs() != math.inf).fillna(MISSING_NUMBER)
    return out


def with_spec_columns(frame: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """``normalise_records(records)`` with the VM spec columns (``utils.vm_specs.MERGED_SPEC_COLUMNS``)
    appended, -1 / ``N/A`` where ``records`` lacks them: columns of the SQLite and Parquet sinks only, never
    Timestream measures."""
    return pd.concat([frame, public_specs(records)], axis=1)


def _number_text(values: pd.Series) -> pd.Series:
    """Shortest round-trip decimal text of float64 values ("3.0", "0.096", "-1.0")."""
    return values.astype("float64").astype(str)


def _integer_text(values: pd.Series) -> pd.Series:
    """Integer text of whole float64 values ("3", "-1"): the Score as SpotLake's Timestream holds it."""
    return values.astype("float64").round().astype("int64").astype(str)


def build_timestream_records(records: pd.DataFrame, slot: datetime, version: int | None = None) -> list[dict[str, Any]]:
    """Multi-measure WriteRecords entries (docs/contract.md 7), one per row of ``records``; vectorised per column.

    >>> build_timestream_records(frame_with_one_row, slot)[0]
    {'Dimensions': [{'Name': 'InstanceTier', 'Value': 'Standard', 'DimensionValueType': 'VARCHAR'}, ...],
     'MeasureName': 'azure_values', 'MeasureValueType': 'MULTI',
     'MeasureValues': [{'Name': 'DesiredCount', 'Value': '5.0', 'Type': 'DOUBLE'}, ...,
                       {'Name': 'Score', 'Value': '3', 'Type': 'VARCHAR'},
                       {'Name': 'Time', 'Value': '2025-12-13 13:00:00', 'Type': 'VARCHAR'}],
     'Time': '1765630800000', 'TimeUnit': 'MILLISECONDS', 'Version': 1765630800000}
    """
    frame = normalise_records(records)
    epoch_ms = slot_epoch_ms(slot)
    version = epoch_ms if version is None else version
    time_text = str(epoch_ms)
    dim_cols = [frame[c].tolist() for c in DIMENSION_COLUMNS]
    measure_cols = [
        *(_number_text(frame[c]).tolist() for c in DOUBLE_MEASURES),
        _integer_text(frame[SCORE_MEASURE]).tolist(),
        frame[TIME_MEASURE].tolist(),
    ]
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
                    for (name, kind), value in zip(TIMESTREAM_MEASURES, measures, strict=True)
                ],
                "Time": time_text,
                "TimeUnit": "MILLISECONDS",
                "Version": version,
            }
        )
    return out


def series_keys(records: pd.DataFrame) -> set[tuple[str, ...]]:
    """The distinct series keys (dimension values as written) of ``records``."""
    frame = normalise_records(records)[DIMENSION_COLUMNS].drop_duplicates()
    return set(zip(*(frame[c].tolist() for c in DIMENSION_COLUMNS), strict=True))


def restatements(earlier: set[tuple[str, ...]], records: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``baseline`` whose series key an earlier attempt wrote and ``records`` does not (pure)."""
    stale = earlier - series_keys(records)
    if not stale or baseline.empty:
        return baseline.iloc[:0]
    dims = normalise_records(baseline)[DIMENSION_COLUMNS]
    wanted = pd.MultiIndex.from_tuples(sorted(stale), names=DIMENSION_COLUMNS)
    hit = pd.MultiIndex.from_frame(dims).isin(wanted)
    return baseline.loc[hit]


def with_restatements(
    sink: TimeseriesSink, store: Store, slot: datetime, records: pd.DataFrame, baseline: pd.DataFrame | None
) -> pd.DataFrame:
    """``records`` for ``sink``, after adding their series keys to the slot's ledger (every sink that stores
    points: ``writes_points``, all but ``none``), so an attempt that dies mid-write or before its commit is
    known to the next merge (see the module docstring). For a sink that cannot delete (``replaces_slot``
    False: Timestream), plus the restatement of every key an earlier attempt of the slot wrote and these
    records do not, taken from ``baseline`` (the rerun's values for every row)."""
    if not getattr(sink, "writes_points", True):
        return records  # nothing is stored, so nothing can be orphaned or restated
    key = timeseries_written_key(slot)
    try:
        earlier = read_written_keys(store, slot)
    except ObjectNotFound:
        earlier = set()
    except CorruptObject as exc:
        # Without the ledger the earlier attempt's keys are unknown: take every row this run knows instead
        # (restated on Timestream, and recorded, so a later merge still sees them if this attempt dies).
        log.warning("time-series ledger %s unreadable (%s): taking every row this run knows as written", key, exc)
        earlier = series_keys(baseline) if baseline is not None else set()
    written = earlier | series_keys(records)
    write_json(store, key, sorted(list(k) for k in written))
    if getattr(sink, "replaces_slot", True) or baseline is None:
        return records  # SQLite / Parquet: the write itself removes what an earlier attempt of the slot wrote
    extra = restatements(earlier, records, baseline)
    missing = len(earlier - series_keys(records) - series_keys(extra))
    if len(extra):
        log.info("time series: restating %d series an earlier attempt of this slot wrote", len(extra))
    if missing:
        log.warning("time series: %d series an earlier attempt of this slot wrote are unknown to this run and "
                    "keep that attempt's point (Timestream cannot delete)", missing)  # fmt: skip
    return pd.concat([records, extra[records.columns]], ignore_index=True) if len(extra) else records


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
    RegionCode TEXT,
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
# Rows written before the public naming cutover (Region = ARM code, no RegionCode column: the table is
# upgraded in place by ``_upgrade_schema``) are indexed so renaming them stays cheap on a large table.
_SQLITE_PRE_CUTOVER_INDEX = (
    f"CREATE INDEX IF NOT EXISTS {SQLITE_TABLE}_pre_cutover ON {SQLITE_TABLE} (Region) WHERE RegionCode IS NULL"
)
_SQLITE_RENAME = (
    f"UPDATE OR REPLACE {SQLITE_TABLE} SET Region = ?, RegionCode = ? WHERE RegionCode IS NULL AND Region = ?"
)

_SQLITE_COLUMNS = [*TABLE_COLUMNS, *MERGED_SPEC_COLUMNS, "time"]
_SQLITE_UPSERT = (
    f"INSERT INTO {SQLITE_TABLE} ({', '.join(_SQLITE_COLUMNS)}) VALUES ({', '.join('?' for _ in _SQLITE_COLUMNS)}) "
    f"ON CONFLICT (InstanceTier, InstanceType, Region, AvailabilityZone, time) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in [REGION_CODE_COLUMN, *NUMBER_COLUMNS, *MERGED_SPEC_COLUMNS])
)


def _upgrade_schema(connection: sqlite3.Connection) -> None:
    """Add ``RegionCode`` to a table created before it existed (its rows keep NULL until renamed)."""
    columns = {row[1] for row in connection.execute(f"PRAGMA table_info({SQLITE_TABLE})")}
    if REGION_CODE_COLUMN not in columns:
        connection.execute(f"ALTER TABLE {SQLITE_TABLE} ADD COLUMN {REGION_CODE_COLUMN} TEXT")
        log.warning("time-series table %s upgraded: RegionCode column added; earlier rows (Region = ARM code) "
                    "are renamed to display locations as their regions are written again", SQLITE_TABLE)  # fmt: skip
    connection.execute(_SQLITE_PRE_CUTOVER_INDEX)


def _rename_pre_cutover_rows(connection: sqlite3.Connection, frame: pd.DataFrame) -> int:
    """Rename rows written before the cutover (Region = ARM code, RegionCode NULL) of the regions in
    ``frame`` to (display location, ARM code), so a series continues across the cutover; returns how many.

    ``OR REPLACE``: a rerun of a pre-cutover slot may already hold the renamed point; the rerun's upsert
    that follows writes it anyway.
    """
    if connection.execute(f"SELECT 1 FROM {SQLITE_TABLE} WHERE RegionCode IS NULL LIMIT 1").fetchone() is None:
        return 0
    pairs = frame[["Region", REGION_CODE_COLUMN]].drop_duplicates()
    before = connection.total_changes
    connection.executemany(_SQLITE_RENAME, zip(pairs["Region"], pairs[REGION_CODE_COLUMN], pairs[REGION_CODE_COLUMN],
                                               strict=True))  # fmt: skip
    renamed = connection.total_changes - before
    if renamed:
        log.warning("time-series cutover: %d earlier rows renamed from ARM codes to display locations (%d regions)",
                    renamed, len(pairs))  # fmt: skip
    return renamed


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
    ``time`` is text ``YYYY-MM-DD HH:MM:SS`` in UTC. ``RegionCode`` is NULL only on rows written before the
    public naming cutover whose region has not been written since (see ``_rename_pre_cutover_rows``).
    """

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(_SQLITE_SCHEMA)
        _upgrade_schema(connection)
        _add_spec_columns(connection)
        return connection

    replaces_slot = True

    def write(self, records: pd.DataFrame, slot: datetime) -> int:
        """Replace the slot's rows with ``records`` (one transaction)."""
        frame = with_spec_columns(normalise_records(records), records)
        if frame.empty and not self.path.exists():
            return 0  # nothing stored, nothing to replace
        frame["time"] = sqlite_time_text(slot)
        rows = list(zip(*(frame[c].tolist() for c in _SQLITE_COLUMNS), strict=True))
        try:
            connection = self._connect()
        except (sqlite3.Error, OSError) as exc:
            raise RunFailed(f"cannot open time-series database {self.path}: {exc}") from exc
        try:
            connection.execute("BEGIN IMMEDIATE")
            _rename_pre_cutover_rows(connection, frame)
            connection.execute(f"DELETE FROM {SQLITE_TABLE} WHERE time = ?", (sqlite_time_text(slot),))
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
    rules, docs/aws-facts.md section 1).
    """

    replaces_slot = False  # Timestream cannot delete: reruns restate (see with_restatements)

    def __init__(
        self,
        client: Any,
        database: str,
        table: str,
        *,
        max_retries: int = 3,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
        sleep: Callable[[float], None] = time_module.sleep,
        version_clock: Callable[[], float] = time_module.time,
    ) -> None:
        self.client = client
        self.database = database
        self.table = table
        self.version_clock = version_clock
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.sleep = sleep

    def _backoff(self, attempt: int) -> None:
        """Sleep before retry ``attempt`` (1, 2, ...): the base doubled each time, capped."""
        self.sleep(min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1)))

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
                self._backoff(attempt)
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
                self._backoff(attempt)
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
    rerun of the slot is idempotent; an empty write removes it. Files written before the public naming
    cutover have Region = ARM code and no RegionCode (DuckDB reads both with ``union_by_name = true``).
    """

    replaces_slot = True

    def __init__(self, store: Store) -> None:
        self.store = store

    def write(self, records: pd.DataFrame, slot: datetime) -> int:
        frame = with_spec_columns(normalise_records(records), records)
        key = timeseries_parquet_key(slot)
        if frame.empty:
            self.store.delete(key)
            return 0
        frame = frame[[*TABLE_COLUMNS, *MERGED_SPEC_COLUMNS]].copy()
        for column in [*DIMENSION_COLUMNS, REGION_CODE_COLUMN]:
            frame[column] = frame[column].astype(str)
        frame["time"] = pd.Timestamp(_utc(slot)).as_unit("ms")
        write_parquet(self.store, key, frame)
        return len(frame)


class NoneSink:
    """Discards records (``SPOTLAKE_TIMESERIES=none``); reports them as written."""

    replaces_slot = True
    writes_points = False  # no ledger: nothing it "wrote" can be read back, so nothing can be orphaned

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
        # The backoff of the settings (SPOTLAKE_RETRY_BASE_DELAY / _MAX_DELAY), as for every other remote call;
        # the number of retries stays Timestream's own bound (rejected records are re-sent at most 3 times).
        return TimestreamSink(timestream_client, config.database, config.table,
                              backoff_seconds=settings.retry.base_delay,
                              max_backoff_seconds=settings.retry.max_delay)  # fmt: skip
    if config.kind == "parquet":
        return ParquetSink(store)
    if config.kind == "none":
        return NoneSink()
    raise ValueError(f"unknown time-series sink kind {config.kind!r}")
