"""merge/report.py: the table folding, the self-contained page, and a report failure that never fails the
merge (real merge on a local store, a real HTTP webhook stand-in for the alert)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bench.reliability.script_runner import capture_server
from merge.merge_data import build_parser, main
from merge.report import REPORT_KEY, ReportInputs, publish_report, render, table_frame, table_json
from tests.merge.world import World, local_settings, merge_slot
from utils.aws import aws_client
from utils.constants import LATEST_STATE_KEY
from utils.entrypoint import run_entry
from utils.settings import load_settings
from utils.store import LocalStore, S3Store

SLOT = datetime(2025, 12, 13, 13, 20, tzinfo=UTC)


def merged_rows() -> pd.DataFrame:
    rows = []
    for zone, score, t3 in (("1", 3.0, 10), ("2", 2.0, 1), ("3", np.nan, 0)):
        rows.append({"InstanceTier": "Standard", "InstanceType": "D2s_v3", "Region": "eastus", "RegionName": "US East",
                     "InstanceFamily": "standardDSv3Family", "OndemandPrice": 0.096, "SpotPrice": 0.0192,
                     "Savings": 80.0, "IF": 3.0, "DesiredCount": 10, "AvailabilityZone": zone, "Score": score,
                     "T2": 10, "T3": t3, "Time": pd.Timestamp(SLOT), "vCPUs": 2.0, "MemoryGiB": 8.0, "GPUs": 0.0,
                     "Architecture": "x64", "SpotPricePerVcpu": 0.0096})  # fmt: skip
    rows.append({**rows[0], "InstanceType": "</script><b>x", "Region": "westus2", "RegionName": None,
                 "SpotPrice": np.nan, "Savings": np.nan, "IF": np.nan, "SpotPricePerVcpu": np.nan})
    return pd.DataFrame(rows)


def test_the_table_has_one_row_per_size_and_region_with_the_zones_folded() -> None:
    table = table_frame(merged_rows())
    row = table[table["InstanceType"] == "D2s_v3"].iloc[0]
    assert row["Scores"] == "1:High 2:Medium 3:-"
    assert (row["BestScore"], row["T2"], row["T3"], row["Region"], row["RegionCode"]) == (3.0, 10, 10, "US East",
                                                                                            "eastus")  # fmt: skip
    other = table[table["InstanceType"] != "D2s_v3"].iloc[0]
    assert other["Region"] == "westus2"  # no display location known: the ARM code
    data = json.loads(table_json(table).replace("<\\/", "</"))
    assert data["rows"] == 2 and data["columns"]["SpotPrice"] == [None, 0.0192]  # sorted by size


def test_the_page_embeds_everything_and_escapes_api_text() -> None:
    inputs = ReportInputs(slot=SLOT, merged=merged_rows(), summary={"rows": 4, "changes": 4, "new_rows": 4},
                          sps_run=None, runs=pd.DataFrame({c: [] for c in ["phase", "seconds", "exit_code", "slot"]}),
                          history=None, notes=["history charts need the SQLite or Parquet sink"])  # fmt: skip
    page = render(inputs).decode()
    assert "</script><b>x" not in page  # API text cannot close the data element or inject markup
    assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)=", page)  # nothing fetched
    assert "@import" not in page and "url(http" not in page
    assert page.count("<svg") == 2  # score mix and savings; no history without a queryable sink
    assert "history charts need the SQLite or Parquet sink" in page


class FailingReportStore(LocalStore):
    """A local store whose report write fails like a full disk."""

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None, public: bool = False) -> None:
        if key == REPORT_KEY:
            raise OSError(28, "No space left on device")
        super().put_bytes(key, data, content_type=content_type, public=public)


def test_a_report_failure_is_alerted_once_and_the_merge_still_commits(tmp_path: Path, base_env: dict) -> None:
    with capture_server() as hook:
        settings = local_settings(tmp_path, {**base_env, "error_notification_slack_webhook_url": hook.url})
        store = FailingReportStore(Path(settings.store.root))
        summary = merge_slot(settings, store, World().write(store, 0))
        alerts = list(hook.bodies)
    assert summary["rows"] > 0
    assert store.exists(LATEST_STATE_KEY) and not store.exists(REPORT_KEY)
    assert len(alerts) == 1 and "report" in alerts[0]["text"] and "data is committed" in alerts[0]["text"]


def test_publish_report_writes_a_public_page_into_the_store(tmp_path: Path, base_env: dict) -> None:
    settings = local_settings(tmp_path, base_env)
    store = LocalStore(Path(settings.store.root))
    merge_slot(settings, store, World().write(store, 0))  # the merge's hook already wrote it
    first = store.get_bytes(REPORT_KEY)
    assert first.startswith(b"<!DOCTYPE html>") and b"<svg" in first
    assert publish_report(settings, store, merged_rows(), {"rows": 4}, SLOT)
    assert store.get_bytes(REPORT_KEY) != first


def test_on_an_s3_store_the_report_is_a_public_html_object(moto_endpoint: str, base_env: dict) -> None:
    """Real merge entry point against moto S3 + Timestream with SPOTLAKE_PUBLIC_READ=1."""
    env = {**base_env, "SPOTLAKE_STORE": "s3://spotlake-report/prefix", "AWS_ENDPOINT_URL": moto_endpoint,
           "SPOTLAKE_AZURE_EMULATOR": "1", "AWS_REGION": "us-west-2", "SPOTLAKE_PUBLIC_READ": "1"}  # fmt: skip
    settings = load_settings(env)
    s3 = aws_client("s3", settings)
    s3.create_bucket(Bucket="spotlake-report", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    timestream = aws_client("timestream-write", settings)
    timestream.create_database(DatabaseName="spotlake")
    timestream.create_table(DatabaseName="spotlake", TableName="azure")
    key = World().write(S3Store(s3, "spotlake-report", "prefix"), 0)
    assert run_entry("merge", build_parser(), main, argv=["--sps_key", key], env=env) == 0
    report = s3.get_object(Bucket="spotlake-report", Key=f"prefix/{REPORT_KEY}")
    assert report["ContentType"] == "text/html; charset=utf-8"
    page = report["Body"].read().decode()
    assert "<svg" in page and "history charts need the SQLite or Parquet sink (this run writes timestream)" in page
    grants = s3.get_object_acl(Bucket="spotlake-report", Key=f"prefix/{REPORT_KEY}")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("/global/AllUsers") and g["Permission"] == "READ" for g in grants)
