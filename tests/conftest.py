"""Shared fixtures: a moto server on 127.0.0.1, AWS test credentials, and settings builders.

Tests never reach the internet: AWS clients point at moto (in-process server) and Azure clients at the
bundled emulator.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT / "tests" / "data"  # real Azure catalogs (see tests/data/README.md)

# Fake credentials for moto; set before any boto3 client is built. Never real ones.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-west-2")
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server (all services) on 127.0.0.1; yields its base URL. State is shared: reset it per test
    with the ``moto_endpoint`` fixture."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_endpoint(moto_server: str) -> str:
    """The moto server URL, with all state reset before the test."""
    import requests

    requests.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    return moto_server


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """An environment for a local run in a temp store (emulator mode, SQLite sink, file metrics)."""
    return {
        "SPOTLAKE_STORE": str(tmp_path / "store"),
        "SPS_KEY_FILE": str(tmp_path / "sps_key.txt"),
        "SPOTLAKE_AZURE_EMULATOR": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
    }


@pytest.fixture
def us_catalog_path() -> Path:
    path = SHARED_DATA / "azure_us_catalog_v5.csv"
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path


@pytest.fixture(scope="session")
def sqlite_real_run(tmp_path_factory: pytest.TempPathFactory):
    """Two real slots through run_collection.sh with the SQLite sink (query and report tests share them)."""
    from tests.query.runs import multi_slot_run

    return multi_slot_run(tmp_path_factory.mktemp("usedata-sqlite"), "sqlite")


def pytest_configure(config: pytest.Config) -> None:
    # Without pytest-xdist (``-p no:xdist``, ``-n 0`` still loads it) nothing registers the ``xdist_group``
    # mark, and ``--strict-markers`` (pyproject) would refuse every grouped module; with xdist loaded it
    # registers the mark itself, so this does nothing then.
    if not config.pluginmanager.hasplugin("xdist"):
        config.addinivalue_line("markers", "xdist_group(name): run the tests of a group on one xdist worker")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a worker whose ``xdist_group`` marks are not honoured: pytest-xdist tags each grouped item's node
    id with ``@group`` for ``--dist loadgroup``, and when a pytest release stops taking that tag (pytest 9 did)
    the groups spread over every worker, which then rebuild the groups' session fixtures: slower, silently."""
    if not config.getoption("loadgroup", default=False):
        return
    untagged = [item.nodeid for item in items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if untagged:
        message = (f"--dist loadgroup: {len(untagged)} items of an xdist_group are not tagged with it (first: "
                   f"{untagged[0]}); this pytest and pytest-xdist do not work together, see requirements-dev.txt")
        sys.__stderr__.write(f"error: {message}\n")  # a worker's UsageError reaches the terminal only as a crash
        raise pytest.UsageError(message)
