"""Slack failure alerts. Never raises, never logs the webhook URL.

The webhook URL comes from the environment (``error_notification_slack_webhook_url``, as in the seed) or,
when absent there, from the SSM parameter of that name (SecureString, decrypted). Without either, the alert
is only logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from utils.settings import SLACK_ENV, SLACK_SSM_PARAMETER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _StoreKind:
    kind: str


@dataclass(frozen=True)
class AlertSettings:
    """The few settings an alert needs, read straight from the environment: what ``scripts/send_alert.py``
    uses when the full settings do not validate (the alert of a run must still go out, issue 14.3)."""

    slack_webhook_url: str | None
    slack_ssm_parameter: str
    store: _StoreKind
    aws_region: str
    aws_endpoint_url: str | None

    def __repr__(self) -> str:  # the webhook URL is a secret
        return f"AlertSettings(store={self.store.kind}, ssm={self.slack_ssm_parameter})"


def alert_settings_from_env(env: Mapping[str, str]) -> AlertSettings:
    """Alert settings from ``env`` without validating anything else (never raises)."""
    endpoint = env.get("AWS_ENDPOINT_URL") or None
    return AlertSettings(
        slack_webhook_url=env.get(SLACK_ENV) or None,
        slack_ssm_parameter=env.get("SPOTLAKE_SLACK_SSM_PARAMETER") or SLACK_SSM_PARAMETER,
        store=_StoreKind("s3" if (env.get("SPOTLAKE_STORE") or "").startswith("s3://") else "local"),
        aws_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-west-2",
        aws_endpoint_url=endpoint if endpoint and endpoint.startswith(("http://", "https://")) else None,
    )


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
