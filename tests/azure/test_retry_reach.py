"""Each page is retried alone, and the entry point's retry policy (SPOTLAKE_RETRY_*) reaches every Azure call:
the SKU listing of the SPS workload and the SPS endpoint-location discovery included. Real SDK clients and
real HTTP against the emulator; the emulator's request counters are the evidence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from emulator.testing import RunningEmulator, running_emulator
from sps.load_sps import collect_slot
from sps_module.sps_location_manager import endpoint_locations
from sps_module.sps_shared_resources import SpsState
from tests.price.helpers import EDGE_CATALOG, fast_policy
from utils.azure_api.auth import load_azure_auth
from utils.azure_api.retry import RetryPolicy
from utils.azure_api.skus import list_vm_skus
from utils.emulator_mode import with_emulator_url
from utils.errors import RunFailed
from utils.settings import Settings, load_settings
from utils.store import open_store
from utils.timestamps import parse_slot


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    """The edge catalog, 2 records per page: the SKU listing has several pages. ``_settings`` resets it."""
    with running_emulator(catalog=EDGE_CATALOG, page_size=2) as emulator:
        yield emulator


def _settings(tmp_path: Path, emu: RunningEmulator, **env: str) -> Settings:
    """Settings for a test against a fresh ``emu`` (counters, faults and clock reset), with fast backoff."""
    emu.reset()
    emu.set_faults(None)
    return with_emulator_url(load_settings({"SPOTLAKE_STORE": str(tmp_path), "SPOTLAKE_AZURE_EMULATOR": "1",
                                            "SPOTLAKE_RETRY_BASE_DELAY": "0.01", "SPOTLAKE_RETRY_MAX_DELAY": "0.02",
                                            **env}), emu.url)


@pytest.mark.parametrize("kind", ["empty", "malformed", "500"])
def test_a_bad_sku_page_is_fetched_again_alone_not_the_whole_listing(kind: str, emu: RunningEmulator,
                                                                     tmp_path: Path) -> None:
    auth = load_azure_auth(_settings(tmp_path, emu))
    clean = list_vm_skus(auth, auth.subscription_ids[0], timeout=5, retry_policy=fast_policy())
    clean_calls = emu.stats()["skus"]["calls"]
    assert clean_calls >= 3  # page 3 is in the middle of the listing

    emu.reset()
    emu.set_faults(f"skus:{kind}@calls=3")
    again = list_vm_skus(auth, auth.subscription_ids[0], timeout=5, retry_policy=fast_policy())
    pd.testing.assert_frame_equal(again, clean)
    assert emu.stats()["skus"]["calls"] == clean_calls + 1  # only page 3 was asked twice


def test_spotlake_retry_max_attempts_bounds_the_sps_workload_sku_listing(emu: RunningEmulator,
                                                                          tmp_path: Path) -> None:
    # Through the SPS collector's own entry (collect_slot builds its policies from the settings): the
    # first slot of a day rebuilds the workload, whose SKU listing then fails after exactly 2 attempts.
    settings = _settings(tmp_path, emu, SPOTLAKE_RETRY_MAX_ATTEMPTS="2")
    auth = load_azure_auth(settings)
    emu.set_faults("skus:500")
    with requests.Session() as session, pytest.raises(RunFailed, match="Resource SKUs page 1: gave up after 2"):
        collect_slot(settings, parse_slot("2025-12-13 00:00"), store=open_store(settings), session=session,
                     auth=auth, clock=lambda: 1_765_584_000.0)
    assert emu.stats()["skus"]["calls"] == 2


@pytest.mark.parametrize("attempts", [1, 3])
def test_the_endpoint_location_discovery_takes_the_policy_it_is_given(attempts: int, emu: RunningEmulator,
                                                                      tmp_path: Path) -> None:
    settings = _settings(tmp_path, emu, SPOTLAKE_RETRY_MAX_ATTEMPTS=str(attempts))
    auth = load_azure_auth(settings)
    state = SpsState(open_store(settings))
    emu.set_faults("sps:500")
    with requests.Session() as session:
        found = endpoint_locations(state, state.available_locations(), session, auth, today="2025-12-13",
                                   timeout=5, fallback=["westus", "eastus"], policy=RetryPolicy.from_settings(settings))
    assert found == ["eastus", "westus"]  # discovery failed: the workload regions stand in
    assert emu.stats()["sps"]["calls"] == attempts

    emu.reset()
    emu.set_faults(None)
    with requests.Session() as session:
        found = endpoint_locations(state, state.available_locations(), session, auth, today="2025-12-13",
                                   timeout=5, fallback=[], policy=RetryPolicy.from_settings(settings))
    assert len(found) > 2  # the list ARM names in its NoRegisteredProviderFound answer, stored for the day
    assert state.available_locations().locations == found
