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

from sps_module.sps_shared_resources import LocationsState, SpsState
from utils.azure_api.retry import RetryPolicy
from utils.azure_api.sps import discover_endpoint_locations
from utils.errors import RunFailed

log = logging.getLogger(__name__)


def endpoint_locations(state: SpsState, stored: LocationsState | None, session: requests.Session, auth: Any, *,
                       today: str, timeout: float, fallback: list[str], policy: RetryPolicy) -> list[str]:
    """Today's endpoint locations: ``stored`` (read with the slot's snapshot) if discovered today, else
    discovered (and stored in ``state``), else the stored list, else the fallbacks."""
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
