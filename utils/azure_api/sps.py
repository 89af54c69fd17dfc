"""Spot Placement Score API client: pure request builders, response parsers and error classifiers, plus
the one function that does the HTTP POST.

Plain ``requests``, not ``azure-mgmt-computerecommender``: that SDK is beta only, and its generated error
parser crashed on the SPS 429 whose body is plain text (azure-powershell #28765; reference docs/azure-facts.md 1.6,
1.8). azure-core's retry policy would also sleep a 429's ``Retry-After: 3600`` in full (docs/azure-facts.md 5.3).

    POST {arm}/subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/placementScores/spot/generate
         ?api-version=2025-06-05
    {"desiredLocations": ["eastus"], "desiredSizes": [{"sku": "Standard_D2s_v3"}], "desiredCount": 1,
     "availabilityZones": true}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import requests

from utils.azure_api.arm_names import split_arm_sku_name
from utils.azure_api.http import arm_error_fields
from utils.constants import ROW_KEY_COLUMNS, SPS_COLUMNS

API_VERSION = "2025-06-05"
SCORE_TO_NUMBER: dict[str, float] = {"High": 3.0, "Medium": 2.0, "Low": 1.0}
REGIONAL_ZONE = "Single"  # a score item without availabilityZone is a regional score (docs/contract.md 6)
# A location no ARM provider registers: the 400 it earns lists the supported endpoint locations (docs/azure-facts.md 8).
DISCOVERY_LOCATION = "spotlake-invalid-location"

# docs/azure-facts.md 8 (SpotLake production): "The value '<region>' provided for the input parameter
# 'desiredLocations' is not valid" / "... 'SpotPlacementRecommenderInput.desiredSizes' is not valid".
_INVALID_VALUE_RE = re.compile(r"The value '([^']+)' provided for the input parameter '([^']+)' is not valid")
# docs/azure-facts.md 1.7: NoRegisteredProviderFound "... The supported locations are 'eastus, westus'."
_SUPPORTED_LOCATIONS_RE = re.compile(r"supported locations are '([^']*)'", re.IGNORECASE)
QUOTA_TEXT = "You have reached the maximum number of requests allowed"
# ARM's code for an endpoint {location} the provider does not serve (Microsoft Learn, "Resolve errors for
# resource provider registration", https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/
# error-register-resource-provider; the SPS endpoint list is parsed from it in ddps-lab/spotlake
# collector/spot-dataset/azure/batch/sps_module/sps_location_manager.py, read 2026-12-02): about the quota
# bucket the call was sent to, not about the call, so the call is retried on another bucket.
NO_PROVIDER_CODE = "NoRegisteredProviderFound"


class MalformedResponse(ValueError):
    """A 200 whose body is not the documented JSON shape (truncated, not JSON, wrong fields)."""


def placement_scores_url(arm_endpoint: str, subscription: str, location: str) -> str:
    return (f"{arm_endpoint.rstrip('/')}/subscriptions/{quote(subscription, safe='')}/providers/Microsoft.Compute"
            f"/locations/{quote(location, safe='')}/placementScores/spot/generate?api-version={API_VERSION}")


def build_request_body(regions: tuple[str, ...] | list[str], sizes: tuple[str, ...] | list[str],
                       desired_count: int) -> dict[str, Any]:
    """The ``SpotPlacementScoresInput`` for one call (docs/azure-facts.md 1.2); zonal scores always requested."""
    return {
        "desiredLocations": list(regions),
        "desiredSizes": [{"sku": size} for size in sizes],
        "desiredCount": int(desired_count),
        "availabilityZones": True,
    }


def post_placement_scores(session: requests.Session, url: str, token: str, body: dict[str, Any],
                          timeout: float) -> requests.Response:
    """One POST; exceptions of ``requests`` propagate (the caller's retry policy decides)."""
    return session.post(url, json=body, timeout=timeout,
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})


def parse_score_items(payload: Any) -> list[dict[str, Any]]:
    """The ``placementScores`` items of a 200 answer (docs/azure-facts.md 1.3).

    Sample::

        {"desiredLocations": ["eastus"], ..., "placementScores": [
            {"sku": "Standard_D2_v2", "region": "eastus", "availabilityZone": "1", "score": "High",
             "isQuotaAvailable": true}]}

    Raises:
        MalformedResponse: not an object with a list of items carrying ``sku``, ``region`` and ``score``.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("placementScores"), list):
        raise MalformedResponse("answer has no placementScores list")
    items = payload["placementScores"]
    for item in items:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("sku", "region", "score")):
            raise MalformedResponse(f"placement score item lacks sku/region/score: {str(item)[:200]}")
    return items


def parse_response_json(response: requests.Response) -> list[dict[str, Any]]:
    """Items of a 200 response; MalformedResponse for a body that is not JSON (truncated, garbage)."""
    try:
        payload = response.json()
    except ValueError as exc:
        raise MalformedResponse(f"answer is not JSON ({type(exc).__name__})") from None
    return parse_score_items(payload)


def region_key(name: str) -> str:
    """The casing- and space-free key a region is matched on: ``"East US"``, ``"EASTUS"`` -> ``"eastus"``."""
    return str(name).lower().replace(" ", "")


@dataclass(frozen=True)
class CallAnswer:
    """The items of one call's 200 answer matched to what the call asked (``match_answer``).

    ``items`` carry the asked names (the asked region code and ARM size name, in the asked casing);
    ``ignored`` counts items for a (region, size) the call did not ask (an unasked pair, or a region name
    that matches no asked region); ``pairs_unanswered`` counts asked pairs without any item.
    """

    items: list[dict[str, Any]]
    ignored: int
    pairs_unanswered: int


def match_answer(items: list[dict[str, Any]], regions: list[str] | tuple[str, ...],
                 sizes: list[str] | tuple[str, ...]) -> CallAnswer:
    """Keep the answer items of pairs the call asked, matched case-insensitively (issue 14.8, 14.10).

    ARM names are case-insensitive and the answer may spell them otherwise than the request
    (``STANDARD_D2S_V3`` for ``Standard_D2s_v3``); a score for a pair the call did not ask (even one in
    today's workload) is not an answer to this call and is ignored, so it cannot override the real score.
    """
    asked_regions = {region_key(r): r for r in regions}
    asked_sizes = {str(s).lower(): s for s in sizes}
    kept: list[dict[str, Any]] = []
    answered: set[tuple[str, str]] = set()
    for item in items:
        region = asked_regions.get(region_key(item["region"]))
        size = asked_sizes.get(str(item["sku"]).lower())
        if region is None or size is None:
            continue
        kept.append({**item, "region": region, "sku": size})
        answered.add((region, size))
    return CallAnswer(kept, len(items) - len(kept), len(asked_regions) * len(asked_sizes) - len(answered))


def score_frame(items: list[dict[str, Any]], desired_count: int, slot: datetime) -> tuple[pd.DataFrame, int]:
    """Score items -> (the raw SPS frame, number of conflicting duplicates); see ``normalise_scores``.

    A conflicting duplicate is a second item for the same (tier, type, region, zone) with another score
    label (two calls that both covered the pair and were answered differently); the first item is kept.
    """
    if not items:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in SPS_COLUMNS})
        frame["DesiredCount"] = frame["DesiredCount"].astype("int64")
        frame["Score"] = frame["Score"].astype(float)
        frame["Time"] = pd.Series(dtype="datetime64[ns, UTC]")
        return frame, 0
    raw = pd.DataFrame.from_records(items)
    tier, size = split_arm_sku_name(raw["sku"].astype(str))
    zone = raw["availabilityZone"] if "availabilityZone" in raw.columns else pd.Series(np.nan, index=raw.index)
    zone = zone.where(zone.notna() & (zone.astype(str) != ""), REGIONAL_ZONE).astype(str)
    label = raw["score"].astype(str)
    frame = pd.DataFrame({
        "InstanceTier": tier,
        "InstanceType": size,
        "Region": raw["region"].astype(str).str.lower(),
        "AvailabilityZone": zone,
        "DesiredCount": np.full(len(raw), int(desired_count), dtype="int64"),
        "Score": label.map(SCORE_TO_NUMBER).astype(float),
        "ScoreLabel": label,
        "Time": slot_timestamp(slot),
    })
    # Row keys compare case-insensitively (ARM names): "D2S_V3" and "D2s_v3" are one row, the first spelling kept.
    key = (frame["InstanceTier"].str.lower() + "|" + frame["InstanceType"].str.lower() + "|" + frame["Region"]
           + "|" + frame["AvailabilityZone"].str.lower())
    distinct = pd.DataFrame({"key": key, "label": label}).drop_duplicates()
    conflicts = int(distinct.duplicated("key").sum())
    frame = frame[~key.duplicated(keep="first")]
    return frame.sort_values(ROW_KEY_COLUMNS, kind="stable").reset_index(drop=True)[SPS_COLUMNS], conflicts


def normalise_scores(items: list[dict[str, Any]], desired_count: int, slot: datetime) -> pd.DataFrame:
    """Score items -> the raw SPS frame (docs/contract.md 6): one row per (tier, type, region, zone), ``SPS_COLUMNS``.

    ``Standard_NC24ads_A100_v4`` -> tier ``Standard``, type ``NC24ads_A100_v4`` (casing kept; the tier is
    recognised whatever its casing, ``utils.azure_api.arm_names``); High/Medium/Low -> 3/2/1, any other label -> NaN
    with the label kept in ``ScoreLabel``; no zone -> ``Single``; duplicates (same row key, compared
    case-insensitively) dropped, first kept. Sorted by the row key.
    """
    return score_frame(items, desired_count, slot)[0]


def slot_timestamp(slot: datetime) -> pd.Timestamp:
    """The slot as a tz-aware UTC pandas Timestamp (the ``Time`` column)."""
    stamp = pd.Timestamp(slot)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@dataclass(frozen=True)
class ErrorAnswer:
    """What a non-200 answer means for the caller.

    kind: ``quota`` (429: move the call to another bucket, never sleep Retry-After), ``invalid`` (400
    naming invalid regions/sizes: drop them and retry), ``auth`` (401: refresh the token once),
    ``unreadable`` (a 400 that names nothing we can drop: retried once, in case it was a gateway's
    transient ``InvalidParameter``, then that call's pairs are given up, not the sweep),
    ``retriable`` (5xx, 408/409, a 400 ``NoRegisteredProviderFound`` about the endpoint location: back off
    and retry on another bucket), ``fatal`` (403 and other 4xx).
    """

    kind: str
    status: int
    message: str
    invalid_regions: tuple[str, ...] = field(default=())
    invalid_sizes: tuple[str, ...] = field(default=())


def _unescaped(text: str) -> str:
    """Raw text with JSON string escapes of quotes undone (``\u0027``, ``\"``), for a body that is not
    valid JSON (truncated) but still carries the wording."""
    return text.replace("\\u0027", "'").replace("\\u0022", '"').replace('\\"', '"')


def invalid_values(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(regions, sizes) named invalid in a 400 body (docs/azure-facts.md 8 wording), read from the JSON body's
    ``error.message`` first (decoded: a body may escape the quotes as ``\u0027``), the raw text second."""
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


def error_message(text: str) -> str:
    """``code: message`` of an ARM error body, or the (short) plain text itself (the SPS 429 and some
    gateway errors are plain text)."""
    fields = arm_error_fields(text)
    if fields is not None:
        return f"{fields[0]}: {fields[1]}".strip(": ")[:500]
    return text.strip()[:500]


def classify_error(status: int, text: str) -> ErrorAnswer:
    """Map a non-200 SPS answer to what the caller should do (see ``ErrorAnswer``)."""
    message = error_message(text)
    if status == 429 or QUOTA_TEXT in text:
        return ErrorAnswer("quota", status, message)
    if status == 401:
        return ErrorAnswer("auth", status, message)
    if status == 400:
        regions, sizes = invalid_values(text)
        if regions or sizes:
            return ErrorAnswer("invalid", status, message, regions, sizes)
        fields = arm_error_fields(text)
        if (fields is not None and fields[0] == NO_PROVIDER_CODE) or supported_locations(text):
            return ErrorAnswer("retriable", status, message)
        return ErrorAnswer("unreadable", status, message)
    if status in (408, 409) or status >= 500:
        return ErrorAnswer("retriable", status, message)
    return ErrorAnswer("fatal", status, message)


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
