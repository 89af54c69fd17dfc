"""The one retry policy for HTTP calls to Azure, and the one table mapping a status code to what to do.

Policy: exponential backoff with full jitter (AWS Architecture Blog, "Exponential
Backoff And Jitter": sleep = uniform(0, min(max_delay, base_delay * 2**retry))); a server's Retry-After is
honoured but capped at ``max_retry_after`` (a real SPS 429 says "try again after 3600 seconds", docs/azure-facts.md
1.6; azure-core would sleep it in full, docs/azure-facts.md 5.3), and attempts are bounded.

What is retried: 408, 429, 500, 502, 503, 504, timeouts, connection errors (reset, refused, truncated
body) and a 2xx whose JSON cannot be read. Anything else (400, 401, 403, 404, ...) fails at once.

    policy = RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=20.0)
    payload = policy.call(lambda: get_json(session, url, timeout=30, describe="prices page 3"),
                          describe="prices page 3")

``get_json``/``request_json`` do one attempt and raise ``RetriableError`` (retry) or ``RunFailed`` (fail);
``policy.call`` retries the former and, once the attempts are spent, raises ``RunFailed``. For azure-core
SDK calls, ``azure_call_error`` turns an azure-core exception into the same two outcomes.
"""

from __future__ import annotations

import email.utils
import enum
import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests

from utils.errors import RetriableError, RunFailed

log = logging.getLogger(__name__)
T = TypeVar("T")


class Outcome(enum.Enum):
    """What a caller does with a response status."""

    OK = "ok"
    RETRY = "retry"
    FAIL = "fail"


# Status -> outcome for every status that is not a plain success or a plain failure. 2xx not listed = OK,
# anything else not listed = FAIL. ARM, Resource Graph and Retail Prices all throttle with 429 +
# Retry-After (docs/azure-facts.md 2.5, 3.3, 5.4); 5xx are transient server faults; 408 is a server-side timeout.
STATUS_OUTCOMES: dict[int, Outcome] = {
    408: Outcome.RETRY,
    429: Outcome.RETRY,
    500: Outcome.RETRY,
    502: Outcome.RETRY,
    503: Outcome.RETRY,
    504: Outcome.RETRY,
}


def outcome_for_status(status: int) -> Outcome:
    """``200`` -> OK, ``429``/``5xx`` -> RETRY, ``400``/``401``/``404``/... -> FAIL."""
    if status in STATUS_OUTCOMES:
        return STATUS_OUTCOMES[status]
    return Outcome.OK if 200 <= status < 300 else Outcome.FAIL


# Azure sends Retry-After in seconds; Retail Prices has its own header (docs/azure-facts.md 2.5); azure-core also
# honours the millisecond variants (docs/azure-facts.md 5.3).
_RETRY_AFTER_HEADERS_SECONDS = ("retry-after", "x-ms-ratelimit-retailprices-retry-after")
_RETRY_AFTER_HEADERS_MS = ("retry-after-ms", "x-ms-retry-after-ms")


def parse_retry_after(headers: Any, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """Seconds to wait from a response's headers (a case-insensitive mapping), or None when absent/unreadable.

    >>> parse_retry_after({"Retry-After": "2"})
    2.0
    """
    lowered = {str(k).lower(): str(v) for k, v in dict(headers or {}).items()}
    for name in _RETRY_AFTER_HEADERS_MS:
        value = lowered.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) / 1000.0)
            except ValueError:
                continue  # unreadable hint: fall through to the other headers / plain backoff
    for name in _RETRY_AFTER_HEADERS_SECONDS:
        value = lowered.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            pass  # not a number: RFC 9110 also allows an HTTP date, tried next
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue  # unreadable hint: plain backoff applies
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now()).total_seconds())
    return None


_RETRY_AFTER_TEXT = re.compile(r"try again after '?(\d+)'? seconds", re.IGNORECASE)


def retry_after_from_text(text: str) -> float | None:
    """The wait named in a throttling message body ("Please try again after 3600 seconds.", docs/azure-facts.md 1.6)."""
    match = _RETRY_AFTER_TEXT.search(text or "")
    return float(match.group(1)) if match else None


@dataclass
class RetryPolicy:
    """Bounded retries with exponential backoff, full jitter and a capped Retry-After.

    Attributes:
        max_attempts: total attempts including the first (>= 1).
        base_delay: backoff scale in seconds; retry ``n`` (1-based) sleeps uniform(0, min(max_delay,
            base_delay * 2**(n-1))).
        max_delay: ceiling of the exponential backoff.
        max_retry_after: ceiling applied to a server's Retry-After (a longer hint is cut to this).
        sleep: injected for tests.
        jitter: injected for tests (returns a float in [0, 1)).
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    jitter: Callable[[], float] = field(default=random.random, repr=False)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> RetryPolicy:
        """The policy configured by ``settings.retry`` (SPOTLAKE_RETRY_* variables), with overrides."""
        config = settings.retry
        values = {
            "max_attempts": config.max_attempts,
            "base_delay": config.base_delay,
            "max_delay": config.max_delay,
            "max_retry_after": config.max_retry_after,
        }
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must be >= 0")

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to sleep before retry number ``retry`` (1-based).

        With a server hint: the hint capped at ``max_retry_after`` (never less than the hint's cap, so a
        throttled client does not come back early); without: full-jitter exponential backoff.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(retry - 1, 0)))
        return ceiling * self.jitter()

    def call(
        self,
        fn: Callable[[], T],
        *,
        describe: str,
        on_retry: Callable[[RetriableError, int, float], None] | None = None,
    ) -> T:
        """Run ``fn`` until it returns, retrying ``RetriableError`` up to ``max_attempts`` in all.

        Args:
            fn: one attempt; raises ``RetriableError`` for a transient fault, anything else to stop.
            describe: what is being done, for messages ("prices page $skip=3000"); no secrets, no URLs
                with credentials.
            on_retry: called as ``on_retry(error, retry_number, delay)`` before each sleep (progress counters).

        Raises:
            RunFailed: the last attempt still raised ``RetriableError``.
            Any other exception ``fn`` raises, unchanged, at once.
        """
        attempt = 1
        while True:
            try:
                return fn()
            except RetriableError as exc:
                if attempt >= self.max_attempts:
                    raise RunFailed(f"{describe}: gave up after {attempt} attempts: {exc}") from exc
                wait = self.delay(attempt, exc.retry_after)
                log.warning("%s: attempt %d/%d failed (%s); retrying in %.2fs",
                            describe, attempt, self.max_attempts, exc, wait)
                if on_retry is not None:
                    on_retry(exc, attempt, wait)
                self.sleep(wait)
                attempt += 1


def response_error(response: requests.Response, describe: str) -> Exception | None:
    """None for a 2xx; a ``RetriableError`` (with Retry-After) or ``RunFailed`` otherwise, per the table."""
    return status_error(response.status_code, response.headers, describe, lambda: response.text)


def status_error(status: int, headers: Any, describe: str, body_text: Callable[[], str]) -> Exception | None:
    """None for a 2xx; else ``RetriableError``/``RunFailed`` per ``STATUS_OUTCOMES`` (any HTTP library)."""
    outcome = outcome_for_status(status)
    if outcome is Outcome.OK:
        return None
    text = _safe_text(body_text)
    message = f"{describe}: HTTP {status}{_error_code(text)}"
    if outcome is Outcome.RETRY:
        retry_after = parse_retry_after(headers)
        if retry_after is None and status == 429:
            retry_after = retry_after_from_text(text[:500])
        return RetriableError(message, retry_after=retry_after, status=status)
    return RunFailed(message)


def _safe_text(body_text: Callable[[], str]) -> str:
    try:
        return body_text() or ""
    except (ValueError, UnicodeDecodeError):
        return ""  # an unreadable error body only loses the error code in the message


def arm_error_fields(text: str) -> tuple[str, str] | None:
    """(code, message) of an ARM/Retail Prices error body ``{"error": {"code": ..., "message": ...}}`` (also
    ``Error``/``Code``/``Message``), decoded by the JSON parser (so ``\u0027`` is a quote again); None when
    the body is not such JSON. Callers that recognise an error by its wording read this message first and
    the raw text second."""
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    error = payload.get("error") or payload.get("Error")
    if not isinstance(error, dict):
        return None
    code = error.get("code") or error.get("Code") or ""
    message = error.get("message") or error.get("Message") or ""
    return str(code), str(message)


def _error_code(text: str) -> str:
    """The ARM error code of a body ``{"error": {"code": ...}}``, else nothing (bodies can echo input, so the
    message never goes into our exception text)."""
    fields = arm_error_fields(text)
    if fields is not None and fields[0]:
        return f" {fields[0][:80]}"
    return ""


def request_json(session: requests.Session, method: str, url: str, *, timeout: float, describe: str,
                 **kwargs: Any) -> tuple[Any, requests.Response]:
    """One HTTP attempt returning (decoded JSON, response); ``kwargs`` go to ``session.request`` (json=,
    headers=, data=).

    Raises:
        RetriableError: retry-table status, timeout, connection error, truncated or unreadable body.
        RunFailed: any other non-2xx status.
    """
    try:
        response = session.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout as exc:
        raise RetriableError(f"{describe}: timed out after {timeout}s ({type(exc).__name__})") from None
    except requests.RequestException as exc:  # ConnectionError, ChunkedEncodingError (truncated body), ...
        raise RetriableError(f"{describe}: connection failed ({type(exc).__name__})") from None
    error = response_error(response, describe)
    if error is not None:
        raise error
    try:
        return response.json(), response
    except ValueError as exc:  # includes requests' JSONDecodeError: truncated or malformed body
        raise RetriableError(f"{describe}: unreadable JSON body ({type(exc).__name__})") from None


def get_json(session: requests.Session, url: str, *, timeout: float, describe: str,
             **kwargs: Any) -> tuple[Any, requests.Response]:
    """``request_json(session, "GET", url, ...)``."""
    return request_json(session, "GET", url, timeout=timeout, describe=describe, **kwargs)


def azure_call_error(exc: BaseException, describe: str) -> Exception:
    """Map an azure-core exception from an SDK call to ``RetriableError`` or ``RunFailed`` (same table).

    - ``ClientAuthenticationError`` (the credential was refused) -> RunFailed, never retried;
    - ``HttpResponseError`` with a status -> per ``STATUS_OUTCOMES`` (Retry-After honoured);
    - ``ServiceRequestError``/``ServiceResponseError`` (connection, timeout, reset, truncated body) and
      ``DecodeError`` (unreadable JSON) -> RetriableError;
    - anything else -> RunFailed.
    """
    from azure.core.exceptions import (
        ClientAuthenticationError,
        DecodeError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    name = type(exc).__name__
    if isinstance(exc, ClientAuthenticationError):
        return RunFailed(f"{describe}: the Azure credential was refused ({_first_line(exc)})")
    if isinstance(exc, DecodeError):
        return RetriableError(f"{describe}: unreadable response body ({name})")
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        status = int(exc.status_code)
        code = getattr(getattr(exc, "error", None), "code", None)
        if not code and exc.response is not None:  # azure-core could not parse the body: read it ourselves
            code = _error_code(_sdk_response_text(exc.response)).strip() or None
        message = f"{describe}: HTTP {status}{' ' + str(code)[:80] if code else ''}"
        if outcome_for_status(status) is Outcome.RETRY:
            headers = exc.response.headers if exc.response is not None else {}
            retry_after = parse_retry_after(headers)
            return RetriableError(message, retry_after=retry_after, status=status)
        return RunFailed(message)
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return RetriableError(f"{describe}: connection failed or timed out ({name})")
    return RunFailed(f"{describe}: unexpected {name}")


def _sdk_response_text(response: Any) -> str:
    """The body text of an azure-core response, or "" when it cannot be read (the message then only lacks
    the error code)."""
    from azure.core.exceptions import ResponseNotReadError

    try:
        return response.text() or ""
    except (ValueError, UnicodeDecodeError, ResponseNotReadError):
        return ""  # unread stream or undecodable body: only the error code is lost from the message


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc)
    return text.splitlines()[0][:200] if text else type(exc).__name__
