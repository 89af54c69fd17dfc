"""Slack failure alerts. Never raises, never logs the webhook URL.

The webhook URL comes from the environment (``error_notification_slack_webhook_url``, as in the seed) or,
when absent there, from the SSM parameter of that name (SecureString, decrypted). Without either, the alert
is only logged.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

log = logging.getLogger(__name__)


def resolve_webhook_url(settings: Any, ssm_client: Any = None) -> str | None:
    """The webhook URL from settings or SSM; None when neither has one (or SSM is unreachable)."""
    if settings.slack_webhook_url:
        return settings.slack_webhook_url
    if settings.store.kind != "s3" and ssm_client is None:
        return None  # a local run has no AWS account to ask; alerts are logged only
    try:
        if ssm_client is None:
            from utils.aws import aws_client

            ssm_client = aws_client("ssm", settings)
        response = ssm_client.get_parameter(Name=settings.slack_ssm_parameter, WithDecryption=True)
        return response["Parameter"]["Value"] or None
    except Exception as exc:  # no parameter / no permission / no network: alerting must never fail the caller
        log.warning("no Slack webhook from SSM parameter %s (%s)", settings.slack_ssm_parameter, type(exc).__name__)
        return None


def send_alert(
    settings: Any,
    text: str,
    *,
    session: requests.Session | None = None,
    ssm_client: Any = None,
    timeout: float = 10.0,
) -> bool:
    """Post ``text`` to Slack; True when Slack accepted it. Logs the alert in every case."""
    log.error("ALERT: %s", text)
    url = resolve_webhook_url(settings, ssm_client)
    if not url:
        return False
    try:
        response = (session or requests).post(url, json={"text": text}, timeout=timeout)
    except requests.RequestException as exc:
        # The exception text can contain the URL: report only its type.
        log.warning("Slack alert not delivered (%s)", type(exc).__name__)
        return False
    if response.status_code != 200:
        log.warning("Slack alert not delivered (HTTP %s)", response.status_code)
        return False
    return True
