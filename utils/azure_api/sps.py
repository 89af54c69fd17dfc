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

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import requests

from utils.azure_api.arm_names import split_arm_sku_name
from utils.azure_api.classify import Outcome, classify, supported_locations
from utils.azure_api.http import fetch
from utils.azure_api.retry import RetryPolicy
from utils.constants import ROW_KEY_COLUMNS, SPS_COLUMNS
from utils.errors import RetriableError

API_VERSION = "2025-06-05"
SCORE_TO_NUMBER: dict[str, float] = {"High": 3.0, "Medium": 2.0, "Low": 1.0}
REGIONAL_ZONE = "Single"  # a score item without availabilityZone is a regional score (docs/contract.md 6)
# A location no ARM provider registers: the 400 it earns lists the supported endpoint locations (docs/azure-facts.md 8).
DISCOVERY_LOCATION = "spotlake-invalid-location"

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


def discover_endpoint_locations(session: requests.Session, auth: Any, subscription: str, *, timeout: float,
                                policy: RetryPolicy) -> list[str]:
    """Endpoint locations listed by ARM for a deliberately invalid location ([] when the answer lists none).

    A 401 refreshes the token and is retried; a 429 or a transient fault is retried under ``policy`` (the
    entry point's, from SPOTLAKE_RETRY_*), but an SPS 429's Retry-After (3600 s) is never slept: the caller
    falls back to the stored list instead.

    Raises:
        RunFailed: the discovery call kept failing (connection errors, 5xx) past its retries.
    """
    url = placement_scores_url(auth.arm_endpoint, subscription, DISCOVERY_LOCATION)
    body = build_request_body(["eastus"], ["Standard_D2s_v3"], 1)
    describe = "SPS endpoint location discovery"

    def attempt() -> list[str]:
        response = post_placement_scores(session, url, auth.bearer_token(), body, timeout)
        answer = classify(response.status_code, response.text)
        if answer.kind is Outcome.AUTH:
            auth.invalidate_token()
            raise RetriableError(f"{describe}: HTTP 401 (token refreshed)", status=401)
        if answer.kind is Outcome.THROTTLED or (answer.retriable and response.status_code >= 500):
            raise RetriableError(f"{describe}: HTTP {response.status_code}", status=response.status_code)
        return supported_locations(response.text)

    return fetch(policy, describe, attempt)
