"""Lambda: post a failed SpotLake Azure collector job (Batch "Job State Change", status FAILED) to Slack.

The webhook URL is read from the SSM SecureString named by WEBHOOK_PARAMETER at invocation time; it is
never logged or returned. Runs on the Lambda python3.12 runtime, which ships boto3.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

LOG = logging.getLogger("notify")
LOG.setLevel(logging.INFO)

POST_TIMEOUT_SECONDS = 10


def build_slack_message(event: Mapping[str, Any]) -> dict[str, str]:
    """The Slack payload for one Batch job state-change event.

    Reads ``detail.jobName``, ``detail.jobId``, ``detail.status``, ``detail.statusReason``,
    ``detail.jobQueue``, ``detail.parameters.scheduled_time`` and ``detail.attempts[-1].container``
    (exitCode, logStreamName), e.g.::

        {"detail-type": "Batch Job State Change", "region": "us-west-2",
         "detail": {"jobName": "spotlake-azure-collector", "jobId": "1f2e...", "status": "FAILED",
                    "statusReason": "Essential container in task exited",
                    "parameters": {"scheduled_time": "2025-12-13T13:00:00Z"},
                    "attempts": [{"container": {"exitCode": 1, "logStreamName": "jd/default/abc"}}]}}
    """
    detail = event.get("detail") or {}
    attempts = detail.get("attempts") or []
    container = (attempts[-1].get("container") if attempts else None) or detail.get("container") or {}
    slot = (detail.get("parameters") or {}).get("scheduled_time") or "unknown slot"
    lines = [
        f":rotating_light: SpotLake Azure collector job {detail.get('status', 'FAILED')}"
        f" ({event.get('region', 'unknown region')})",
        f"job: {detail.get('jobName', '?')} / {detail.get('jobId', '?')}",
        f"slot: {slot}",
        f"reason: {detail.get('statusReason', 'not given')}",
        f"attempts: {len(attempts)}, last exit code: {container.get('exitCode', 'n/a')}",
        f"log stream: {container.get('logStreamName', 'n/a')}",
    ]
    return {"text": "\n".join(lines)}


def post_json(url: str, payload: Mapping[str, Any]) -> int:
    """POST ``payload`` as JSON; returns the HTTP status. Errors name no URL (it is a secret)."""
    if not url.startswith("https://"):
        raise ValueError("webhook parameter does not hold an https:// URL")
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS) as response:
            return int(response.status)
    except OSError as exc:
        raise RuntimeError(f"slack post failed: {type(exc).__name__}") from None


def lambda_handler(
    event: Mapping[str, Any],
    context: object,
    *,
    ssm: Any = None,
    post: Callable[[str, Mapping[str, Any]], int] = post_json,
) -> dict[str, Any]:
    """Entry point. ``ssm`` and ``post`` are injectable for tests; Lambda passes neither."""
    if ssm is None:
        import boto3

        ssm = boto3.client("ssm")
    parameter = os.environ["WEBHOOK_PARAMETER"]
    message = build_slack_message(event)
    url = ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    status = post(url, message)
    detail = event.get("detail") or {}
    LOG.info("notify posted job=%s status=%s http=%s", detail.get("jobId"), detail.get("status"), status)
    return {"posted": True, "http_status": status}
