"""Fixtures for emulator tests: a tiny catalog CSV, a running emulator on it, tokens and SDK clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.pipeline.policies import SansIOHTTPPolicy

from emulator.testing import RunningEmulator, running_emulator

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"

TINY_CATALOG = """Region,InstanceType,OndemandPrice,SpotPrice,EvictionRate,Zones,Restricted
eastus,Standard_D2s_v3,0.096,0.0192,0-5,"1,2,3",
eastus,Standard_D4s_v3,0.192,0.0384,5-10,"1,2,3",Zone:3
eastus,Basic_A1,0.024,,,"1,2,3",
eastus,Standard_A1,0.06,0.012,20+,"1,2,3",
eastus,Standard_NC24ads_A100_v4,3.673,0.7346,10-15,"1,2,3",
eastus,Standard_E2s_v3,0,0.02,15-20,"1,2,3",
eastus,Standard_F2s_v2,,0.017,0-5,"1,2,3",
eastus,Standard_B2s,0.0416,,,"1,2,3",Location
westus,Standard_D2s_v3,0.1,0.02,0-5,,
westus,Standard_E2s_v3,0.126,0.025,,,
westus,Standard_L8s_v3,,,,,
westeurope,Standard_D2s_v3,0.11,0.022,5-10,"1,2,3",
westeurope,Standard_D4s_v3,0.22,0.044,0-5,"1,2,3",Location
usgovvirginia,Standard_D2s_v3,0.12,0.03,0-5,"1,2,3",
"""


@pytest.fixture(scope="session")
def tiny_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("catalog") / "tiny.csv"
    path.write_text(TINY_CATALOG)
    return path


@pytest.fixture
def emu(tiny_catalog: Path) -> Iterator[RunningEmulator]:
    with running_emulator(catalog=tiny_catalog, page_size=4) as running:
        yield running


def fetch_token(url: str, secret: str = "s3cret") -> str:
    response = requests.post(f"{url}/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": "app-1", "client_secret": secret,
        "scope": "https://management.azure.com/.default"}, timeout=5)
    response.raise_for_status()
    return response.json()["access_token"]


@pytest.fixture
def token(emu: RunningEmulator) -> str:
    return fetch_token(emu.url)


class BearerFromEmulator(SansIOHTTPPolicy):
    """Sets the Authorization header from an emulator token (docs/azure-facts.md 5.3: BearerTokenCredentialPolicy
    refuses http:// URLs)."""

    def __init__(self, access_token: str) -> None:
        self._token = access_token

    def on_request(self, request) -> None:  # type: ignore[no-untyped-def]
        request.http_request.headers["Authorization"] = f"Bearer {self._token}"


class UnusedCredential:
    """The clients require a credential object; the policy above supplies the header instead."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        raise AssertionError("the authentication policy should be used instead")
