"""SPS request building, score normalisation and error classification (pure)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from utils.azure_api.classify import arm_error_fields, classify, error_message, supported_locations
from utils.azure_api.sps import (
    MalformedResponse,
    build_request_body,
    match_answer,
    normalise_scores,
    parse_score_items,
    placement_scores_url,
    score_frame,
)
from utils.constants import SPS_COLUMNS

SLOT = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)


def item(sku: str, region: str, score: str, zone: str | None = "1") -> dict:
    out = {"sku": sku, "region": region, "score": score, "isQuotaAvailable": True}
    if zone is not None:
        out["availabilityZone"] = zone
    return out


def test_request_body_and_url_follow_the_documented_shape():
    assert build_request_body(("eastus",), ("Standard_D2s_v3",), 5) == {
        "desiredLocations": ["eastus"], "desiredSizes": [{"sku": "Standard_D2s_v3"}], "desiredCount": 5,
        "availabilityZones": True,
    }
    assert placement_scores_url("http://h:1/", "sub", "eastus") == (
        "http://h:1/subscriptions/sub/providers/Microsoft.Compute/locations/eastus/placementScores/spot/generate"
        "?api-version=2025-06-05")


def test_scores_are_normalised_with_numbers_labels_zones_and_arm_casing():
    frame = normalise_scores([
        item("Standard_NC24ads_A100_v4", "EastUS", "High", "2"),
        item("Standard_NC24ads_A100_v4", "eastus", "Medium", "1"),
        item("Basic_A1", "westus", "Low", None),
        item("Standard_D2s_v3", "eastus", "DataNotFoundOrStale", "3"),
        item("Standard_D2s_v3", "eastus", "RestrictedSkuNotAvailable", "3"),  # duplicate row key
    ], 15, SLOT)
    assert list(frame.columns) == SPS_COLUMNS
    rows = {(r.InstanceTier, r.InstanceType, r.Region, r.AvailabilityZone): (r.Score, r.ScoreLabel)
            for r in frame.itertuples()}
    assert rows[("Standard", "NC24ads_A100_v4", "eastus", "2")] == (3.0, "High")
    assert rows[("Standard", "NC24ads_A100_v4", "eastus", "1")] == (2.0, "Medium")
    assert rows[("Basic", "A1", "westus", "Single")] == (1.0, "Low")
    score, label = rows[("Standard", "D2s_v3", "eastus", "3")]
    assert math.isnan(score) and label == "DataNotFoundOrStale"
    assert len(frame) == 4
    assert (frame["DesiredCount"] == 15).all() and frame["DesiredCount"].dtype == "int64"
    assert (frame["Time"] == pd.Timestamp("2026-03-04T12:30:00Z")).all()
    assert str(frame["Time"].dt.tz) == "UTC"


def test_no_items_give_an_empty_frame_with_the_columns():
    frame = normalise_scores([], 1, SLOT)
    assert list(frame.columns) == SPS_COLUMNS and frame.empty


@pytest.mark.parametrize("payload", [None, [], {"placementScores": "x"}, {"placementScores": [{"sku": "a"}]}])
def test_a_body_without_the_documented_items_is_malformed(payload):
    with pytest.raises(MalformedResponse):
        parse_score_items(payload)


INVALID_REGION = ('{"error":{"code":"BadRequest","message":"The value \'mars\' provided for the input parameter '
                  '\'desiredLocations\' is not valid."}}')
INVALID_SIZE = ("The value 'Standard_Z9' provided for the input parameter "
                "'SpotPlacementRecommenderInput.desiredSizes' is not valid.")


@pytest.mark.parametrize(
    ("status", "text", "kind"),
    [
        (429, "You have reached the maximum number of requests allowed. Please try again after 3600 seconds.",
         "quota"),
        (401, '{"error":{"code":"ExpiredAuthenticationToken","message":"expired"}}', "auth"),
        (400, INVALID_REGION, "invalid"),
        (400, INVALID_SIZE, "invalid"),
        (400, '{"error":{"code":"InvalidParameter","message":"something"}}', "unreadable"),
        (400, "<html>Bad Request</html>", "unreadable"),
        (400, '{"error":{"code":"NoRegisteredProviderFound","message":"No registered resource provider found '
              'for location \'x\'. The supported locations are \'eastus\'."}}', "retriable"),
        (500, '{"error":{"code":"InternalServerError","message":"x"}}', "retriable"),
        (502, "Bad gateway", "retriable"),
        (503, "", "retriable"),
        (403, '{"error":{"code":"AuthorizationFailed","message":"no role"}}', "fatal"),
        (404, "not found", "fatal"),
    ],
)
def test_each_error_answer_maps_to_what_the_caller_does(status, text, kind):
    assert classify(status, text).kind == kind


def test_invalid_values_are_named():
    assert classify(400, INVALID_REGION).invalid_regions == ("mars",)
    assert classify(400, INVALID_SIZE).invalid_sizes == ("Standard_Z9",)


def test_supported_locations_are_parsed_from_the_no_registered_provider_text():
    text = ("No registered resource provider found for location 'x' and API version '2025-06-05' for type "
            "'locations/placementScores'. The supported api-versions are '2025-06-05'. The supported locations "
            "are 'eastus, westus2, EastUS2'.")
    assert supported_locations(text) == ["eastus", "eastus2", "westus2"]
    assert supported_locations("nothing here") == []


# A body whose JSON escapes the quotes (as some serialisers do): the raw-text regex alone misses it.
ESCAPED_REGION = ('{"error":{"code":"BadRequest","message":"The value \\u0027japaneast\\u0027 provided for the input '
                  'parameter \\u0027desiredLocations\\u0027 is not valid."}}')
ESCAPED_SIZE = ('{"error":{"code":"BadRequest","message":"The value \\u0027STANDARD_E2S_V5\\u0027 provided for the '
                'input parameter \\u0027SpotPlacementRecommenderInput.desiredSizes\\u0027 is not valid."}}')


def test_invalid_values_are_read_from_error_message_first_even_with_escaped_quotes():
    assert "\\u0027" in ESCAPED_REGION
    assert classify(400, ESCAPED_REGION).invalid_regions == ("japaneast",)
    assert classify(400, ESCAPED_SIZE).invalid_sizes == ("STANDARD_E2S_V5",)
    # A cut body is not JSON: the raw text (quotes unescaped) is read second.
    assert classify(400, ESCAPED_REGION[:-4]).invalid_regions == ("japaneast",)
    assert error_message(ESCAPED_REGION).startswith("BadRequest: The value 'japaneast'")


def test_the_shared_arm_error_reader_decodes_code_and_message():
    assert arm_error_fields(ESCAPED_REGION)[0] == "BadRequest"
    assert "'japaneast'" in arm_error_fields(ESCAPED_REGION)[1]
    assert arm_error_fields('{"Error":{"Code":"InternalServerError","Message":"x"}}') == ("InternalServerError", "x")
    assert arm_error_fields("plain text") is None and arm_error_fields("[1]") is None


def test_an_upper_case_sku_from_sps_keeps_its_score_under_the_canonical_tier():
    frame = normalise_scores([item("STANDARD_D2S_V3", "eastus", "High"), item("standard_D2s_v3", "eastus", "Low")],
                             1, SLOT)
    assert frame[["InstanceTier", "InstanceType", "Score"]].values.tolist() == [["Standard", "D2S_V3", 3.0]]


def test_answers_are_matched_to_the_asked_pairs_whatever_the_casing_and_unasked_pairs_are_ignored():
    answer = match_answer([
        item("STANDARD_D2S_V3", "EastUS", "High"),
        item("Standard_D2s_v3", "westus", "Low"),  # a pair the call did not ask (another region)
        item("Standard_E2s_v5", "eastus", "Low"),  # a size the call did not ask
        item("Standard_D2s_v3", "East US", "Medium", "2"),  # display-name spelling of an asked region
    ], ["eastus"], ["Standard_D2s_v3", "Standard_D4s_v3"])
    assert [(i["sku"], i["region"], i["score"]) for i in answer.items] == [
        ("Standard_D2s_v3", "eastus", "High"), ("Standard_D2s_v3", "eastus", "Medium")]
    assert answer.ignored == 2 and answer.pairs_unanswered == 1


def test_conflicting_duplicates_are_counted_and_the_first_kept():
    frame, conflicts = score_frame([
        item("Standard_D2s_v3", "eastus", "High"), item("Standard_D2s_v3", "eastus", "High"),  # same: no conflict
        item("Standard_D2s_v3", "eastus", "Low"), item("Standard_D4s_v3", "eastus", "Low"),
    ], 1, SLOT)
    assert conflicts == 1
    assert frame.set_index("InstanceType")["ScoreLabel"].to_dict() == {"D2s_v3": "High", "D4s_v3": "Low"}


def test_an_sdk_error_whose_body_azure_core_cannot_parse_still_names_its_code(tmp_path):
    """azure-core parses only ``{"error": ...}`` (ODataV4); Retail Prices answers ``{"Error": {"Code"}}``."""
    from azure.core.exceptions import HttpResponseError
    from azure.core.pipeline.transport import RequestsTransport
    from azure.core.rest import HttpRequest

    from emulator.testing import running_emulator
    from tests.emulator.conftest import TINY_CATALOG
    from utils.azure_api.http import azure_call_error

    catalog = tmp_path / "tiny.csv"
    catalog.write_text(TINY_CATALOG)
    with running_emulator(catalog=catalog, faults="prices:500@calls=1") as emu, RequestsTransport() as transport:
        response = transport.send(HttpRequest("GET", f"{emu.url}/api/retail/prices"))
        response.read()
        error = HttpResponseError(response=response)
    assert error.error is None
    mapped = azure_call_error(error, "prices page 1")
    assert str(mapped) == "prices page 1: HTTP 500 InternalServerError"


NAMES = st.sampled_from(["eastus", "EastUS", "East US", "westus", "japaneast"])
SKUS = st.sampled_from(["Standard_D2s_v3", "STANDARD_D2S_V3", "standard_d4s_v3", "Basic_A1", "Standard_E2s_v5"])


@given(st.lists(st.tuples(NAMES, SKUS, st.sampled_from(["High", "Low"])), max_size=30))
def test_matched_items_are_exactly_the_asked_pairs_under_their_asked_names(answer):
    regions, sizes = ("eastus", "westus"), ("Standard_D2s_v3", "Standard_D4s_v3")
    matched = match_answer([item(s, r, label) for r, s, label in answer], regions, sizes)
    assert all(i["region"] in regions and i["sku"] in sizes for i in matched.items)
    assert len(matched.items) + matched.ignored == len(answer)
    asked = {(r.lower().replace(" ", ""), s.lower()) for r in regions for s in sizes}
    assert len(matched.items) == sum((r.lower().replace(" ", ""), s.lower()) in asked for r, s, _ in answer)
