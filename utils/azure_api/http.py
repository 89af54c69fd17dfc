"""One attempt of an HTTP call to Azure, read through the one outcome table, and ``fetch``: attempts under a
``RetryPolicy``.

What is retried (``utils.azure_api.classify``): 408, 409, 429, 5xx, timeouts, connection errors (reset, refused,
truncated body) and a 2xx whose JSON cannot be read. Anything else (400, 401, 403, 404, ...) fails at once.

    policy = RetryPolicy.from_settings(settings)
    payload, _ = fetch(policy, "prices page 3", lambda: get_json(session, url, timeout=30, describe="prices page 3"))

``get_json``/``request_json`` do one attempt and raise ``RetriableError`` (retry) or ``RunFailed`` (fail);
``fetch`` runs attempts under the policy (``requests`` and azure-core exceptions an attempt lets out are
mapped by the same table) and, once the attempts are spent, raises ``RunFailed``. For azure-core SDK calls,
``azure_call_error`` turns an azure-core exception into the same two outcomes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import requests

from utils.azure_api.classify import Outcome, arm_error_fields, classify
from utils.azure_api.retry import RetryPolicy, parse_retry_after, retry_after_from_text
from utils.errors import RetriableError, RunFailed

log = logging.getLogger(__name__)
T = TypeVar("T")


def fetch(policy: RetryPolicy, describe: str, attempt: Callable[[], T], *,
          on_retry: Callable[[RetriableError, int, float], None] | None = None) -> T:
    """Run ``attempt`` (one request, read and checked: a bad page is re-fetched alone) under ``policy``.

    An attempt raises ``RetriableError``/``RunFailed`` itself (``request_json``, a pager's ``accept``), or lets
    a ``requests`` or azure-core exception out, which is mapped here by the one table. Other exceptions are
    bugs and propagate unchanged.

    Raises:
        RunFailed: a fault outlived the policy's attempts, or an answer that is not worth retrying.
    """
    from azure.core.exceptions import AzureError

    def guarded() -> T:
        try:
            return attempt()
        except requests.Timeout as exc:
            raise RetriableError(f"{describe}: timed out ({type(exc).__name__})") from None
        except requests.RequestException as exc:  # ConnectionError, ChunkedEncodingError (truncated body), ...
            raise RetriableError(f"{describe}: connection failed ({type(exc).__name__})") from None
        except AzureError as exc:
            raise azure_call_error(exc, describe) from None

    return policy.call(guarded, describe=describe, on_retry=on_retry)


def response_error(response: requests.Response, describe: str) -> Exception | None:
    """None for a 2xx; a ``RetriableError`` (with Retry-After) or ``RunFailed`` otherwise, per the table."""
    return status_error(response.status_code, response.headers, describe, lambda: response.text)


def status_error(status: int, headers: Any, describe: str, body_text: Callable[[], str]) -> Exception | None:
    """None for a 2xx; else ``RetriableError`` (with the Retry-After to honour) or ``RunFailed`` per
    ``utils.azure_api.classify`` (any HTTP library)."""
    if 200 <= status < 300:
        return None
    text = _safe_text(body_text)
    answer = classify(status, text)
    message = f"{describe}: HTTP {status}{_error_code(text)}"
    if answer.retriable:
        retry_after = parse_retry_after(headers)
        if retry_after is None and answer.kind is Outcome.THROTTLED:
            retry_after = retry_after_from_text(text[:500])
        return RetriableError(message, retry_after=retry_after, status=status)
    return RunFailed(message)


def _safe_text(body_text: Callable[[], str]) -> str:
    try:
        return body_text() or ""
    except (ValueError, UnicodeDecodeError):
        return ""  # an unreadable error body only loses the error code in the message


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
    - ``HttpResponseError`` with a status -> per ``utils.azure_api.classify`` (Retry-After honoured);
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
        if classify(status, '').retriable:
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
