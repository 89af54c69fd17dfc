"""The one outcome table: what an Azure answer (status + body) means for the caller. Pure, no I/O.

Every client reads an answer through ``classify(status, body)``; the generic callers (Retail Prices, Resource
SKUs, Resource Graph, endpoint discovery) only need "retry or fail" (``Answer.retriable``), the SPS sweep
also acts on the finer outcomes (move a throttled call to another quota bucket, drop named invalid values,
refresh a refused token once).

| answer | outcome | generic caller | SPS sweep |
| --- | --- | --- | --- |
| 2xx | ``OK`` | use it | use it |
| 429, or a body saying the request quota is used up | ``THROTTLED`` | retry after Retry-After | another bucket |
| 401 | ``AUTH`` | fail | refresh the token once |
| 400 naming invalid ``desiredLocations``/``desiredSizes`` | ``INVALID`` | fail | drop them, retry |
| 400 ``NoRegisteredProviderFound`` (endpoint location not served) | ``RETRY`` | retry | another bucket |
| any other 400 | ``BAD_REQUEST`` | fail | retry once, then give the call up |
| 408, 409, 5xx | ``RETRY`` | retry | retry |
| anything else (403, 404, other 4xx) | ``FAIL`` | fail | fail the run |

ARM, Resource Graph and Retail Prices all throttle with 429 + Retry-After (docs/azure-facts.md 2.5, 3.3, 5.4);
5xx, 408 (server-side timeout) and 409 (a conflicting operation in flight) are transient. The SPS wording
rules are docs/azure-facts.md 1.6, 1.7 and 8. The values of ``Outcome`` are the words the SPS sweep has
always logged and stored, so its outputs did not change when the table became one.

    >>> classify(429, "Please try again after 3600 seconds.").kind
    <Outcome.THROTTLED: 'quota'>
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, field


class Outcome(enum.StrEnum):
    """What a caller does with an answer (see the module table)."""

    OK = "ok"
    RETRY = "retriable"
    THROTTLED = "quota"
    AUTH = "auth"
    INVALID = "invalid"
    BAD_REQUEST = "unreadable"
    FAIL = "fatal"


# Outcomes a generic caller retries (with backoff, or after the server's Retry-After).
RETRIABLE = frozenset({Outcome.RETRY, Outcome.THROTTLED})

# Status -> outcome where the status alone decides; 2xx not listed = OK, other 5xx = RETRY, 400 is read from
# the body, anything else not listed = FAIL.
STATUS_OUTCOMES: dict[int, Outcome] = {
    401: Outcome.AUTH,
    408: Outcome.RETRY,
    409: Outcome.RETRY,
    429: Outcome.THROTTLED,
}

# docs/azure-facts.md 8 (SpotLake production): "The value '<region>' provided for the input parameter
# 'desiredLocations' is not valid" / "... 'SpotPlacementRecommenderInput.desiredSizes' is not valid".
_INVALID_VALUE_RE = re.compile(r"The value '([^']+)' provided for the input parameter '([^']+)' is not valid")
# docs/azure-facts.md 1.7: NoRegisteredProviderFound "... The supported locations are 'eastus, westus'."
_SUPPORTED_LOCATIONS_RE = re.compile(r"supported locations are '([^']*)'", re.IGNORECASE)
# docs/azure-facts.md 1.6: the SPS per-bucket quota answer (plain text, sometimes not even with a 429).
QUOTA_TEXT = "You have reached the maximum number of requests allowed"
# ARM's code for an endpoint {location} the provider does not serve (Microsoft Learn, "Resolve errors for
# resource provider registration", https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/
# error-register-resource-provider; the SPS endpoint list is parsed from it in ddps-lab/spotlake
# collector/spot-dataset/azure/batch/sps_module/sps_location_manager.py, read 2026-12-02): about the quota
# bucket the call was sent to, not about the call, so the call is retried on another bucket.
NO_PROVIDER_CODE = "NoRegisteredProviderFound"


@dataclass(frozen=True)
class Answer:
    """One classified answer. ``message`` is ``code: message`` of an ARM error body or the short plain text
    (bodies can echo input: callers put only ``code`` into exception texts)."""

    kind: Outcome
    status: int
    message: str = ""
    code: str = ""
    invalid_regions: tuple[str, ...] = field(default=())
    invalid_sizes: tuple[str, ...] = field(default=())

    @property
    def retriable(self) -> bool:
        return self.kind in RETRIABLE


def outcome_for_status(status: int) -> Outcome:
    """The outcome a status gives on its own (a 400 without a body to read is ``BAD_REQUEST``)."""
    if status in STATUS_OUTCOMES:
        return STATUS_OUTCOMES[status]
    if 200 <= status < 300:
        return Outcome.OK
    if status >= 500:
        return Outcome.RETRY
    return Outcome.BAD_REQUEST if status == 400 else Outcome.FAIL


def classify(status: int, body: str) -> Answer:
    """The outcome of an answer with this status and body text (see the module table)."""
    if 200 <= status < 300:
        return Answer(Outcome.OK, status)
    fields = arm_error_fields(body)
    code = fields[0] if fields is not None else ""
    message = error_message(body)
    if status == 429 or QUOTA_TEXT in body:
        return Answer(Outcome.THROTTLED, status, message, code)
    if status == 400:
        regions, sizes = invalid_values(body)
        if regions or sizes:
            return Answer(Outcome.INVALID, status, message, code, regions, sizes)
        if code == NO_PROVIDER_CODE or supported_locations(body):
            return Answer(Outcome.RETRY, status, message, code)
    return Answer(outcome_for_status(status), status, message, code)


def arm_error_fields(text: str) -> tuple[str, str] | None:
    """(code, message) of an ARM/Retail Prices error body ``{"error": {"code": ..., "message": ...}}`` (also
    ``Error``/``Code``/``Message``), decoded by the JSON parser (so ``\\u0027`` is a quote again); None when
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


def error_message(text: str) -> str:
    """``code: message`` of an ARM error body, or the (short) plain text itself (the SPS 429 and some
    gateway errors are plain text)."""
    fields = arm_error_fields(text)
    if fields is not None:
        return f"{fields[0]}: {fields[1]}".strip(": ")[:500]
    return text.strip()[:500]


def _unescaped(text: str) -> str:
    """Raw text with JSON string escapes of quotes undone (``\\u0027``, ``\\"``), for a body that is not
    valid JSON (truncated) but still carries the wording."""
    return text.replace("\\u0027", "'").replace("\\u0022", '"').replace('\\"', '"')


def invalid_values(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(regions, sizes) named invalid in a 400 body (docs/azure-facts.md 8 wording), read from the JSON body's
    ``error.message`` first (decoded: a body may escape the quotes as ``\\u0027``), the raw text second."""
    fields = arm_error_fields(text)
    found = _INVALID_VALUE_RE.findall(fields[1]) if fields is not None else []
    if not found:
        found = _INVALID_VALUE_RE.findall(_unescaped(text))
    regions: list[str] = []
    sizes: list[str] = []
    for value, parameter in found:
        if parameter.lower().endswith("desiredlocations"):
            regions.append(value)
        elif parameter.lower().endswith("desiredsizes"):
            sizes.append(value)
    return tuple(dict.fromkeys(regions)), tuple(dict.fromkeys(sizes))


def supported_locations(text: str) -> list[str]:
    """Endpoint locations listed in a NoRegisteredProviderFound 400 (sorted, lower case, unique).

    Sample text: ``No registered resource provider found for location 'x' and API version '2025-06-05' for
    type 'locations/placementScores'. The supported api-versions are '2025-06-05'. The supported locations
    are 'eastus, westus, ...'.``
    """
    match = _SUPPORTED_LOCATIONS_RE.search(text)
    if match is None:
        return []
    return sorted({loc.strip().lower().replace(" ", "") for loc in match.group(1).split(",") if loc.strip()})
