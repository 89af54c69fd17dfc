"""Spot Placement Score: validation wording, scores, and the per (subscription, location) quota."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.catalog import load_catalog
from emulator.models.placement_scores import PlacementModel
from emulator.state import QuotaLedger
from emulator.testing import RunningEmulator
from tests.emulator.conftest import SUBSCRIPTION

T0 = datetime(2025, 12, 13, 13, 0, tzinfo=UTC)
OTHER_SUBSCRIPTION = "99999999-8888-7777-6666-555555555555"


def sps(emu: RunningEmulator, token: str, body: object, location: str = "eastus", *,
        api_version: str = "2025-06-05", subscription: str = SUBSCRIPTION) -> requests.Response:
    url = (f"{emu.url}/subscriptions/{subscription}/providers/Microsoft.Compute/locations/{location}"
           f"/placementScores/spot/generate")
    return requests.post(url, params={"api-version": api_version}, json=body,
                         headers={"Authorization": f"Bearer {token}"}, timeout=5)


def body(locations: list[str] | None = None, sizes: list[str] | None = None, count: int = 1,
         zones: bool = True) -> dict:
    return {"desiredLocations": locations or ["eastus"],
            "desiredSizes": [{"sku": s} for s in (sizes or ["Standard_D2s_v3"])],
            "desiredCount": count, "availabilityZones": zones}


def test_zonal_request_returns_one_score_per_region_size_and_zone(emu: RunningEmulator, token: str) -> None:
    response = sps(emu, token, body(["eastus", "westus"], ["Standard_D2s_v3", "Standard_D4s_v3"]))
    assert response.status_code == 200
    result = response.json()
    assert result["desiredCount"] == 1 and result["availabilityZones"] is True
    items = {(s["region"], s["sku"], s.get("availabilityZone")): s["score"] for s in result["placementScores"]}
    assert set(items) == {("eastus", sku, z) for sku in ("Standard_D2s_v3", "Standard_D4s_v3")
                          for z in ("1", "2", "3")} | {("westus", "Standard_D2s_v3", None),
                                                      ("westus", "Standard_D4s_v3", None)}
    assert items[("eastus", "Standard_D4s_v3", "3")] == "RestrictedSkuNotAvailable"  # Zone:3 restriction
    assert items[("westus", "Standard_D4s_v3", None)] == "RestrictedSkuNotAvailable"  # not offered there
    assert items[("eastus", "Standard_D2s_v3", "1")] in ("High", "Medium", "Low", "DataNotFoundOrStale")
    assert all(s["isQuotaAvailable"] is True for s in result["placementScores"])


def test_regional_request_has_no_zone_and_restricted_sizes_are_scored_not_refused(emu: RunningEmulator,
                                                                                    token: str) -> None:
    result = sps(emu, token, body(["westeurope"], ["Standard_D4s_v3", "Standard_D2s_v3"], zones=False)).json()
    assert [("availabilityZone" in s) for s in result["placementScores"]] == [False, False]
    assert result["placementScores"][0]["score"] == "RestrictedSkuNotAvailable"  # Location restriction


def test_both_api_versions_are_accepted(emu: RunningEmulator, token: str) -> None:
    assert sps(emu, token, body(), api_version="2024-06-01-preview").status_code == 200


@pytest.mark.parametrize(("payload", "text"), [
    (body([f"r{i}" for i in range(9)]), "exceeds the maximum of 8"),
    (body(sizes=[f"Standard_D{i}s_v3" for i in range(6)]), "exceeds the maximum of 5"),
    ({**body(), "desiredLocations": "eastus"}, "'desiredLocations' must be a non-empty array"),
    ({**body(), "desiredSizes": {"sku": "Standard_D2s_v3"}}, "'desiredSizes' must be a non-empty array"),
    (body(count=0), "'desiredCount' is not valid"),
    (body(count=1001), "'desiredCount' is not valid"),
    (body(["eastus", "marsnorth"]),
     "The value 'marsnorth' provided for the input parameter 'desiredLocations' is not valid"),
    (body(["usgovvirginia"]),
     "The value 'usgovvirginia' provided for the input parameter 'desiredLocations' is not valid"),
    (body(sizes=["Standard_D2s_v3", "Standard_Z9_v9"]),
     "The value 'Standard_Z9_v9' provided for the input parameter 'SpotPlacementRecommenderInput.desiredSizes' "
     "is not valid"),
])
def test_invalid_requests_get_400_with_the_real_wording(emu: RunningEmulator, token: str, payload: dict,
                                                        text: str) -> None:
    response = sps(emu, token, payload)
    assert response.status_code == 400
    assert text in response.json()["error"]["message"]


def test_invalid_endpoint_location_lists_the_supported_locations(emu: RunningEmulator, token: str) -> None:
    response = sps(emu, token, body(), location="nowhere")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "NoRegisteredProviderFound"
    assert "The supported locations are 'eastus, westeurope, westus'" in error["message"]


def test_unsupported_api_version_is_a_400(emu: RunningEmulator, token: str) -> None:
    response = sps(emu, token, body(), api_version="2021-06-01-preview")
    assert response.status_code == 400 and "supported api-versions are" in response.json()["error"]["message"]


def test_quota_allows_ten_calls_per_subscription_and_location_per_rolling_hour(emu: RunningEmulator,
                                                                               token: str) -> None:
    emu.set_now(T0)
    for _ in range(10):
        assert sps(emu, token, body()).status_code == 200
    assert sps(emu, token, body(["nowhere"])).status_code == 400  # rejected calls do not consume quota
    eleventh = sps(emu, token, body())
    assert eleventh.status_code == 429
    assert eleventh.text == ("You have reached the maximum number of requests allowed. "
                             "Please try again after 3600 seconds.")
    assert eleventh.headers["Retry-After"] == "3600"
    assert sps(emu, token, body(), location="westus").status_code == 200
    assert sps(emu, token, body(), subscription=OTHER_SUBSCRIPTION).status_code == 200
    emu.set_now(T0 + timedelta(minutes=59))
    assert sps(emu, token, body()).status_code == 429
    emu.set_now(T0 + timedelta(minutes=60, seconds=1))
    assert sps(emu, token, body()).status_code == 200
    stats = emu.stats()["sps"]
    assert stats["status"]["429"] == 2
    assert stats["by_subscription_location"][f"{SUBSCRIPTION}/eastus"] == 14


def test_the_window_rolls_call_by_call_not_all_at_once(emu: RunningEmulator, token: str) -> None:
    for minute in range(10):
        emu.set_now(T0 + timedelta(minutes=minute))
        assert sps(emu, token, body()).status_code == 200
    emu.set_now(T0 + timedelta(minutes=60, seconds=30))
    assert sps(emu, token, body()).status_code == 200  # the call of minute 0 left the window
    assert sps(emu, token, body()).status_code == 429  # the call of minute 1 has not


MODEL = PlacementModel(load_catalog())
PAIRS = load_catalog().spot_pairs().head(400)
COUNTS = [1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
RANK = {"High": 3, "Medium": 2, "Low": 1}


@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, len(PAIRS) - 1), zone=st.sampled_from([None, "1", "2", "3"]),
       hours=st.integers(0, 24 * 60))
def test_scores_never_improve_when_the_desired_count_grows(index: int, zone: str | None, hours: int) -> None:
    region, size = PAIRS.iloc[index]
    now = T0 + timedelta(hours=hours)
    scores = [MODEL.score(region, size, zone, count, now) for count in COUNTS]
    if all(s in RANK for s in scores):
        ranks = [RANK[s] for s in scores]
        assert ranks == sorted(ranks, reverse=True)


def test_scores_drift_slowly_and_use_all_three_levels() -> None:
    keys = [(r, s, None) for r, s in PAIRS.itertuples(index=False)]
    before = [MODEL.score(r, s, z, 10, T0) for r, s, z in keys]
    after = [MODEL.score(r, s, z, 10, T0 + timedelta(hours=1)) for r, s, z in keys]
    changed = sum(a != b for a, b in zip(before, after, strict=True)) / len(keys)
    assert 0.0 < changed < 0.15
    assert {"High", "Medium", "Low"} <= set(before)


def test_the_casing_fault_answers_every_arm_name_in_upper_case(emu: RunningEmulator, token: str) -> None:
    clean = sps(emu, token, body(["eastus"], ["Standard_D2s_v3"])).json()["placementScores"]
    emu.set_faults("sps:casing@calls=1")
    loud = sps(emu, token, body(["eastus"], ["Standard_D2s_v3"])).json()["placementScores"]
    assert [(i["sku"], i["region"]) for i in loud] == [("STANDARD_D2S_V3", "EASTUS")] * 3
    assert [i["score"] for i in loud] == [i["score"] for i in clean]


def test_the_unasked_fault_adds_wrong_scores_for_a_region_the_call_did_not_ask(emu: RunningEmulator,
                                                                               token: str) -> None:
    clean = sps(emu, token, body(["eastus"], ["Standard_D2s_v3"])).json()["placementScores"]
    real = {(i["region"], i.get("availabilityZone")): i["score"] for i in
            sps(emu, token, body(["westeurope"], ["Standard_D2s_v3"])).json()["placementScores"]}
    emu.set_faults("sps:unasked@calls=1")
    answer = sps(emu, token, body(["eastus"], ["Standard_D2s_v3"])).json()["placementScores"]
    assert answer[:len(clean)] == clean
    extra = answer[len(clean):]
    assert extra and {i["region"] for i in extra} == {"westeurope"}  # first public region not asked
    assert all(i["score"] != real[(i["region"], i.get("availabilityZone"))] for i in extra)


def test_sps_answer_faults_are_refused_on_other_apis() -> None:
    from emulator.faults import FaultSpecError, parse_fault_spec

    for spec in ("prices:casing", "skus:unasked"):
        with pytest.raises(FaultSpecError, match="SPS answer fault"):
            parse_fault_spec(spec)


def test_the_quota_ledger_reports_the_accepted_calls_per_bucket_and_never_a_refused_one() -> None:
    ledger = QuotaLedger(limit=2, window=timedelta(minutes=60))
    now = datetime(2025, 12, 13, tzinfo=UTC)
    assert [ledger.try_consume("sub-a/eastus", now) for _ in range(3)] == [True, True, False]
    assert ledger.try_consume("sub-b/westus", now)
    assert ledger.usage() == {"sub-a/eastus": 2, "sub-b/westus": 1}
    ledger.reset()
    assert ledger.usage() == {}
