"""utils/query.py pure parts and source tolerance: names resolve by ARM code or display location with near
matches suggested, and history matches a series whether its records name the region by ARM code (written
before the public naming cutover, no RegionCode) or by display location with RegionCode beside it, in SQLite
and in Parquet files read together by DuckDB."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from utils.errors import UsageError
from utils.query import HistoryQuery, Names, parse_when, read_history
from utils.store import LocalStore

LATEST = pd.DataFrame({"InstanceType": ["D2s_v3", "D2ps_v5"], "Region": ["eastus", "westus2"],
                       "RegionName": ["US East", None],
                       "InstanceFamily": ["standardDSv3Family", "standardDPSv5Family"]})  # fmt: skip
RECORD = {"InstanceTier": "Standard", "InstanceType": "D2s_v3", "AvailabilityZone": "1", "DesiredCount": 1.0,
          "SpotPrice": 0.0192, "OndemandPrice": 0.096, "Savings": 80.0, "IF": -1.0, "Score": 3.0, "T2": 1.0,
          "T3": 1.0}  # fmt: skip
PRE = {**RECORD, "Region": "eastus"}  # before the cutover: the ARM code, no RegionCode
POST = {**RECORD, "Region": "US East", "RegionCode": "eastus"}
OTHER = {**RECORD, "Region": "US West 2", "RegionCode": "westus2"}


def test_regions_resolve_by_code_or_display_location_and_unknown_names_suggest() -> None:
    names = Names.of(LATEST)
    assert names.region("US  east") == names.region("EASTUS") == "eastus"
    assert names.region("westus2") == "westus2"  # no display location known: the code is its name
    assert names.size("standard_D2S_V3") == "D2s_v3"
    with pytest.raises(UsageError, match=r"unknown region 'US Est'; did you mean 'US East'"):
        names.region("US Est")
    with pytest.raises(UsageError, match=r"unknown VM size 'D2pss_v5'; did you mean 'D2ps_v5'"):
        names.size("D2pss_v5")
    assert parse_when("2025-12-13T14:00:00+01:00", "--since") == datetime(2025, 12, 13, 13, 0, tzinfo=UTC)


def query() -> HistoryQuery:
    return HistoryQuery(sizes=("D2s_v3",), region_code="eastus", region_display="US East")


def test_sqlite_history_reads_records_from_before_and_after_the_cutover(tmp_path: Path) -> None:
    db = tmp_path / "ts.db"
    with closing(sqlite3.connect(db)) as connection:
        pd.DataFrame([{**PRE, "RegionCode": None, "time": "2025-12-13 13:00:00"},
                      {**POST, "time": "2025-12-13 13:10:00"}, {**OTHER, "time": "2025-12-13 13:10:00"}]
                     ).to_sql("azure_timeseries", connection, index=False)  # fmt: skip
    settings = SimpleNamespace(timeseries=SimpleNamespace(kind="sqlite", sqlite_path=db))
    history = read_history(settings, LocalStore(tmp_path / "store"), query())
    assert history["time"].dt.strftime("%H:%M").tolist() == ["13:00", "13:10"]
    assert history["IF"].isna().all()  # the sinks' -1 is missing again


def test_parquet_history_reads_files_with_and_without_region_code(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    for hhmm, rows in (("13-00", [PRE]), ("13-10", [POST, OTHER])):
        frame = pd.DataFrame(rows).assign(time=pd.Timestamp(f"2025-12-13 {hhmm.replace('-', ':')}", tz="UTC"))
        path = tmp_path / "store" / "timeseries" / "azure" / "2025" / "12" / "13" / f"{hhmm}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
    settings = SimpleNamespace(timeseries=SimpleNamespace(kind="parquet"),
                               store=SimpleNamespace(kind="local", root=tmp_path / "store"))  # fmt: skip
    history = read_history(settings, store, query())
    assert history["time"].dt.strftime("%H:%M").tolist() == ["13:00", "13:10"]
    assert history["RegionCode"].tolist()[1] == "eastus"
    later = read_history(settings, store, HistoryQuery(sizes=("D2s_v3",), since=datetime(2025, 12, 13, 13, 5,
                                                                                          tzinfo=UTC)))  # fmt: skip
    assert len(later) == 2  # both regions of 13:10


def test_history_needs_a_queryable_sink(tmp_path: Path) -> None:
    settings = SimpleNamespace(timeseries=SimpleNamespace(kind="timestream"))
    with pytest.raises(UsageError, match="Timestream is queried in AWS"):
        read_history(settings, LocalStore(tmp_path), query())
