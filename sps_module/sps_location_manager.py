"""Endpoint locations of the SPS API: each ``{location}`` in the URL is its own quota bucket (docs/azure-facts.md 8).

SpotLake's trick (docs/azure-facts.md 8): call ``.../locations/<an invalid location>/placementScores/spot/generate``;
ARM answers 400 ``NoRegisteredProviderFound`` whose text lists ``The supported locations are 'a, b, ...'``.
The list is refreshed once per UTC day and stored (``available_locations.json``); a discovery that finds no
list falls back to the stored list, then to the workload's regions (every public region is also an
endpoint location today).
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from sps_module.sps_shared_resources import SpsState
from utils.azure_api.http import RetryPolicy
from utils.azure_api.sps import (
    DISCOVERY_LOCATION,
    build_request_body,
    placement_scores_url,
    post_placement_scores,
    supported_locations,
)
from utils.errors import RetriableError, RunFailed

log = logging.getLogger(__name__)


def discover_endpoint_locations(session: requests.Session, auth: Any, subscription: str, *, timeout: float,
                                policy: RetryPolicy | None = None) -> list[str]:
    """Endpoint locations listed by ARM for a deliberately invalid location ([] when the answer lists none).

    Raises:
        RunFailed: the discovery call kept failing (connection errors, 5xx) past its retries.
    """
    url = placement_scores_url(auth.arm_endpoint, subscription, DISCOVERY_LOCATION)
    body = build_request_body(["eastus"], ["Standard_D2s_v3"], 1)

    def attempt() -> list[str]:
        try:
            response = post_placement_scores(session, url, auth.bearer_token(), body, timeout)
        except requests.RequestException as exc:
            raise RetriableError(f"endpoint location discovery: {type(exc).__name__}") from None
        if response.status_code == 401:
            auth.invalidate_token()
            raise RetriableError("endpoint location discovery: HTTP 401 (token refreshed)", status=401)
        if response.status_code == 429 or response.status_code >= 500:
            # Never sleep an SPS 429's Retry-After (3600 s): a short backoff, then the stored list.
            raise RetriableError(f"endpoint location discovery: HTTP {response.status_code}",
                                 status=response.status_code)
        return supported_locations(response.text)

    return (policy or RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=4.0, max_retry_after=4.0)).call(
        attempt, describe="SPS endpoint location discovery")


def endpoint_locations(state: SpsState, session: requests.Session, auth: Any, *, today: str, timeout: float,
                       fallback: list[str], policy: RetryPolicy | None = None) -> list[str]:
    """Today's endpoint locations: stored if discovered today, else discovered (and stored), else fallbacks."""
    stored = state.available_locations()
    if stored is not None and stored.date == today:
        return stored.locations
    try:
        found = discover_endpoint_locations(session, auth, auth.subscription_ids[0], timeout=timeout, policy=policy)
    except RunFailed as exc:
        # The sweep can still run on the last known list or the workload regions (fewer buckets at worst).
        log.warning("endpoint location discovery failed (%s)", exc)
        found = []
    if found:
        state.save_available_locations(today, found)
        log.info("SPS endpoint locations discovered: %d", len(found))
        return found
    if stored is not None:
        log.warning("endpoint location discovery gave no list; using the stored list of %s (%d locations)",
                    stored.date, len(stored.locations))
        return stored.locations
    log.warning("endpoint location discovery gave no list; using the %d workload regions", len(fallback))
    return sorted(set(fallback))
