"""Slack alerts against a tiny webhook server on 127.0.0.1; the URL comes from env or SSM (moto)."""

from __future__ import annotations

import argparse
import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from utils.entrypoint import run_entry
from utils.errors import RunFailed, UsageError
from utils.settings import load_settings
from utils.slack_msg_sender import send_alert

TOKEN_PATH = "/services/T000/B000/XyZsecretTOKEN"


class _Webhook:
    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.posts.append((self.path, json.loads(body)))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}{TOKEN_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[_Webhook]:
    hook = _Webhook()
    try:
        yield hook
    finally:
        hook.close()


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{TOKEN_PATH}"


def test_alert_is_posted_to_the_webhook_from_the_environment(webhook, base_env, caplog) -> None:
    caplog.set_level(logging.INFO)
    settings = load_settings({**base_env, "error_notification_slack_webhook_url": webhook.url})
    assert send_alert(settings, "SpotLake Azure sps failed: quota") is True
    assert webhook.posts == [(TOKEN_PATH, {"text": "SpotLake Azure sps failed: quota"})]
    assert "ALERT: SpotLake Azure sps failed: quota" in caplog.text
    assert "XyZsecretTOKEN" not in caplog.text


def test_webhook_url_is_read_from_ssm_when_the_environment_has_none(webhook, moto_endpoint, base_env) -> None:
    env = {**base_env, "SPOTLAKE_STORE": "s3://alerts-bucket", "AWS_ENDPOINT_URL": moto_endpoint}
    ssm = boto3.client("ssm", region_name="us-west-2", endpoint_url=moto_endpoint)
    ssm.put_parameter(Name="error_notification_slack_webhook_url", Value=webhook.url, Type="SecureString")
    settings = load_settings(env)
    assert send_alert(settings, "from ssm, injected client", ssm_client=ssm) is True
    assert send_alert(settings, "from ssm, client from utils.aws") is True
    texts = [body["text"] for _path, body in webhook.posts]
    assert texts == ["from ssm, injected client", "from ssm, client from utils.aws"]


def test_a_missing_ssm_parameter_means_no_alert_and_no_exception(moto_endpoint, base_env, caplog) -> None:
    env = {**base_env, "SPOTLAKE_STORE": "s3://alerts-bucket", "AWS_ENDPOINT_URL": moto_endpoint}
    assert send_alert(load_settings(env), "nobody listens") is False
    assert "no Slack webhook from SSM parameter" in caplog.text


def test_a_local_run_without_a_webhook_only_logs(base_env, caplog) -> None:
    assert send_alert(load_settings(base_env), "local failure") is False
    assert "ALERT: local failure" in caplog.text


@pytest.mark.parametrize("failure", ["http-500", "connection-refused"])
def test_a_failing_webhook_returns_false_without_raising_or_logging_the_url(webhook, base_env, caplog, failure) -> None:
    caplog.set_level(logging.INFO)
    url = webhook.url
    if failure == "http-500":
        webhook.status = 500
    else:
        url = _refused_url()
    settings = load_settings({**base_env, "error_notification_slack_webhook_url": url})
    assert send_alert(settings, "merge failed", timeout=5) is False
    assert "Slack alert not delivered" in caplog.text
    assert "XyZsecretTOKEN" not in caplog.text and url not in caplog.text


def _run(env: dict[str, str], error: Exception) -> int:
    def main(args: argparse.Namespace, settings: object) -> int:
        raise error

    return run_entry("merge", argparse.ArgumentParser(prog="merge"), main, argv=[], env=env)


def test_a_failed_run_exits_1_and_sends_exactly_one_alert(webhook, base_env) -> None:
    env = {**base_env, "error_notification_slack_webhook_url": webhook.url}
    assert _run(env, RunFailed("price and IF both unavailable")) == 1
    assert [body["text"] for _p, body in webhook.posts] == [
        "SpotLake Azure merge failed: price and IF both unavailable"
    ]
    assert _run(env, KeyError("boom")) == 1
    assert len(webhook.posts) == 2


def test_usage_errors_and_orchestrated_runs_send_no_alert(webhook, base_env) -> None:
    env = {**base_env, "error_notification_slack_webhook_url": webhook.url}
    assert _run(env, UsageError("bad --sps_key")) == 2
    assert _run({**env, "SPOTLAKE_ALERT_OWNER": "orchestrator"}, RunFailed("x")) == 1
    assert webhook.posts == []


def test_send_alert_script_alerts_even_when_the_settings_no_longer_validate(webhook, base_env, capsys) -> None:
    # Issue 14.3: the run failed because of its environment (here an invalid setting); its one alert must
    # still go out, with the webhook read straight from the environment, and never log the URL.
    from bench.modload import load_module

    send_alert_script = load_module("scripts/send_alert.py")
    env = {**base_env, "SPOTLAKE_HTTP_TIMEOUT": "not-a-number", "error_notification_slack_webhook_url": webhook.url}
    assert send_alert_script.main(["--text", "SpotLake Azure run failed: store"], env=env) == 0
    assert [body["text"] for _path, body in webhook.posts] == ["SpotLake Azure run failed: store"]
    logged = capsys.readouterr().err  # the script's own logging handler writes to stderr
    assert "settings invalid (SPOTLAKE_HTTP_TIMEOUT" in logged and "XyZsecretTOKEN" not in logged
