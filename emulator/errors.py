"""Typed exceptions that render the error bodies each Azure API really sends.

- ARM (Resource Graph, SKUs, SPS): ``{"error": {"code", "message", "target"?, "details"?}}`` (docs/azure-facts.md 1.7,
  3.2).
- Retail Prices: ``{"Error": {"Code", "Message"}}`` (PascalCase like its envelope; real body [U], docs/azure-facts.md
  2.5).
- Entra token endpoint: OAuth2 ``{"error", "error_description", "error_codes", ...}``.
- SPS quota: plain text (captured body, docs/azure-facts.md 1.6).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from emulator.wire import ApiResponse


class EmulatorError(Exception):
    """Base: an HTTP error answer. ``response()`` renders it."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})

    def response(self) -> ApiResponse:
        return ApiResponse.text(self.status, self.message, self.headers)


class ArmError(EmulatorError):
    """ARM error body ``{"error": {"code", "message", ...}}``."""

    def __init__(self, status: int, code: str, message: str, *, target: str | None = None,
                 details: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers)
        self.code = code
        self.target = target
        self.details = details

    def response(self) -> ApiResponse:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            error["target"] = self.target
        if self.details is not None:
            error["details"] = self.details
        return ApiResponse.json(self.status, {"error": error}, self.headers)


class NotImplementedOperation(ArmError):
    """A route the emulator does not implement: 501 naming the operation, never an empty 200."""

    def __init__(self, method: str, path: str) -> None:
        super().__init__(501, "NotImplemented",
                         f"The Azure emulator does not implement the operation '{method} {path}'.")


class PricesError(EmulatorError):
    """Retail Prices error body."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers)
        self.code = code

    def response(self) -> ApiResponse:
        return ApiResponse.json(self.status, {"Error": {"Code": self.code, "Message": self.message}}, self.headers)


class OAuthError(EmulatorError):
    """Microsoft Entra token-endpoint error (``AADSTS`` codes)."""

    def __init__(self, status: int, error: str, aadsts: int, description: str) -> None:
        super().__init__(status, description)
        self.error = error
        self.aadsts = aadsts

    def response(self) -> ApiResponse:
        trace = str(uuid.uuid4())
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return ApiResponse.json(self.status, {
            "error": self.error,
            "error_description": f"AADSTS{self.aadsts}: {self.message} Trace ID: {trace} "
                                 f"Correlation ID: {trace} Timestamp: {now}",
            "error_codes": [self.aadsts], "timestamp": now, "trace_id": trace, "correlation_id": trace,
        }, self.headers)


class PlainTextError(EmulatorError):
    """An error answered with a plain-text body."""


SPS_QUOTA_MESSAGE = ("You have reached the maximum number of requests allowed. "
                     "Please try again after {seconds} seconds.")


def sps_quota_exceeded(retry_after: int) -> PlainTextError:
    """The captured SPS 429 (azure-powershell #28765): plain text, not JSON."""
    return PlainTextError(429, SPS_QUOTA_MESSAGE.format(seconds=retry_after), {"Retry-After": str(retry_after)})


def resource_graph_throttled(retry_after: int) -> ArmError:
    """The captured Resource Graph 429 ``RateLimiting`` body (docs/azure-facts.md 3.3)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return ArmError(
        429, "RateLimiting",
        f"Please provide below info when asking for support: timestamp = {stamp}, "
        f"correlationId = {uuid.uuid4()}.",
        details=[{"code": "RateLimiting",
                  "message": "Client application has been throttled and should not attempt to repeat the "
                             "request until an amount of time has elapsed. Please see "
                             "https://aka.ms/resourcegraph-throttling for help."}],
        headers={"Retry-After": str(retry_after), "x-ms-user-quota-remaining": "0",
                 "x-ms-user-quota-resets-after": _hms(retry_after)},
    )


def arm_throttled(retry_after: int) -> ArmError:
    """ARM subscription read throttling (docs/azure-facts.md 5.4)."""
    return ArmError(429, "SubscriptionRequestsThrottled",
                    "Number of 'read' requests for subscription exceeded. "
                    f"Please try again after '{retry_after}' seconds.",
                    headers={"Retry-After": str(retry_after)})


def prices_throttled(retry_after: int) -> PricesError:
    """Retail Prices 429 with its own retry header (docs/azure-facts.md 2.5; body format [U])."""
    return PricesError(429, "TooManyRequests", "Too many requests. Please try again later.",
                       {"Retry-After": str(retry_after), "x-ms-ratelimit-retailPrices-retry-after": str(retry_after)})


def server_error(api: str, status: int) -> EmulatorError:
    """An injected 5xx in the API's own error format."""
    code = {500: "InternalServerError", 502: "BadGatewayConnection", 503: "ServiceUnavailable"}[status]
    message = {500: "Encountered internal server error. Diagnostic information: emulator fault.",
               502: "The network connectivity issue encountered for 'Microsoft.Compute'; cannot fulfill the "
                    "request.",
               503: "The service is temporarily unavailable. Please retry later."}[status]
    if api == "prices":
        return PricesError(status, code, message)
    if api == "token":
        return OAuthError(status, "temporarily_unavailable", 50001 if status == 503 else 90033, message)
    return ArmError(status, code, message)


def throttled(api: str, retry_after: int) -> EmulatorError:
    """An injected 429 in the API's own format."""
    if api == "sps":
        return sps_quota_exceeded(retry_after)
    if api == "resource_graph":
        return resource_graph_throttled(retry_after)
    if api == "prices":
        return prices_throttled(retry_after)
    if api == "token":
        error = OAuthError(429, "temporarily_unavailable", 50196, "The server is busy. Please retry later.")
        error.headers["Retry-After"] = str(retry_after)
        return error
    return arm_throttled(retry_after)


def _hms(seconds: float) -> str:
    whole = max(0, round(seconds))
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
