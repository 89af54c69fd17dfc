"""utils/azure_api/http.py: the status table, Retry-After parsing, and the retry loop."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from utils.azure_api.classify import Outcome, classify, outcome_for_status
from utils.azure_api.http import status_error
from utils.azure_api.retry import RetryPolicy, parse_retry_after, retry_after_from_text
from utils.errors import RetriableError, RunFailed


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.OK), (204, Outcome.OK), (408, Outcome.RETRY), (409, Outcome.RETRY), (429, Outcome.THROTTLED),
        (500, Outcome.RETRY), (501, Outcome.RETRY), (502, Outcome.RETRY), (503, Outcome.RETRY),
        (504, Outcome.RETRY), (400, Outcome.BAD_REQUEST), (401, Outcome.AUTH), (403, Outcome.FAIL),
        (404, Outcome.FAIL),
    ],
)
def test_each_status_maps_to_one_outcome(status: int, outcome: Outcome) -> None:
    assert outcome_for_status(status) is outcome
    assert classify(status, "").kind is outcome


@pytest.mark.parametrize(
    ("status", "retried"),
    [(200, None), (408, True), (409, True), (429, True), (500, True), (503, True), (400, False), (401, False),
     (403, False), (404, False)],
)
def test_a_generic_caller_retries_exactly_the_retriable_outcomes(status: int, retried: bool | None) -> None:
    error = status_error(status, {}, "page 1", lambda: "")
    assert (None if error is None else isinstance(error, RetriableError)) == retried
    assert error is None or isinstance(error, (RetriableError, RunFailed))


def test_the_sps_quota_wording_is_throttling_whatever_the_status_and_its_wait_is_read_from_the_text() -> None:
    text = "You have reached the maximum number of requests allowed. Please try again after 3600 seconds."
    assert classify(400, text).kind is Outcome.THROTTLED
    error = status_error(429, {}, "call", lambda: text)
    assert isinstance(error, RetriableError) and error.retry_after == 3600.0


def test_retry_after_is_read_in_seconds_milliseconds_and_as_an_http_date() -> None:
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({"x-ms-ratelimit-retailPrices-retry-after": "61"}) == 61.0
    from datetime import UTC, datetime

    now = datetime(2025, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"Retry-After": "Wed, 01 Jan 2025 00:00:30 GMT"}, now=lambda: now) == 30.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


def test_a_plain_text_throttle_message_gives_its_wait() -> None:
    text = "You have reached the maximum number of requests allowed. Please try again after 3600 seconds."
    assert retry_after_from_text(text) == 3600.0
    assert retry_after_from_text("no hint") is None


class _Flaky:
    def __init__(self, failures: int, retry_after: float | None = None) -> None:
        self.failures = failures
        self.calls = 0
        self.retry_after = retry_after

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise RetriableError("boom", retry_after=self.retry_after, status=503)
        return "ok"


def test_a_transient_fault_is_retried_until_it_succeeds() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=8.0, sleep=sleeps.append, jitter=lambda: 1.0)
    flaky = _Flaky(failures=3)
    assert policy.call(flaky, describe="thing") == "ok"
    assert flaky.calls == 4
    assert sleeps == [1.0, 2.0, 4.0]


def test_the_retry_budget_is_bounded_and_ends_in_run_failed() -> None:
    policy = RetryPolicy(max_attempts=3, sleep=lambda _s: None)
    flaky = _Flaky(failures=10)
    with pytest.raises(RunFailed, match="gave up after 3 attempts"):
        policy.call(flaky, describe="thing")
    assert flaky.calls == 3


def test_a_non_retriable_error_is_not_retried() -> None:
    calls = []

    def fail() -> None:
        calls.append(1)
        raise RunFailed("HTTP 400")

    with pytest.raises(RunFailed, match="HTTP 400"):
        RetryPolicy(sleep=lambda _s: None).call(fail, describe="thing")
    assert calls == [1]


def test_retry_after_is_honoured_but_capped() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=3, max_retry_after=10.0, sleep=sleeps.append)
    policy.call(_Flaky(failures=1, retry_after=3.0), describe="a")
    policy.call(_Flaky(failures=1, retry_after=3600.0), describe="b")
    assert sleeps == [3.0, 10.0]


def test_on_retry_sees_every_retry() -> None:
    seen: list[tuple[int, float]] = []
    policy = RetryPolicy(max_attempts=4, sleep=lambda _s: None, jitter=lambda: 0.5, base_delay=2.0)
    policy.call(_Flaky(failures=2), describe="a", on_retry=lambda _e, n, d: seen.append((n, d)))
    assert seen == [(1, 1.0), (2, 2.0)]


@given(
    retry=st.integers(min_value=1, max_value=40),
    base=st.floats(min_value=0.0, max_value=10.0),
    ceiling=st.floats(min_value=0.0, max_value=100.0),
    unit=st.floats(min_value=0.0, max_value=0.999999),
)
def test_full_jitter_backoff_stays_between_zero_and_the_capped_exponential(
    retry: int, base: float, ceiling: float, unit: float
) -> None:
    policy = RetryPolicy(base_delay=base, max_delay=ceiling, jitter=lambda: unit)
    delay = policy.delay(retry)
    assert 0.0 <= delay <= min(ceiling, base * 2 ** (retry - 1)) + 1e-9


@pytest.fixture(scope="module")
def status_server():
    """A local HTTP server answering GET /<status> with that status, a Retry-After of 7 and a JSON body."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = int(self.path.strip("/").split("?")[0])
            body = b'{"error": {"code": "Boom", "message": "no"}}' if status >= 400 else b'{"ok": true}'
            if status == 299:
                status, body = 200, b'{"ok": tru'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Retry-After", "7")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "raised", "retry_after"),
    [(200, None, None), (299, RetriableError, None), (429, RetriableError, 7.0), (503, RetriableError, 7.0),
     (500, RetriableError, 7.0), (400, RunFailed, None), (404, RunFailed, None)],
)
def test_get_json_turns_each_answer_on_the_wire_into_one_outcome(
    status_server: str, status: int, raised: type[Exception] | None, retry_after: float | None
) -> None:
    import requests

    from utils.azure_api.http import get_json

    with requests.Session() as session:
        if raised is None:
            payload, _ = get_json(session, f"{status_server}/{status}", timeout=5, describe="probe")
            assert payload == {"ok": True}
            return
        with pytest.raises(raised) as info:
            get_json(session, f"{status_server}/{status}", timeout=5, describe="probe")
    if status >= 400:
        assert f"HTTP {status} Boom" in str(info.value)
    if retry_after is not None:
        assert info.value.retry_after == retry_after


def test_a_refused_connection_is_retriable() -> None:
    import socket

    import requests

    from utils.azure_api.http import get_json

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with requests.Session() as session, pytest.raises(RetriableError, match="connection failed"):
        get_json(session, f"http://127.0.0.1:{port}/", timeout=2, describe="probe")
