"""Fault injection observable by clients, the admin control plane, and the CLI entry point."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.faults import FaultSpecError, parse_fault_spec
from emulator.testing import RunningEmulator, running_emulator
from tests.emulator.conftest import SUBSCRIPTION, TENANT, fetch_token

REPO = Path(__file__).resolve().parents[2]


def prices(emu: RunningEmulator, **kwargs: object) -> requests.Response:
    return requests.get(f"{emu.url}/api/retail/prices", timeout=kwargs.pop("timeout", 5), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("api", "status", "check"), [
    ("prices", 429, lambda r: r.headers["x-ms-ratelimit-retailPrices-retry-after"] == "7"),
    ("prices", 500, lambda r: r.json()["Error"]["Code"] == "InternalServerError"),
    ("prices", 502, lambda r: r.status_code == 502),
    ("prices", 503, lambda r: r.status_code == 503),
])
def test_status_faults_hit_exactly_the_selected_calls(emu: RunningEmulator, api: str, status: int,
                                                      check: object) -> None:
    emu.set_faults(f"{api}:{status}{'(7)' if status == 429 else ''}@calls=2")
    codes = [prices(emu) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, status, 200]
    assert check(codes[1])  # type: ignore[operator]
    assert emu.stats()["prices"]["status"][str(status)] == 1


def test_sps_429_fault_uses_the_plain_text_body(emu: RunningEmulator) -> None:
    emu.set_faults("sps:429@calls=1")
    token = fetch_token(emu.url)
    url = (f"{emu.url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/locations/eastus/placementScores"
           "/spot/generate?api-version=2025-06-05")
    response = requests.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=5, json={
        "desiredLocations": ["eastus"], "desiredSizes": [{"sku": "Standard_D2s_v3"}], "desiredCount": 1})
    assert response.status_code == 429 and response.text.startswith("You have reached the maximum number")


def test_reset_fault_drops_the_connection_without_a_response(emu: RunningEmulator) -> None:
    emu.set_faults("prices:reset@calls=1")
    with pytest.raises(requests.ConnectionError):
        prices(emu)
    assert prices(emu).status_code == 200
    assert emu.stats()["prices"]["status"] == {"reset": 1, "200": 1}


def test_slow_fault_outlasts_a_client_timeout(emu: RunningEmulator) -> None:
    emu.set_faults("prices:slow(3)@calls=1")
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        prices(emu, timeout=0.3)
    # Wide margin: on a loaded 2-core machine the 0.3 s timeout can take well over a second to fire; what
    # matters is that the client gave up before the 3 s answer.
    assert time.monotonic() - started < 2.7


@pytest.mark.parametrize("kind", ["truncated", "malformed"])
def test_body_faults_give_invalid_json(emu: RunningEmulator, kind: str) -> None:
    emu.set_faults(f"prices:{kind}@calls=1")
    response = prices(emu)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_empty_page_fault_keeps_the_next_link_so_nothing_is_lost(emu: RunningEmulator) -> None:
    emu.set_faults("prices:empty@calls=2")
    first = prices(emu).json()
    empty = requests.get(first["NextPageLink"], timeout=5).json()
    assert empty["Items"] == [] and empty["Count"] == 0
    assert empty["NextPageLink"] == first["NextPageLink"]
    assert requests.get(empty["NextPageLink"], timeout=5).json()["Count"] == 4


def test_empty_page_fault_on_resource_graph_keeps_the_skip_token(emu: RunningEmulator) -> None:
    emu.set_faults("resource_graph:empty@calls=1")
    token = fetch_token(emu.url)
    response = requests.post(f"{emu.url}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01",
                             headers={"Authorization": f"Bearer {token}"}, json={"query": "SpotResources"},
                             timeout=5).json()
    assert response["data"] == [] and response["count"] == 0 and response["$skipToken"]


def test_rate_selector_is_deterministic_and_roughly_proportional() -> None:
    from emulator.faults import FaultPlan
    hits = []
    for _ in range(2):
        plan = FaultPlan("skus:500@rate=0.2", seed=5)
        hits.append([plan.next_call("skus") is not None for _ in range(1000)])
    assert hits[0] == hits[1] and 150 < sum(hits[0]) < 250


@settings(max_examples=60, deadline=None)
@given(st.permutations([(call, attempt) for call in range(6) for attempt in range(4)]))
def test_rate_draws_of_a_call_and_its_retries_do_not_depend_on_the_order_of_concurrent_calls(order) -> None:
    from emulator.faults import FaultPlan

    def draws(sequence: list[tuple[int, int]]) -> dict[int, list[bool]]:
        plan = FaultPlan("sps:500@rate=0.5", seed=3)
        seen: dict[int, list[bool]] = {}
        for call, _ in sequence:  # the attempt number is implied by how often that call was seen
            seen.setdefault(call, []).append(plan.next_call("sps", f"body-of-call-{call}") is not None)
        return seen

    in_order = sorted(order)
    assert draws(list(order)) == draws(in_order)


def test_a_rate_fault_on_sps_draws_per_request_body_not_per_endpoint_location(emu: RunningEmulator) -> None:
    """A retry goes to another (subscription, location) quota bucket: the draw follows the body."""
    token = fetch_token(emu.url)
    body = {"desiredLocations": ["eastus"], "desiredSizes": [{"sku": "Standard_D2s_v3"}], "desiredCount": 1}

    def statuses(locations: list[str]) -> list[int]:
        emu.set_faults("sps:500@rate=0.5")
        return [requests.post(f"{emu.url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/locations/"
                              f"{loc}/placementScores/spot/generate?api-version=2025-06-05",
                              headers={"Authorization": f"Bearer {token}"}, json=body, timeout=5).status_code
                for loc in locations]

    first = statuses(["eastus"] * 8)
    assert statuses(["westus", "eastus"] * 4) == first
    assert set(first) == {200, 500}, "seeded draws at rate 0.5 over 8 attempts hit some and miss some"


@pytest.mark.parametrize("spec", ["sps:teapot", "nosuchapi:500", "sps:empty", "prices:500@calls=0",
                                  "prices:500@rate=2", "prices:reset(3)", "prices:500@when=now"])
def test_bad_fault_specs_are_refused(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        parse_fault_spec(spec)


def test_token_faults_apply_to_the_token_endpoint(emu: RunningEmulator) -> None:
    emu.set_faults("token:503@calls=1")
    response = requests.post(f"{emu.url}/{TENANT}/oauth2/v2.0/token", data={"grant_type": "client_credentials"},
                             timeout=5)
    assert response.status_code == 503 and response.json()["error"] == "temporarily_unavailable"


def test_admin_endpoints_set_faults_fix_the_clock_report_stats_and_reset(emu: RunningEmulator) -> None:
    assert requests.post(f"{emu.url}/_emulator/faults", data="prices:500@calls=1", timeout=5).ok
    assert requests.post(f"{emu.url}/_emulator/faults", data="prices:bogus", timeout=5).status_code == 400
    assert prices(emu).status_code == 500
    clock = requests.post(f"{emu.url}/_emulator/clock", json={"now": "2025-12-13T13:00:00Z"}, timeout=5)
    assert clock.json()["now"] == "2025-12-13T13:00:00Z"
    stats = requests.get(f"{emu.url}/_emulator/stats", timeout=5).json()
    assert stats["prices"] == {"calls": 1, "status": {"500": 1}}
    assert set(stats) == {"prices", "resource_graph", "skus", "sps", "token"}
    assert requests.post(f"{emu.url}/_emulator/reset", timeout=5).ok
    assert requests.get(f"{emu.url}/_emulator/stats", timeout=5).json()["prices"]["calls"] == 0
    assert prices(emu).status_code == 200  # faults back to the start-up spec (none)
    assert requests.post(f"{emu.url}/_emulator/clock", json={"now": None}, timeout=5).ok


def test_latency_is_added_to_every_api_response(tiny_catalog: Path) -> None:
    with running_emulator(catalog=tiny_catalog, latency_ms=200) as emu:
        started = time.monotonic()
        prices(emu)
        assert time.monotonic() - started >= 0.2


@pytest.mark.slow
def test_server_cli_prints_the_url_first_and_stops_cleanly_on_sigterm(tiny_catalog: Path, tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, str(REPO / "emulator" / "server.py"), "--catalog",
                                str(tiny_catalog), "--page-size", "2", "--faults", "skus:500@calls=9"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:")
        body = requests.get(f"{url}/api/retail/prices", timeout=5).json()
        assert body["Count"] == 2 and body["NextPageLink"].startswith(url)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


@pytest.mark.parametrize("args", [["--faults", "sps:nope"], ["--catalog", "/nonexistent.csv"]])
def test_server_cli_exits_2_on_bad_options(args: list[str]) -> None:
    result = subprocess.run([sys.executable, str(REPO / "emulator" / "server.py"), *args],
                            check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "error:" in result.stderr
