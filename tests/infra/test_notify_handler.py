"""The Slack failure notifier Lambda (infrastructure/notify/handler.py) against moto's SSM."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

HANDLER = Path(__file__).resolve().parents[2] / "infrastructure" / "notify" / "handler.py"
WEBHOOK = "https://hooks.slack.example/services/stand-in/secret-path"


def load_handler():
    spec = importlib.util.spec_from_file_location("notify_handler", HANDLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


handler = load_handler()


def failed_job_event() -> dict[str, Any]:
    return {
        "detail-type": "Batch Job State Change",
        "source": "aws.batch",
        "region": "us-west-2",
        "detail": {
            "jobName": "spotlake-azure-collector",
            "jobId": "0b7c2f1e-1111-2222-3333-444455556666",
            "jobQueue": "arn:aws:batch:us-west-2:123456789012:job-queue/spotlake-azure-queue",
            "status": "FAILED",
            "statusReason": "Essential container in task exited",
            "parameters": {"scheduled_time": "2025-12-13T13:00:00Z"},
            "attempts": [
                {"container": {"exitCode": 137, "logStreamName": "a/default/1"}},
                {"container": {"exitCode": 1, "logStreamName": "spotlake-azure-collector/default/abc"}},
            ],
        },
    }


def test_message_names_the_job_slot_reason_and_last_attempt():
    text = handler.build_slack_message(failed_job_event())["text"]

    assert "FAILED" in text
    assert "0b7c2f1e-1111-2222-3333-444455556666" in text
    assert "slot: 2025-12-13T13:00:00Z" in text
    assert "reason: Essential container in task exited" in text
    assert "attempts: 2, last exit code: 1" in text
    assert "spotlake-azure-collector/default/abc" in text


def test_message_survives_an_event_without_attempts_or_parameters():
    text = handler.build_slack_message({"detail": {"status": "FAILED"}})["text"]

    assert "unknown slot" in text
    assert "last exit code: n/a" in text


@mock_aws
def test_handler_posts_to_the_webhook_read_from_ssm_and_never_logs_it(monkeypatch, caplog):
    ssm = boto3.client("ssm", region_name="us-west-2")
    ssm.put_parameter(Name="error_notification_slack_webhook_url", Value=WEBHOOK, Type="SecureString")
    monkeypatch.setenv("WEBHOOK_PARAMETER", "error_notification_slack_webhook_url")
    posted: list[tuple[str, Mapping[str, Any]]] = []

    def post(url: str, payload: Mapping[str, Any]) -> int:
        posted.append((url, payload))
        return 200

    with caplog.at_level(logging.INFO):
        result = handler.lambda_handler(failed_job_event(), None, ssm=ssm, post=post)

    assert result == {"posted": True, "http_status": 200}
    [(url, payload)] = posted
    assert url == WEBHOOK
    assert "spotlake-azure-collector" in payload["text"]
    assert WEBHOOK not in caplog.text
    assert WEBHOOK not in str(result)


def test_post_refuses_a_non_https_url_without_naming_it():
    with pytest.raises(ValueError) as error:
        handler.post_json("http://127.0.0.1:9/secret-path", {"text": "x"})

    assert "secret-path" not in str(error.value)


def test_post_failure_does_not_leak_the_url():
    with pytest.raises(RuntimeError) as error:
        handler.post_json("https://127.0.0.1:9/secret-path", {"text": "x"})

    assert "secret-path" not in str(error.value)
    assert error.value.__cause__ is None
