"""Metrics sinks: a local file, CloudWatch Logs through moto (server mode), none."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from tests.utils.sink_records import SLOT, SLOT_MS
from utils.aws import aws_client
from utils.errors import RunFailed
from utils.metrics import CloudWatchMetricsSink, FileMetricsSink, NoneMetricsSink, open_metrics_sink
from utils.settings import load_settings

MESSAGE = "AZUREONDEMAND: 10 AZURESPOT: 9 AZUREIF: 8 AZURESPS: 7"
# moto, like CloudWatch, refuses events older than 14 days: the moto tests use a slot of this hour.
RECENT = datetime.fromtimestamp(time.time() // 600 * 600, UTC)


def test_file_sink_appends_one_line_per_put_and_creates_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "metrics" / "count.log"
    sink = FileMetricsSink(path)
    sink.put(MESSAGE, SLOT)
    sink.put("two\nlines", SLOT + timedelta(minutes=10))
    assert path.read_text().splitlines() == [f"2025-12-13T13:00:00Z {MESSAGE}", "2025-12-13T13:10:00Z two lines"]


def test_file_sink_on_an_unwritable_path_raises_run_failed(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    with pytest.raises(RunFailed, match="cannot append metrics"):
        FileMetricsSink(tmp_path / "blocker" / "count.log").put(MESSAGE, SLOT)


def test_default_local_settings_give_a_file_sink_in_the_store(base_env: dict[str, str]) -> None:
    settings = load_settings(base_env)
    sink = open_metrics_sink(settings)
    assert isinstance(sink, FileMetricsSink)
    sink.put(MESSAGE, SLOT)
    assert settings.metrics.path is not None and settings.metrics.path.is_relative_to(settings.store.root)
    assert settings.metrics.path.read_text().strip().endswith(MESSAGE)
    assert isinstance(open_metrics_sink(load_settings({**base_env, "SPOTLAKE_METRICS": "none"})), NoneMetricsSink)
    NoneMetricsSink().put(MESSAGE, SLOT)


@pytest.fixture
def cloudwatch(moto_endpoint: str, base_env: dict[str, str]):
    settings = load_settings({**base_env, "AWS_ENDPOINT_URL": moto_endpoint,
                              "SPOTLAKE_METRICS": "cloudwatch://Collection-Data-Count/Azure-Count"})  # fmt: skip
    return settings, aws_client("logs", settings)


def test_cloudwatch_sink_creates_group_and_stream_then_events_read_back(cloudwatch) -> None:
    settings, client = cloudwatch
    assert client.describe_log_groups()["logGroups"] == []
    sink = open_metrics_sink(settings, logs_client=client)
    sink.put(MESSAGE, RECENT)
    sink.put(MESSAGE, RECENT)  # a rerun of the slot: its event is already there
    sink.put(MESSAGE.replace("10", "11"), RECENT)  # a rerun that counted differently: still one per slot
    sink.put("AZUREONDEMAND: 1 AZURESPOT: 1 AZUREIF: 1 AZURESPS: 1", RECENT + timedelta(minutes=10))
    sink.put(MESSAGE, RECENT - timedelta(minutes=10))  # a late slot: stamped with its own time
    events = client.get_log_events(logGroupName="Collection-Data-Count", logStreamName="Azure-Count",
                                   startFromHead=True)["events"]  # fmt: skip
    recent_ms = int(RECENT.timestamp()) * 1000
    assert sorted((e["timestamp"], e["message"]) for e in events) == [
        (recent_ms - 600_000, MESSAGE), (recent_ms, MESSAGE),
        (recent_ms + 600_000, "AZUREONDEMAND: 1 AZURESPOT: 1 AZUREIF: 1 AZURESPS: 1"),
    ]  # fmt: skip


def test_cloudwatch_event_is_the_spotlake_message_stamped_with_the_slot(tmp_path: Path) -> None:
    client = boto3.client("logs", region_name="us-west-2", endpoint_url="http://127.0.0.1:9")
    sink = CloudWatchMetricsSink(client, "g", "s", clock=lambda: SLOT_MS / 1000 + 300)
    with Stubber(client) as stubber:
        stubber.add_response("create_log_group", {})
        stubber.add_response("create_log_stream", {})
        stubber.add_response("get_log_events", {"events": []}, {
            "logGroupName": "g", "logStreamName": "s", "startTime": SLOT_MS, "endTime": SLOT_MS + 1,
            "startFromHead": True, "limit": 10})  # fmt: skip
        stubber.add_response("put_log_events", {}, {"logGroupName": "g", "logStreamName": "s",
                                                    "logEvents": [{"timestamp": SLOT_MS, "message": MESSAGE}]})
        sink.put(MESSAGE, SLOT)
        stubber.assert_no_pending_responses()


def test_a_slot_older_than_cloudwatch_accepts_is_skipped_with_a_warning(caplog) -> None:
    client = boto3.client("logs", region_name="us-west-2", endpoint_url="http://127.0.0.1:9")
    sink = CloudWatchMetricsSink(client, "g", "s", clock=lambda: SLOT_MS / 1000 + 15 * 86_400)
    with Stubber(client) as stubber:  # the destination is checked, no event is put
        stubber.add_response("create_log_group", {})
        stubber.add_response("create_log_stream", {})
        sink.put(MESSAGE, SLOT)
        stubber.assert_no_pending_responses()
    assert "cloudwatch metrics for 2025-12-13T13:00:00Z skipped: older than CloudWatch Logs accepts" in caplog.text


def test_cloudwatch_sink_tolerates_an_existing_group_and_stream(cloudwatch) -> None:
    settings, client = cloudwatch
    client.create_log_group(logGroupName="Collection-Data-Count")
    client.create_log_stream(logGroupName="Collection-Data-Count", logStreamName="Azure-Count")
    open_metrics_sink(settings, logs_client=client).put(MESSAGE, RECENT)
    events = client.get_log_events(logGroupName="Collection-Data-Count", logStreamName="Azure-Count")["events"]
    assert len(events) == 1


def test_cloudwatch_sink_recreates_a_stream_deleted_between_puts(cloudwatch) -> None:
    _settings, client = cloudwatch
    sink = CloudWatchMetricsSink(client, "Collection-Data-Count", "Azure-Count", sleep=lambda _s: None)
    sink.put(MESSAGE, RECENT)
    client.delete_log_stream(logGroupName="Collection-Data-Count", logStreamName="Azure-Count")
    sink.put("after", RECENT + timedelta(minutes=10))
    events = client.get_log_events(logGroupName="Collection-Data-Count", logStreamName="Azure-Count")["events"]
    assert [e["message"] for e in events] == ["after"]


def test_cloudwatch_failures_outlasting_the_retries_raise_run_failed() -> None:
    client = boto3.client("logs", region_name="us-west-2", endpoint_url="http://127.0.0.1:9")
    sleeps: list[float] = []
    sink = CloudWatchMetricsSink(client, "g", "s", sleep=sleeps.append, clock=lambda: SLOT_MS / 1000)
    with Stubber(client) as stubber:
        _unavailable_three_times(stubber)
        with pytest.raises(RunFailed, match="after 3 attempts: ServiceUnavailableException"):
            sink.put(MESSAGE, SLOT)
        stubber.assert_no_pending_responses()
    assert sleeps == [1.0, 2.0]


def _unavailable_three_times(stubber: Stubber) -> None:
    """The destination exists, then every one of the sink's 3 attempts gets a 503."""
    stubber.add_response("create_log_group", {})
    stubber.add_response("create_log_stream", {})
    for _ in range(3):
        stubber.add_response("get_log_events", {"events": []})
        stubber.add_client_error("put_log_events", service_error_code="ServiceUnavailableException",
                                 http_status_code=503)  # fmt: skip


def test_the_cloudwatch_sink_of_the_settings_backs_off_as_spotlake_retry_says(base_env: dict[str, str]) -> None:
    settings = load_settings({**base_env, "SPOTLAKE_METRICS": "cloudwatch://g/s", "SPOTLAKE_RETRY_BASE_DELAY": "0.5",
                              "SPOTLAKE_RETRY_MAX_DELAY": "0.75"})  # fmt: skip
    client = boto3.client("logs", region_name="us-west-2", endpoint_url="http://127.0.0.1:9")
    sink = open_metrics_sink(settings, logs_client=client)
    sleeps: list[float] = []
    sink.sleep, sink.clock = sleeps.append, lambda: SLOT_MS / 1000
    with Stubber(client) as stubber:
        _unavailable_three_times(stubber)
        with pytest.raises(RunFailed, match="after 3 attempts"):
            sink.put(MESSAGE, SLOT)
    assert sleeps == [0.5, 0.75]


def test_cloudwatch_rejected_event_raises_run_failed() -> None:
    client = boto3.client("logs", region_name="us-west-2", endpoint_url="http://127.0.0.1:9")
    sink = CloudWatchMetricsSink(client, "g", "s", clock=lambda: SLOT_MS / 1000)
    with Stubber(client) as stubber:
        stubber.add_response("create_log_group", {})
        stubber.add_response("create_log_stream", {})
        stubber.add_response("get_log_events", {"events": []})
        stubber.add_response("put_log_events", {"rejectedLogEventsInfo": {"tooOldLogEventEndIndex": 1}})
        with pytest.raises(RunFailed, match="rejected"):
            sink.put(MESSAGE, SLOT)


def test_a_rerun_of_a_slot_does_not_append_its_metrics_line_twice(tmp_path):
    sink = FileMetricsSink(tmp_path / "m" / "count.log")
    slot = datetime(2025, 12, 13, 13, 0, tzinfo=UTC)
    sink.put("AZUREONDEMAND: 1 AZURESPOT: 2 AZUREIF: 3 AZURESPS: 4", slot)
    sink.put("AZUREONDEMAND: 1 AZURESPOT: 2 AZUREIF: 3 AZURESPS: 5", slot)  # a rerun counting differently
    sink.put("AZUREONDEMAND: 1 AZURESPOT: 2 AZUREIF: 3 AZURESPS: 4", datetime(2025, 12, 13, 13, 10, tzinfo=UTC))
    lines = (tmp_path / "m" / "count.log").read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("2025-12-13T13:00:00Z ")
