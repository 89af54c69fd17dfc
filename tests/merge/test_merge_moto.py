"""The merge against AWS stand-ins: S3 store, Timestream sink and CloudWatch Logs metrics on a moto server,
run through the real entry point (settings from the environment, clients built by utils.aws)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from merge.merge_data import build_parser, main
from merge.state import SUMMARY_KEY
from tests.merge.world import World
from utils.aws import aws_client
from utils.constants import LATEST_JSON_KEY, LATEST_STATE_KEY, QUERY_SELECTOR_KEY
from utils.entrypoint import run_entry
from utils.settings import load_settings
from utils.store import S3Store

pytestmark = pytest.mark.slow
BUCKET = "spotlake-test"


def timestream_records(region: str) -> list[dict]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.timestreamwrite.models import timestreamwrite_backends

    return timestreamwrite_backends[DEFAULT_ACCOUNT_ID][region].databases["spotlake"].tables["azure"].records


@pytest.fixture
def aws_env(moto_endpoint: str, base_env: dict[str, str]) -> dict[str, str]:
    env = {**base_env, "SPOTLAKE_STORE": f"s3://{BUCKET}/prefix", "AWS_ENDPOINT_URL": moto_endpoint,
           "SPOTLAKE_AZURE_EMULATOR": "1", "AWS_REGION": "us-west-2"}  # fmt: skip
    settings = load_settings(env)
    aws_client("s3", settings).create_bucket(Bucket=BUCKET, CreateBucketConfiguration={
        "LocationConstraint": "us-west-2"})  # fmt: skip
    timestream = aws_client("timestream-write", settings)
    timestream.create_database(DatabaseName="spotlake")
    timestream.create_table(DatabaseName="spotlake", TableName="azure")
    return env


def test_merge_publishes_to_s3_timestream_and_cloudwatch_and_a_rerun_adds_no_records(aws_env) -> None:
    settings = load_settings(aws_env)
    # Slots of the last hour: CloudWatch (and moto) refuse events stamped more than 14 days ago.
    start = datetime.fromtimestamp(time.time() // 600 * 600 - 3600, UTC)
    store, world = S3Store(aws_client("s3", settings), BUCKET, "prefix"), World(start=start)
    changes = 0
    for index in range(3):
        key = world.write(store, index)
        assert run_entry("merge", build_parser(), main, argv=["--sps_key", key], env=aws_env) == 0
        changes += json.loads(store.get_bytes(SUMMARY_KEY))["changes"]
    for published in (LATEST_JSON_KEY, LATEST_STATE_KEY, QUERY_SELECTOR_KEY):
        assert store.exists(published)
    assert len(json.loads(store.get_bytes(LATEST_JSON_KEY))) == 18
    records = timestream_records("us-west-2")
    assert len(records) == changes
    assert {r["MeasureName"] for r in records} == {"azure_values"}
    tiers = {d["Value"] for r in records for d in r["Dimensions"] if d["Name"] == "InstanceTier"}
    assert tiers == {"Basic", "Standard"}

    summary = store.get_bytes(SUMMARY_KEY)
    assert run_entry("merge", build_parser(), main, argv=["--sps_key", key], env=aws_env) == 0
    assert timestream_records("us-west-2") == records  # the rerun's points carry the stored Version: no duplicate
    assert store.get_bytes(SUMMARY_KEY) == summary

    events = aws_client("logs", settings).get_log_events(logGroupName="Collection-Data-Count",
                                                         logStreamName="Azure-Count")["events"]  # fmt: skip
    assert events[0] == {"timestamp": int(start.timestamp()) * 1000, "ingestionTime": events[0]["ingestionTime"],
                         "message": "AZUREONDEMAND: 18 AZURESPOT: 18 AZUREIF: 18 AZURESPS: 17"}  # fmt: skip
    assert len(events) == 3  # the rerun's event is already in the stream: not written twice
