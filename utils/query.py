"""Reading the collected data back without SQL: the latest merged dataset and the change history.

Sources (whatever the settings name; ``scripts/query.py`` is the command):

- the latest state ``latest_data/azure/latest_state.parquet`` (the merged dataset of the last committed run,
  internal naming: ``Region`` = ARM code, ``RegionName`` = display location, the VM spec columns);
- the time-series sink: SQLite (``sqlite3``) or the date-partitioned Parquet files in the store (DuckDB,
  ``union_by_name`` so files written before and after a column was added read together). Timestream is
  out of scope locally. The sink's ``Region`` is the ARM code in tables written before the public naming
  cutover and the display location after it, with the code in ``RegionCode``; both are matched.

Pure parts (name resolution, filters, ``best``) take frames; only ``load_latest`` and ``read_history`` do I/O.
Unknown sizes, regions, families and zones raise ``UsageError`` with the nearest known names (difflib).
"""

from __future__ import annotations

import difflib
import sqlite3
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from utils.constants import LATEST_STATE_KEY, MERGED_COLUMNS, TIMESERIES_PREFIX
from utils.errors import ObjectNotFound, RunFailed, UsageError
from utils.store import Store
from utils.store_io import read_parquet
from utils.vm_specs import MERGED_SPEC_COLUMNS, spec_columns_in

ZONES = ("1", "2", "3", "Single")
SQLITE_TABLE = "azure_timeseries"  # utils.timeseries.SQLITE_TABLE
HISTORY_COLUMNS = ["time", "InstanceTier", "InstanceType", "Region", "RegionCode", "AvailabilityZone",
                   "DesiredCount", "SpotPrice", "OndemandPrice", "Savings", "IF", "Score", "T2", "T3"]  # fmt: skip
HISTORY_NUMBERS = ["DesiredCount", "SpotPrice", "OndemandPrice", "Savings", "IF", "Score", "T2", "T3"]
LATEST_COLUMNS = ["InstanceTier", "InstanceType", "Region", "RegionCode", "AvailabilityZone", "InstanceFamily",
                  *MERGED_SPEC_COLUMNS[:4], "SpotPrice", "OndemandPrice", "Savings", "SpotPricePerVcpu", "IF",
                  "Score", "DesiredCount", "T2", "T3", "Time"]  # fmt: skip
BEST_COLUMNS = ["InstanceType", "Region", "RegionCode", "AvailabilityZone", "SpotPrice", "OndemandPrice",
                "Savings", "SpotPricePerVcpu", "IF", "T2", "T3", "Score", "vCPUs", "MemoryGiB",
                "LastProbed"]  # fmt: skip
PUBLIC_MISSING = -1.0  # how the sinks store a missing number (utils.timeseries)


def suggest(name: str, known: Iterable[str], what: str) -> UsageError:
    """A UsageError for an unknown ``what`` naming up to three near matches (case-insensitive)."""
    known = sorted(set(known))
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(by_lower[c]) for c in close)}?" if close else ""
    return UsageError(f"unknown {what} {name!r}{hint} ({len(known)} known)")


@dataclass(frozen=True)
class Names:
    """Known sizes, regions (ARM code -> display location) and families, from the latest dataset."""

    sizes: dict[str, str]  # lower-case size -> ARM casing
    regions: dict[str, str]  # ARM code -> display location (the code itself when none is known)
    families: dict[str, str]  # lower-case family -> casing

    @classmethod
    def of(cls, latest: pd.DataFrame) -> Names:
        sizes = latest["InstanceType"].dropna().astype(str).drop_duplicates()
        pairs = latest[["Region", "RegionName"]].drop_duplicates("Region")
        display = pairs["RegionName"].where(pairs["RegionName"].notna(), pairs["Region"]).astype(str)
        families = latest["InstanceFamily"].dropna().astype(str).drop_duplicates()
        return cls(
            sizes={s.lower(): s for s in sizes},
            regions=dict(zip(pairs["Region"].astype(str), display, strict=True)),
            families={f.lower(): f for f in families},
        )

    def size(self, text: str) -> str:
        """``d2s_v3`` or ``Standard_D2s_v3`` -> ``D2s_v3``; UsageError (with near matches) when unknown."""
        key = text.strip().lower()
        for prefix in ("standard_", "basic_"):
            if key.startswith(prefix) and key.removeprefix(prefix) in self.sizes:
                key = key.removeprefix(prefix)
        if key not in self.sizes:
            raise suggest(text, self.sizes.values(), "VM size")
        return self.sizes[key]

    def region(self, text: str) -> str:
        """An ARM code (``eastus``) or a display location (``US East``), any casing -> the ARM code."""
        key = " ".join(text.split()).lower()
        for code, display in self.regions.items():
            if key in (code.lower(), display.lower()):
                return code
        raise suggest(text, [*self.regions, *self.regions.values()], "region")

    def family(self, text: str) -> str:
        key = text.strip().lower()
        if key not in self.families:
            raise suggest(text, self.families.values(), "VM family")
        return self.families[key]


def zone(text: str) -> str:
    """``1``/``2``/``3``/``Single`` (any casing); UsageError otherwise."""
    for known in ZONES:
        if text.strip().lower() == known.lower():
            return known
    raise UsageError(f"unknown zone {text!r}: expected one of {', '.join(ZONES)}")


def parse_when(text: str, option: str) -> datetime:
    """``2025-12-13``, ``2025-12-13 13:00``, ISO 8601 (an offset is converted) -> an aware UTC datetime."""
    try:
        stamp = pd.Timestamp(text.strip())
    except (ValueError, TypeError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise UsageError(f"{option} {text!r}: expected a date or time such as 2025-12-13 or '2025-12-13 13:00'")
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return stamp.to_pydatetime()


# ---------------------------------------------------------------------------------------------------------
# The latest dataset


def load_latest(store: Store) -> pd.DataFrame:
    """The merged rows of the latest state (``MERGED_COLUMNS`` and the spec columns it has).

    Raises:
        UsageError: no run has committed a state in this store yet.
        CorruptObject: the state is not readable.
    """
    try:
        frame = read_parquet(store, LATEST_STATE_KEY, columns=["Kind", *MERGED_COLUMNS])
    except ObjectNotFound:
        raise UsageError(f"no data yet in {store.describe()}: no latest state (run `make run` first)") from None
    merged = frame[frame["Kind"].astype(str) == "merged"]
    columns = [*MERGED_COLUMNS, *spec_columns_in(merged)]
    merged = merged[columns].reset_index(drop=True)
    for column in ("InstanceTier", "InstanceType", "Region", "AvailabilityZone"):
        merged[column] = merged[column].astype(str)
    for column in MERGED_SPEC_COLUMNS:  # a state written before the specs existed
        if column not in merged.columns:
            merged[column] = None if column == "Architecture" else np.nan
    return merged


def latest_view(latest: pd.DataFrame) -> pd.DataFrame:
    """The latest rows as people read them: ``Region`` = display location, ``RegionCode`` = ARM code,
    ``Time`` = the slot of the row's last SPS probe (UTC text), columns ``LATEST_COLUMNS``."""
    view = latest.copy()
    view["RegionCode"] = view["Region"]
    view["Region"] = view["RegionName"].where(view["RegionName"].notna(), view["Region"])
    view["Time"] = pd.to_datetime(view["Time"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S")
    return _integers(view[LATEST_COLUMNS].copy(), ["vCPUs", "GPUs", "Score", "DesiredCount", "T2", "T3"])


def filter_latest(
    latest: pd.DataFrame,
    names: Names,
    *,
    size: str | None = None,
    region: str | None = None,
    family: str | None = None,
    zone_name: str | None = None,
    min_t3: int | None = None,
    min_t2: int | None = None,
    max_price: float | None = None,
) -> pd.DataFrame:
    """Rows of ``latest`` (internal naming) matching every given filter, names resolved by ``names``."""
    keep = np.ones(len(latest), dtype=bool)
    if size is not None:
        keep &= (latest["InstanceType"] == names.size(size)).to_numpy()
    if region is not None:
        keep &= (latest["Region"] == names.region(region)).to_numpy()
    if family is not None:
        keep &= (latest["InstanceFamily"] == names.family(family)).to_numpy()
    if zone_name is not None:
        keep &= (latest["AvailabilityZone"] == zone(zone_name)).to_numpy()
    if min_t3 is not None:
        keep &= (latest["T3"] >= min_t3).to_numpy()
    if min_t2 is not None:
        keep &= (latest["T2"] >= min_t2).to_numpy()
    if max_price is not None:
        keep &= (latest["SpotPrice"] <= max_price).fillna(False).to_numpy(dtype=bool)
    return latest[keep].reset_index(drop=True)


def best(
    latest: pd.DataFrame, count: int, *, level: str = "T3", per_vcpu: bool = False, limit: int = 10
) -> pd.DataFrame:
    """The cheapest (size, region, zone) rows whose ``level`` (T3: High, T2: Medium or High) reaches ``count``.

    Sorted by spot price (``per_vcpu``: price per vCPU), then by the other level, IF and the key; rows
    without a spot price are left out. ``Savings`` is against the on-demand price; ``LastProbed`` is the
    slot of the row's last SPS probe. Columns ``BEST_COLUMNS``; at most ``limit`` rows (0: all).
    """
    if level not in ("T3", "T2"):
        raise UsageError(f"level {level!r}: expected T3 or T2")
    price = "SpotPricePerVcpu" if per_vcpu else "SpotPrice"
    rows = latest[(latest[level] >= count) & latest[price].notna()]
    other = "T2" if level == "T3" else "T3"
    rows = rows.sort_values([price, other, "IF", "InstanceType", "Region", "AvailabilityZone"],
                            ascending=[True, False, False, True, True, True], kind="stable")  # fmt: skip
    if limit:
        rows = rows.head(limit)
    view = latest_view(rows).rename(columns={"Time": "LastProbed"})
    return view[BEST_COLUMNS].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------------
# History from the time-series sink


@dataclass(frozen=True)
class HistoryQuery:
    """Which change records to read: sizes (ARM casing) and, optionally, one region, zone and time window."""

    sizes: tuple[str, ...]
    region_code: str | None = None  # ARM code
    region_display: str | None = None
    zone: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    tier: str = "Standard"


def _history_sql(table: str, columns: set[str], query: HistoryQuery, time_param: Any) -> tuple[str, list[Any]]:
    """(SQL, parameters) selecting ``HISTORY_COLUMNS`` (same text for SQLite and DuckDB, ``?`` parameters).

    ``Region`` is the ARM code in rows written before the public naming cutover (no ``RegionCode`` then, or
    NULL) and the display location after it, with the code in ``RegionCode``: both are matched.
    """
    region_code = "RegionCode" if "RegionCode" in columns else "CAST(NULL AS VARCHAR)"
    where = [f"InstanceType IN ({', '.join('?' for _ in query.sizes)})", "InstanceTier = ?"]
    params: list[Any] = [*query.sizes, query.tier]
    if query.region_code is not None:
        where.append(f"({region_code} = ? OR ({region_code} IS NULL AND (Region = ? OR Region = ?)))")
        params += [query.region_code, query.region_code, query.region_display or query.region_code]
    if query.zone is not None:
        where.append("AvailabilityZone = ?")
        params.append(query.zone)
    if query.since is not None:
        where.append("time >= ?")
        params.append(time_param(query.since))
    if query.until is not None:
        where.append("time <= ?")
        params.append(time_param(query.until))
    select = ", ".join(c if c != "RegionCode" else f"{region_code} AS RegionCode" for c in HISTORY_COLUMNS)
    order = "time, InstanceType, Region, AvailabilityZone"
    return f"SELECT {select} FROM {table} WHERE {' AND '.join(where)} ORDER BY {order}", params


def _sqlite_history(path: Path, query: HistoryQuery) -> pd.DataFrame:
    if not path.is_file():
        raise UsageError(f"no time-series database at {path} yet (run `make run` first)")
    # Read-only URI; a path spelled //tmp/... (POSIX leaves a leading // alone) would read as a URI authority.
    uri = "file:" + quote("/" + str(path.resolve()).lstrip("/")) + "?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise RunFailed(f"cannot open time-series database {path}: {exc}") from exc
    try:
        columns = {row[1] for row in connection.execute(f"PRAGMA table_info({SQLITE_TABLE})")}
        if not columns:
            raise UsageError(f"{path} has no {SQLITE_TABLE} table yet (run `make run` first)")
        sql, params = _history_sql(SQLITE_TABLE, columns, query, lambda t: t.strftime("%Y-%m-%d %H:%M:%S"))
        frame = pd.read_sql_query(sql, connection, params=params)
    except sqlite3.Error as exc:
        raise RunFailed(f"time-series query on {path} failed: {exc}") from exc
    finally:
        connection.close()
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


def _parquet_keys(store: Store, since: datetime | None) -> list[str]:
    """The sink's files (``timeseries/azure/YYYY/MM/DD/HH-MM.parquet``), only the days from ``since`` on."""
    keys = [k for k in store.list_keys(f"{TIMESERIES_PREFIX}/") if k.endswith(".parquet")]
    if since is None:
        return keys
    first_day = since.strftime("%Y/%m/%d")
    return [k for k in keys if k[len(TIMESERIES_PREFIX) + 1 :][:10] >= first_day]


def _parquet_files(store: Store, keys: list[str], root: Path | None, workdir: Path) -> list[str]:
    """Paths DuckDB can read: the store's own files when it is local, else copies fetched through it."""
    if root is not None:
        return [str(root / k) for k in keys]
    paths = []
    for i, key in enumerate(keys):  # S3: DuckDB has no credentials of its own here; the store fetches
        path = workdir / f"{i:06d}.parquet"
        path.write_bytes(store.get_bytes(key))
        paths.append(str(path))
    return paths


def _parquet_history(store: Store, root: Path | None, query: HistoryQuery) -> pd.DataFrame:
    import duckdb

    keys = _parquet_keys(store, query.since)
    if not keys:
        raise UsageError(f"no time-series files under {store.describe(TIMESERIES_PREFIX)} in that window")
    with tempfile.TemporaryDirectory(prefix="spotlake-query-") as workdir:
        files = _parquet_files(store, keys, root, Path(workdir))
        connection = duckdb.connect()
        try:
            connection.execute("SET TimeZone = 'UTC'")
            source = connection.read_parquet(files, union_by_name=True)
            connection.register("ts", source)
            sql, params = _history_sql("ts", set(source.columns), query, lambda t: t)
            frame = connection.sql(sql, params=params).to_arrow_table().to_pandas()
        except duckdb.Error as exc:
            raise RunFailed(f"time-series query over {len(files)} Parquet files failed: {exc}") from exc
        finally:
            connection.close()
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


def read_history(settings: Any, store: Store, query: HistoryQuery) -> pd.DataFrame:
    """Change records from the configured sink, oldest first, with the sinks' -1 for a missing number
    turned back into NaN. Columns ``HISTORY_COLUMNS`` (``time`` aware UTC).

    Raises:
        UsageError: the sink cannot be queried here (Timestream, none) or holds nothing yet.
        RunFailed: the sink is unreadable.
    """
    kind = settings.timeseries.kind
    if not query.sizes:
        return pd.DataFrame({c: [] for c in HISTORY_COLUMNS})
    if kind == "sqlite":
        frame = _sqlite_history(Path(settings.timeseries.sqlite_path), query)
    elif kind == "parquet":
        root = Path(settings.store.root) if settings.store.kind == "local" else None
        frame = _parquet_history(store, root, query)
    else:
        raise UsageError(f"history reads the SQLite or Parquet sink; SPOTLAKE_TIMESERIES is {kind} "
                         "(Timestream is queried in AWS, not by this command)")  # fmt: skip
    for column in HISTORY_NUMBERS:
        values = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        frame[column] = values.where(values != PUBLIC_MISSING)
    return frame[HISTORY_COLUMNS].reset_index(drop=True)


def history_view(history: pd.DataFrame, region_display: str) -> pd.DataFrame:
    """History rows of one region as people read them: ``time`` UTC text, ``Region`` the display location,
    whole numbers as integers."""
    view = history.copy()
    view["time"] = view["time"].dt.strftime("%Y-%m-%d %H:%M:%S")
    view["RegionCode"] = view["RegionCode"].fillna(view["Region"])
    view["Region"] = region_display
    return _integers(view, ["DesiredCount", "Score", "T2", "T3"])


def _integers(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Whole-number columns as nullable integers (a table shows 3, not 3.0; JSON writes 3 or null)."""
    for column in columns:
        frame[column] = pd.to_numeric(frame[column]).round().astype("Int64")
    return frame
