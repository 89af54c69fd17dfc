"""Time-series sinks against the real things they stand for: SQLite, DuckDB, moto's Timestream, Stubber."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from datetime import timedelta
from pathlib import Path

import boto3
import duckdb
import pandas as pd
import pytest
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.utils.sink_records import SLOT, SLOT_MS, change_records, pre_cutover_table
from utils.aws import aws_client
from utils.constants import timeseries_parquet_key
from utils.errors import RunFailed
from utils.settings import load_settings
from utils.store import LocalStore
from utils.store_io import read_parquet
from utils.timeseries import (
    TABLE_COLUMNS,
    TIMESERIES_COLUMNS,
    NoneSink,
    ParquetSink,
    SqliteSink,
    TimestreamSink,
    build_timestream_records,
    normalise_records,
    open_timeseries_sink,
)
from utils.vm_specs import MERGED_SPEC_COLUMNS

# The README query (verbatim): spot price history of D2s_v3 in eastus.
README_SPOT_HISTORY_SQL = """
SELECT time, AvailabilityZone, SpotPrice, OndemandPrice, Savings
FROM azure_timeseries
WHERE InstanceType = 'D2s_v3' AND Region = 'US East'
ORDER BY time, AvailabilityZone;
"""


# --- pure record preparation ------------------------------------------------------------------------------


def test_missing_numbers_become_minus_one_and_missing_text_becomes_na() -> None:
    frame = normalise_records(change_records(3))
    assert list(frame.columns) == TIMESERIES_COLUMNS
    assert frame.loc[2, "OndemandPrice"] == -1.0
    assert frame.loc[2, "Score"] == -1.0
    assert frame.loc[2, "AvailabilityZone"] == "N/A"
    assert frame.loc[0, "SpotPrice"] == pytest.approx(0.0192)
    assert (frame.loc[0, "RegionCode"], frame.loc[0, "Time"]) == ("eastus", "2025-12-13 13:00:00")


def test_records_missing_a_column_are_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="T3"):
        normalise_records(change_records(2).drop(columns=["T3"]))


def test_timestream_record_is_multi_measure_with_slot_time_and_version() -> None:
    record = build_timestream_records(change_records(1), SLOT)[0]
    assert record["Dimensions"] == [
        {"Name": "InstanceTier", "Value": "Standard", "DimensionValueType": "VARCHAR"},
        {"Name": "InstanceType", "Value": "D2s_v3", "DimensionValueType": "VARCHAR"},
        {"Name": "Region", "Value": "US East", "DimensionValueType": "VARCHAR"},
        {"Name": "AvailabilityZone", "Value": "1", "DimensionValueType": "VARCHAR"},
    ]
    assert record["MeasureName"] == "azure_values"
    assert record["MeasureValueType"] == "MULTI"
    assert record["MeasureValues"] == [
        {"Name": "DesiredCount", "Value": "5.0", "Type": "DOUBLE"},
        {"Name": "OndemandPrice", "Value": "0.096", "Type": "DOUBLE"},
        {"Name": "SpotPrice", "Value": "0.0192", "Type": "DOUBLE"},
        {"Name": "Savings", "Value": "80.0", "Type": "DOUBLE"},
        {"Name": "IF", "Value": "3.0", "Type": "DOUBLE"},
        {"Name": "T2", "Value": "5.0", "Type": "DOUBLE"},
        {"Name": "T3", "Value": "1.0", "Type": "DOUBLE"},
        {"Name": "Score", "Value": "3", "Type": "VARCHAR"},
        {"Name": "Time", "Value": "2025-12-13 13:00:00", "Type": "VARCHAR"},
    ]
    assert record["Time"] == str(SLOT_MS)
    assert record["TimeUnit"] == "MILLISECONDS"
    assert record["Version"] == SLOT_MS


# --- SQLite -----------------------------------------------------------------------------------------------


def test_sqlite_sink_rows_are_queryable_with_the_readme_query(tmp_path: Path) -> None:
    sink = SqliteSink(tmp_path / "sub" / "timeseries.db")
    assert sink.write(change_records(3), SLOT) == 3
    assert sink.write(change_records(1, spot_offset=0.001), SLOT + timedelta(minutes=10)) == 1
    with sqlite3.connect(tmp_path / "sub" / "timeseries.db") as db:
        rows = db.execute(README_SPOT_HISTORY_SQL).fetchall()
        assert rows == [
            ("2025-12-13 13:00:00", "1", 0.0192, 0.096, 80.0),
            ("2025-12-13 13:10:00", "1", pytest.approx(0.0202), 0.096, 80.0),
        ]
        missing = db.execute(
            "SELECT AvailabilityZone, OndemandPrice, Savings, Score FROM azure_timeseries "
            "WHERE InstanceType = 'NC24ads_A100_v4'"
        ).fetchall()
        assert missing == [("N/A", -1.0, -1.0, -1.0)]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        indexes = [row[1] for row in db.execute("PRAGMA index_list('azure_timeseries')")]
        assert "azure_timeseries_type_region_time" in indexes


def test_sqlite_rerun_of_a_slot_adds_no_duplicates_and_updates_values(tmp_path: Path) -> None:
    sink = SqliteSink(tmp_path / "ts.db")
    sink.write(change_records(3), SLOT)
    sink.write(change_records(3), SLOT)
    sink.write(change_records(3, spot_offset=1.0), SLOT)
    with sqlite3.connect(tmp_path / "ts.db") as db:
        assert db.execute("SELECT COUNT(*) FROM azure_timeseries").fetchone() == (3,)
        spot = db.execute("SELECT SpotPrice FROM azure_timeseries WHERE InstanceType = 'D2s_v3'").fetchone()
    assert spot[0] == pytest.approx(1.0192)


def test_sqlite_rows_carry_the_region_code_beside_the_display_location(tmp_path: Path) -> None:
    SqliteSink(tmp_path / "ts.db").write(change_records(2), SLOT)
    with sqlite3.connect(tmp_path / "ts.db") as db:
        rows = db.execute("SELECT Region, RegionCode FROM azure_timeseries").fetchall()
    assert rows == [("US East", "eastus")] * 2


_PRE_CUTOVER_SCHEMA = pre_cutover_table("azure_timeseries") + """
INSERT INTO azure_timeseries VALUES ('Standard', 'D2s_v3', 'eastus', '1', 1, 0.096, 0.0192, 80, 3, 1, 1, 3,
                                     '2025-12-13 12:50:00');
INSERT INTO azure_timeseries VALUES ('Standard', 'D2s_v3', 'westus2', '1', 1, 0.096, 0.0211, 78, 3, 1, 1, 3,
                                     '2025-12-13 12:50:00');
"""


def test_a_table_written_before_the_cutover_gets_region_code_and_its_series_continue(tmp_path: Path, caplog) -> None:
    # The table as the collector wrote it before the public naming cutover: Region = ARM code, no RegionCode.
    with sqlite3.connect(tmp_path / "ts.db") as db:
        db.executescript(_PRE_CUTOVER_SCHEMA)
    caplog.set_level("WARNING")
    SqliteSink(tmp_path / "ts.db").write(change_records(1), SLOT)
    with sqlite3.connect(tmp_path / "ts.db") as db:
        rows = db.execute(README_SPOT_HISTORY_SQL).fetchall()
        untouched = db.execute("SELECT Region, RegionCode FROM azure_timeseries WHERE Region = 'westus2'").fetchall()
    assert rows == [("2025-12-13 12:50:00", "1", 0.0192, 0.096, 80.0),
                    ("2025-12-13 13:00:00", "1", 0.0192, 0.096, 80.0)]
    assert untouched == [("westus2", None)]  # renamed when its region is written again
    assert "RegionCode column added" in caplog.text
    assert "time-series cutover: 1 earlier rows renamed" in caplog.text


def test_sqlite_sink_on_an_unusable_path_raises_run_failed(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFailed, match="time-series"):
        SqliteSink(tmp_path / "file" / "ts.db").write(change_records(1), SLOT)


# --- Parquet ----------------------------------------------------------------------------------------------


def test_parquet_sink_reads_back_with_pandas_and_the_documented_duckdb_query(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    sink = ParquetSink(store)
    assert sink.write(change_records(3), SLOT) == 3
    assert sink.write(change_records(2, spot_offset=0.5), SLOT + timedelta(days=1)) == 2
    frame = read_parquet(store, timeseries_parquet_key(SLOT))
    assert list(frame.columns) == [*TABLE_COLUMNS, *MERGED_SPEC_COLUMNS, "time"]
    assert (frame["time"] == pd.Timestamp(SLOT)).all()
    assert frame.loc[2, "OndemandPrice"] == -1.0
    glob = (tmp_path / "store" / "timeseries/azure/*/*/*/*.parquet").as_posix()
    documented = (
        f"SELECT time, Region, SpotPrice FROM read_parquet('{glob}') "
        "WHERE InstanceType = 'D2s_v3' AND Region = 'US East' ORDER BY time"
    )
    # epoch_ms: fetching a TIMESTAMPTZ into Python objects would need pytz, which the venv does not carry.
    rows = duckdb.sql(f"SELECT epoch_ms(time), Region, SpotPrice FROM ({documented})").fetchall()
    assert rows == [
        (SLOT_MS, "US East", pytest.approx(0.0192)),
        (SLOT_MS + 86_400_000, "US East", pytest.approx(0.5192)),
    ]


def test_parquet_rerun_of_a_slot_replaces_its_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    sink = ParquetSink(store)
    sink.write(change_records(3), SLOT)
    first = store.get_bytes(timeseries_parquet_key(SLOT))
    sink.write(change_records(3), SLOT)
    assert store.get_bytes(timeseries_parquet_key(SLOT)) == first
    assert store.list_keys("timeseries/") == [timeseries_parquet_key(SLOT)]
    assert len(read_parquet(store, timeseries_parquet_key(SLOT))) == 3


def test_none_sink_accepts_records_and_stores_nothing(tmp_path: Path) -> None:
    assert NoneSink().write(change_records(3), SLOT) == 3


def test_open_timeseries_sink_follows_the_settings(base_env: dict[str, str], tmp_path: Path) -> None:
    settings = load_settings(base_env)
    store = LocalStore(tmp_path)
    sink = open_timeseries_sink(settings, store)
    assert isinstance(sink, SqliteSink) and sink.path == settings.store.root / "timeseries.db"
    for value, kind in (("parquet", ParquetSink), ("none", NoneSink)):
        sink = open_timeseries_sink(load_settings({**base_env, "SPOTLAKE_TIMESERIES": value}), store)
        assert isinstance(sink, kind)
    ts = load_settings({**base_env, "SPOTLAKE_TIMESERIES": "timestream://db/tbl"})
    client = boto3.client("timestream-write", region_name="us-west-2", endpoint_url="http://127.0.0.1:9")
    sink = open_timeseries_sink(ts, store, timestream_client=client)
    assert isinstance(sink, TimestreamSink) and (sink.database, sink.table) == ("db", "tbl")


# --- Timestream through moto (server mode) ----------------------------------------------------------------


@pytest.fixture
def timestream(moto_endpoint: str, base_env: dict[str, str]):
    """A Timestream client from utils.aws against the moto server, a database/table, and every request URL."""
    settings = load_settings({**base_env, "AWS_ENDPOINT_URL": moto_endpoint,
                              "SPOTLAKE_TIMESERIES": "timestream://spotlake/azure"})  # fmt: skip
    client = aws_client("timestream-write", settings)
    urls: list[str] = []
    client.meta.events.register("before-send", lambda request, **_: urls.append(request.url))
    calls: list[int] = []
    client.meta.events.register(
        "before-parameter-build.timestream-write.WriteRecords", lambda params, **_: calls.append(len(params["Records"]))
    )
    client.create_database(DatabaseName="spotlake")
    client.create_table(DatabaseName="spotlake", TableName="azure")
    return settings, client, urls, calls


def _moto_records(region: str) -> list[dict]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.timestreamwrite.models import timestreamwrite_backends

    return timestreamwrite_backends[DEFAULT_ACCOUNT_ID][region].databases["spotlake"].tables["azure"].records


def test_timestream_records_land_in_moto_field_by_field_and_nothing_escapes(timestream, tmp_path) -> None:
    settings, client, urls, _calls = timestream
    sink = open_timeseries_sink(settings, LocalStore(tmp_path), timestream_client=client)
    assert sink.write(change_records(3), SLOT) == 3
    stored = _moto_records(settings.aws_region)
    version = stored[0]["Version"]
    assert version >= SLOT_MS  # the write's wall-clock epoch ms, never below the slot's
    assert stored == build_timestream_records(change_records(3), SLOT, version)
    first, missing = stored[0], stored[2]
    assert {d["Name"]: d["Value"] for d in first["Dimensions"]} == {
        "InstanceTier": "Standard", "InstanceType": "D2s_v3", "Region": "US East", "AvailabilityZone": "1"}
    assert {m["Name"]: (m["Value"], m["Type"]) for m in first["MeasureValues"]}["SpotPrice"] == ("0.0192", "DOUBLE")
    values = {m["Name"]: m["Value"] for m in missing["MeasureValues"]}
    assert (values["OndemandPrice"], values["Savings"], values["Score"]) == ("-1.0", "-1.0", "-1")
    assert {d["Name"]: d["Value"] for d in missing["Dimensions"]}["AvailabilityZone"] == "N/A"
    assert (first["Time"], first["TimeUnit"]) == (str(SLOT_MS), "MILLISECONDS")
    assert urls and all(url.startswith(settings.aws_endpoint_url) for url in urls)


def test_timestream_writes_250_records_in_three_calls_of_at_most_100(timestream) -> None:
    settings, client, urls, calls = timestream
    sink = TimestreamSink(client, "spotlake", "azure")
    assert sink.write(change_records(250), SLOT) == 250
    assert calls == [100, 100, 50]
    assert len(_moto_records(settings.aws_region)) == 250
    assert all(url.startswith(settings.aws_endpoint_url) for url in urls)


def test_timestream_rerun_of_a_slot_resends_the_same_points_with_a_higher_version(timestream) -> None:
    # moto appends blindly (no upsert); real Timestream upserts a point written again with a higher Version
    # (docs/aws-facts.md section 1). What the sink controls, and what this checks: the rerun's points are the
    # same points (dimensions, time, values) and carry a higher Version, so they supersede the first write.
    settings, client, _urls, _calls = timestream
    clock = iter([SLOT_MS / 1000 + 60, SLOT_MS / 1000 + 120])
    sink = TimestreamSink(client, "spotlake", "azure", version_clock=lambda: next(clock))
    sink.write(change_records(3), SLOT)
    sink.write(change_records(3), SLOT)
    stored = _moto_records(settings.aws_region)
    strip = [{k: v for k, v in r.items() if k != "Version"} for r in stored]
    assert strip[:3] == strip[3:]
    assert [r["Version"] for r in stored] == [SLOT_MS + 60_000] * 3 + [SLOT_MS + 120_000] * 3


def test_timestream_missing_table_raises_run_failed(timestream) -> None:
    _settings, client, _urls, _calls = timestream
    with pytest.raises(RunFailed, match="ResourceNotFound"):
        TimestreamSink(client, "spotlake", "missing").write(change_records(1), SLOT)


# --- Timestream rejection handling through botocore Stubber (moto never rejects) --------------------------


@pytest.fixture
def stubbed():
    # An explicit endpoint_url skips endpoint discovery, so only the stubbed calls happen.
    client = boto3.client("timestream-write", region_name="us-west-2", endpoint_url="http://127.0.0.1:9")
    sleeps: list[float] = []
    sink = TimestreamSink(client, "spotlake", "azure", sleep=sleeps.append, version_clock=lambda: SLOT_MS / 1000)
    with Stubber(client) as stubber:
        yield sink, stubber, sleeps
        stubber.assert_no_pending_responses()


def _reject(stubber: Stubber, rejected: list[dict]) -> None:
    stubber.add_client_error(
        "write_records", service_error_code="RejectedRecordsException", service_message="rejected",
        http_status_code=419, modeled_fields={"Message": "rejected", "RejectedRecords": rejected},
    )  # fmt: skip


def _accept(stubber: Stubber, records: list[dict]) -> None:
    n = len(records)
    stubber.add_response(
        "write_records",
        {"RecordsIngested": {"Total": n, "MemoryStore": n, "MagneticStore": 0}},
        {"DatabaseName": "spotlake", "TableName": "azure", "Records": records},
    )


def test_partially_rejected_batch_resends_only_the_rejected_records_then_succeeds(stubbed) -> None:
    sink, stubber, sleeps = stubbed
    records = build_timestream_records(change_records(3), SLOT)
    stubber.add_client_error(
        "write_records", service_error_code="RejectedRecordsException", http_status_code=419,
        expected_params={"DatabaseName": "spotlake", "TableName": "azure", "Records": records},
        modeled_fields={"RejectedRecords": [{"RecordIndex": 1, "Reason": "Memory store is full"}]},
    )  # fmt: skip
    _accept(stubber, [records[1]])
    assert sink.write(change_records(3), SLOT) == 3
    assert sleeps == [1.0]


def test_persistently_rejected_records_raise_run_failed_with_counts_and_reasons(stubbed) -> None:
    sink, stubber, sleeps = stubbed
    for _ in range(4):
        _reject(stubber, [{"RecordIndex": 0, "Reason": "Record timestamp is outside the retention"}])
    with pytest.raises(RunFailed, match=r"1 records still rejected after 3 retries \(0 written\).*outside"):
        sink.write(change_records(1), SLOT)
    assert sleeps == [1.0, 2.0, 4.0]


def test_the_sink_of_the_settings_backs_off_as_spotlake_retry_says(base_env: dict[str, str], tmp_path: Path) -> None:
    # SPOTLAKE_RETRY_BASE_DELAY / _MAX_DELAY reach the Timestream sink too (doubling from the base, capped).
    settings = load_settings({**base_env, "SPOTLAKE_TIMESERIES": "timestream://spotlake/azure",
                              "SPOTLAKE_RETRY_BASE_DELAY": "0.25", "SPOTLAKE_RETRY_MAX_DELAY": "0.6"})  # fmt: skip
    client = boto3.client("timestream-write", region_name="us-west-2", endpoint_url="http://127.0.0.1:9")
    sink = open_timeseries_sink(settings, LocalStore(tmp_path), timestream_client=client)
    sleeps: list[float] = []
    sink.sleep = sleeps.append
    with Stubber(client) as stubber:
        for _ in range(4):
            _reject(stubber, [{"RecordIndex": 0, "Reason": "Memory store is full"}])
        with pytest.raises(RunFailed, match="still rejected after 3 retries"):
            sink.write(change_records(1), SLOT)
    assert sleeps == [0.25, 0.5, 0.6]


def test_a_rejection_naming_an_existing_version_is_a_rejection_not_a_success(stubbed) -> None:
    # A stale value must never be kept silently: the sink reports it instead of counting it as written.
    sink, stubber, _sleeps = stubbed
    for _ in range(4):
        _reject(stubber, [{"RecordIndex": 0, "Reason": "same version, other value", "ExistingVersion": SLOT_MS}])
    with pytest.raises(RunFailed, match="same version, other value"):
        sink.write(change_records(1), SLOT)


def test_rejection_for_a_newer_version_is_not_counted_as_written(stubbed) -> None:
    sink, stubber, _sleeps = stubbed
    for _ in range(4):
        _reject(stubber, [{"RecordIndex": 0, "Reason": "newer version", "ExistingVersion": SLOT_MS + 1}])
    with pytest.raises(RunFailed, match="newer version"):
        sink.write(change_records(1), SLOT)


def test_throttled_and_5xx_calls_are_retried_with_backoff_then_succeed(stubbed) -> None:
    sink, stubber, sleeps = stubbed
    records = build_timestream_records(change_records(2), SLOT)
    stubber.add_client_error("write_records", service_error_code="ThrottlingException", http_status_code=400)
    stubber.add_client_error("write_records", service_error_code="InternalServerException", http_status_code=500)
    _accept(stubber, records)
    assert sink.write(change_records(2), SLOT) == 2
    assert sleeps == [1.0, 2.0]


def test_throttling_that_outlasts_the_retries_raises_run_failed(stubbed) -> None:
    sink, stubber, sleeps = stubbed
    for _ in range(4):
        stubber.add_client_error("write_records", service_error_code="ThrottlingException", http_status_code=400)
    with pytest.raises(RunFailed, match="after 4 attempts: ThrottlingException"):
        sink.write(change_records(2), SLOT)
    assert len(sleeps) == 3


def test_unreachable_timestream_raises_run_failed_without_escaping(base_env: dict[str, str]) -> None:
    settings = load_settings({**base_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    settings = dataclasses.replace(settings, timeseries=dataclasses.replace(
        settings.timeseries, kind="timestream", database="spotlake", table="azure"))  # fmt: skip
    from botocore.config import Config

    client = boto3.client("timestream-write", region_name="us-west-2", endpoint_url=settings.aws_endpoint_url,
                          config=Config(retries={"total_max_attempts": 1}, connect_timeout=1))  # fmt: skip
    with pytest.raises(RunFailed, match="EndpointConnectionError"):
        open_timeseries_sink(settings, LocalStore(Path("/nonexistent")), timestream_client=client).write(
            change_records(1), SLOT
        )


# --- invariants and empty writes --------------------------------------------------------------------------

_cell = st.one_of(st.none(), st.just(""), st.just("  "), st.text(max_size=5), st.floats(), st.integers(-5, 60))


@settings(deadline=None)  # 14 columns per example on a shared 2-core machine: slow, not wrong
@given(st.lists(st.tuples(*[_cell] * len(TIMESERIES_COLUMNS)), max_size=15))
def test_normalised_records_never_hold_missing_values(rows: list[tuple]) -> None:
    frame = normalise_records(pd.DataFrame(rows, columns=TIMESERIES_COLUMNS, dtype=object))
    assert len(frame) == len(rows)
    assert not frame.isna().any().any()
    for column in ("InstanceTier", "InstanceType", "Region", "AvailabilityZone", "RegionCode", "Time"):
        assert frame[column].map(lambda v: isinstance(v, str) and v.strip() != "").all()
    numbers = frame[["DesiredCount", "OndemandPrice", "SpotPrice", "Savings", "IF", "T2", "T3", "Score"]]
    assert numbers.map(math.isfinite).all().all()


def test_an_empty_write_stores_nothing_and_clears_the_slots_parquet_file(tmp_path: Path) -> None:
    empty = change_records(3).iloc[0:0]
    store = LocalStore(tmp_path)
    parquet = ParquetSink(store)
    parquet.write(change_records(3), SLOT)
    assert parquet.write(empty, SLOT) == 0
    assert store.list_keys("timeseries/") == []
    assert SqliteSink(tmp_path / "ts.db").write(empty, SLOT) == 0
    client = boto3.client("timestream-write", region_name="us-west-2", endpoint_url="http://127.0.0.1:9")
    with Stubber(client) as stubber:  # no response queued: any call would fail the test
        assert TimestreamSink(client, "spotlake", "azure").write(empty, SLOT) == 0
        stubber.assert_no_pending_responses()
