"""A real pipeline run's outputs against the consumer contract (tests/compat/contract.py).

``scripts/run_collection.sh`` runs two consecutive recent slots on a small catalog with the bundled emulator:
once against AWS in moto server mode on 127.0.0.1 (S3 store, Timestream, CloudWatch Logs), once on a local
store with the embedded defaults (SQLite, metrics file) and once with the Parquet sink. Recent slots,
because CloudWatch (and moto) refuse events stamped more than 14 days ago.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import duckdb
import pandas as pd
import pytest
import requests

from bench.reliability.script_runner import REPO, run_script, script_env
from tests.compat.contract import (
    ASSOCIATION_VALUE_KEYS,
    CLOUDWATCH_MESSAGE_RE,
    DISPLAY_LOCATION_RE,
    EXTRA_SPEC_COLUMNS,
    PUBLIC_COLUMNS,
    SELECTOR_KEYS,
    TABLE_COLUMNS,
    csv_row_as_json_types,
    row_problems,
    shape_problems,
    timestream_record_problems,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("moto_server")]

# Three regions (display locations from the emulator's Retail Prices model), two tiers of one size.
CATALOG = """Region,InstanceType,OndemandPrice,SpotPrice
eastus,Standard_D2s_v3,0.096,0.0192
eastus,Basic_A1,0.018,0.004
eastus,Standard_A1,0.024,0.005
westus2,Standard_D2s_v3,0.096,0.0211
japaneast,Standard_E4s_v5,0.281,0.0562
"""
DISPLAY = {"eastus": "US East", "westus2": "US West 2", "japaneast": "JA East"}
BUCKET, PREFIX = "spotlake-compat", "collector"
DATABASE, TABLE = "spotlake", "azure"
LOG_GROUP, LOG_STREAM = "Collection-Data-Count", "Azure-Count"
AWS_REGION = "us-west-2"
FIRST = datetime.fromtimestamp(datetime.now(UTC).timestamp() // 600 * 600, UTC) - timedelta(minutes=30)
SLOTS = (FIRST, FIRST + timedelta(minutes=10))


def slot_arg(slot: datetime) -> str:
    return slot.strftime("%Y-%m-%dT%H:%M:%SZ")


def slot_ms(slot: datetime) -> int:
    return int(slot.timestamp()) * 1000


def archive_key(slot: datetime) -> str:
    return f"rawdata/azure/{slot:%Y/%m/%d}/{slot:%H-%M-%S}.csv.gz"


@dataclass
class Outputs:
    """What consumers can read after the runs (keys relative to the store root)."""

    objects: dict[str, bytes]
    timestream: list[dict]
    events: list[dict]
    stderr: str

    def json(self, key: str) -> Any:
        return json.loads(self.objects[key])

    def archive(self, slot: datetime) -> pd.DataFrame:
        data = gzip.decompress(self.objects[archive_key(slot)])
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)


def aws_client(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=AWS_REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing")  # fmt: skip


@pytest.fixture(scope="module")
def aws_outputs(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    requests.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    tmp = tmp_path_factory.mktemp("compat-aws")
    (tmp / "catalog.csv").write_text(CATALOG)
    aws_client("s3", moto_server).create_bucket(Bucket=BUCKET,
                                               CreateBucketConfiguration={"LocationConstraint": AWS_REGION})
    ts = aws_client("timestream-write", moto_server)
    ts.create_database(DatabaseName=DATABASE)
    ts.create_table(DatabaseName=DATABASE, TableName=TABLE)
    env = script_env({
        "SPOTLAKE_STORE": f"s3://{BUCKET}/{PREFIX}", "SPOTLAKE_TIMESERIES": f"timestream://{DATABASE}/{TABLE}",
        "SPOTLAKE_METRICS": f"cloudwatch://{LOG_GROUP}/{LOG_STREAM}", "AWS_ENDPOINT_URL": moto_server,
        "AWS_REGION": AWS_REGION, "SPOTLAKE_AZURE_EMULATOR": "1", "SPOTLAKE_EMULATOR_CATALOG": str(tmp / "catalog.csv"),
        "SPS_KEY_FILE": str(tmp / "sps_key.txt"),
    })  # fmt: skip
    stderr = ""
    for slot in SLOTS:
        run = run_script(env, slot_arg(slot), cwd=tmp)
        assert run.returncode == 0, run.stderr[-6000:]
        stderr += run.stderr
    s3 = aws_client("s3", moto_server)
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/"):
        for item in page.get("Contents", []):
            objects[item["Key"].removeprefix(f"{PREFIX}/")] = s3.get_object(Bucket=BUCKET, Key=item["Key"])[
                "Body"].read()  # fmt: skip
    data = requests.get(f"{moto_server}/moto-api/data.json", timeout=30).json()
    tables = data.get("timestreamwrite", {}).get("TimestreamTable", [])
    records = [r for t in tables if (t["db_name"], t["name"]) == (DATABASE, TABLE) for r in t["records"]]
    events = aws_client("logs", moto_server).get_log_events(logGroupName=LOG_GROUP, logStreamName=LOG_STREAM,
                                                            startFromHead=True)["events"]  # fmt: skip
    return Outputs(objects, records, events, stderr)


@contextmanager
def working_directory(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def local_run(tmp: Path, slots: tuple[datetime, ...] = SLOTS, **extra: str) -> Path:
    """``slots`` on the default local store ``./spotlake-data`` under ``tmp`` (the README's layout)."""
    (tmp / "catalog.csv").write_text(CATALOG)
    env = script_env({"SPOTLAKE_EMULATOR_CATALOG": str(tmp / "catalog.csv"), "SPS_KEY_FILE": str(tmp / "key.txt"),
                      **extra})  # fmt: skip
    for slot in slots:
        run = run_script(env, slot_arg(slot), cwd=tmp)
        assert run.returncode == 0, run.stderr[-6000:]
    return tmp / "spotlake-data"


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return local_run(tmp_path_factory.mktemp("compat-sqlite"))


@pytest.fixture(scope="module")
def parquet_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return local_run(tmp_path_factory.mktemp("compat-parquet"), SLOTS[:1], SPOTLAKE_TIMESERIES="parquet")


def readme_block(start: str, end: str) -> str:
    """The README text between ``start`` and the next ``end`` (a documented query, verbatim)."""
    text = (REPO / "README.md").read_text()
    begin = text.index(start) + len(start)
    return text[begin : text.index(end, begin)]


# --- latest JSON, archive, selector, association ----------------------------------------------------------


def test_every_latest_json_record_keeps_the_contract(aws_outputs: Outputs) -> None:
    latest = aws_outputs.json("latest_data/latest_azure.json")
    assert len(latest) == 15  # 5 pairs x 3 zones (every emulator region here has zones)
    assert [p for record in latest for p in row_problems(record)] == []
    assert {(r["RegionCode"], r["Region"]) for r in latest} == set(DISPLAY.items())
    assert all(DISPLAY_LOCATION_RE.match(r["Region"]) for r in latest)
    assert {r["Time"] for r in latest} <= {s.strftime("%Y-%m-%d %H:%M:%S") for s in SLOTS}
    assert {r["InstanceTier"] for r in latest if r["InstanceType"] == "A1"} == {"Basic", "Standard"}


def test_every_archive_row_keeps_the_contract_with_the_same_values_as_the_json(aws_outputs: Outputs) -> None:
    archive = aws_outputs.archive(SLOTS[-1])
    assert tuple(archive.columns) == (*PUBLIC_COLUMNS, *EXTRA_SPEC_COLUMNS)  # extras after SpotLake's columns
    rows = [csv_row_as_json_types(r) for r in archive[list(PUBLIC_COLUMNS)].to_dict(orient="records")]
    assert [p for row in rows for p in row_problems(row)] == []
    assert rows == aws_outputs.json("latest_data/latest_azure.json")
    assert aws_outputs.archive(SLOTS[0])["Time"].eq(SLOTS[0].strftime("%Y-%m-%d %H:%M:%S")).all()


def test_the_query_selector_names_display_locations(aws_outputs: Outputs) -> None:
    selector = aws_outputs.json("query-selector/azure/query_selector.json")
    assert all(tuple(entry) == SELECTOR_KEYS for entry in selector)
    assert selector == sorted(selector, key=lambda e: tuple(e.values()))
    assert {e["Region"] for e in selector} == set(DISPLAY.values())
    assert len(selector) == 5


def test_the_association_file_has_the_web_clients_shape(aws_outputs: Outputs) -> None:
    association = aws_outputs.json("query-selector/associated/association_azure.json")
    assert isinstance(association, list) and len(association) == 1
    (by_type,) = association
    assert list(by_type) == sorted(by_type) == ["A1", "D2s_v3", "E4s_v5"]
    for value in by_type.values():
        assert set(value) == set(ASSOCIATION_VALUE_KEYS)  # JSON object: key order is not part of the shape
        assert all(v == sorted(v) and len(set(v)) == len(v) for v in value.values())
    assert by_type["D2s_v3"] == {"Region": ["US East", "US West 2"], "InstanceTier": ["Standard"]}
    assert by_type["A1"] == {"Region": ["US East"], "InstanceTier": ["Basic", "Standard"]}


# --- Timestream and CloudWatch ----------------------------------------------------------------------------


def test_every_timestream_record_matches_botocores_model_and_spotlakes_shape(aws_outputs: Outputs) -> None:
    model = botocore.session.get_session().get_service_model("timestream-write")
    shape = model.operation_model("WriteRecords").input_shape.members["Records"].member
    assert aws_outputs.timestream
    times = {str(slot_ms(s)): s for s in SLOTS}
    for record in aws_outputs.timestream:
        assert shape_problems(record, shape) == []
        assert timestream_record_problems(record, slot_ms(times[record["Time"]])) == []
    regions = {d["Value"] for r in aws_outputs.timestream for d in r["Dimensions"] if d["Name"] == "Region"}
    assert regions == set(DISPLAY.values())  # one series key per display location: no split at the cutover


def test_the_cloudwatch_stream_holds_one_spotlake_line_per_slot_stamped_with_the_slot(aws_outputs: Outputs) -> None:
    assert [e["timestamp"] for e in aws_outputs.events] == [slot_ms(s) for s in SLOTS]
    latest = aws_outputs.json("latest_data/latest_azure.json")
    for event in aws_outputs.events:
        assert CLOUDWATCH_MESSAGE_RE.match(event["message"]), event["message"]
    counts = tuple(int(n) for n in CLOUDWATCH_MESSAGE_RE.match(aws_outputs.events[-1]["message"]).groups())
    present = (
        sum(r["OndemandPrice"] != -1 for r in latest), sum(r["SpotPrice"] != -1 for r in latest),
        sum(r["IF"] != -1 for r in latest), sum(r["Score"] != -1 for r in latest),
    )  # fmt: skip
    assert counts == present


# --- SQLite and Parquet sinks, through the README's own queries -------------------------------------------


def test_the_sqlite_table_has_the_contract_columns_and_the_readme_query_finds_us_east(sqlite_store: Path) -> None:
    with sqlite3.connect(sqlite_store / "timeseries.db") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(azure_timeseries)")]
        assert set(columns) == {*TABLE_COLUMNS, *EXTRA_SPEC_COLUMNS, "time"}
        pairs = db.execute("SELECT DISTINCT Region, RegionCode FROM azure_timeseries").fetchall()
        with working_directory(sqlite_store.parent):
            query = readme_block('sqlite3 spotlake-data/timeseries.db "', '"')
            with sqlite3.connect("spotlake-data/timeseries.db") as readme_db:
                rows = readme_db.execute(query).fetchall()
    assert set(pairs) == {(v, k) for k, v in DISPLAY.items()}
    assert rows and {row[0] for row in rows} <= {s.strftime("%Y-%m-%d %H:%M:%S") for s in SLOTS}


def test_the_metrics_file_holds_the_same_message_once_per_slot(sqlite_store: Path) -> None:
    lines = (sqlite_store / "metrics" / "collection_count.log").read_text().splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == [slot_arg(s) for s in SLOTS]
    assert all(CLOUDWATCH_MESSAGE_RE.match(line.split(" ", 1)[1]) for line in lines)


def test_the_parquet_sink_has_the_contract_columns_and_the_readme_duckdb_query_runs(parquet_store: Path) -> None:
    files = sorted((parquet_store / "timeseries" / "azure").rglob("*.parquet"))
    assert files
    for path in files:
        assert list(pd.read_parquet(path).columns) == [*TABLE_COLUMNS, *EXTRA_SPEC_COLUMNS, "time"]
    query = readme_block("`SELECT time, Region, SpotPrice FROM read_parquet(", "`")
    with working_directory(parquet_store.parent):
        rows = duckdb.sql("SELECT Region FROM (SELECT time, Region, SpotPrice FROM read_parquet(" + query.rstrip(";")
                          + ")").fetchall()  # fmt: skip
    assert rows and {r[0] for r in rows} == {"US East"}
    assert re.search(r"Region = 'US East'", query)
