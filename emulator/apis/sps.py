"""Spot Placement Score: ``POST /subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/
placementScores/spot/generate`` (docs/azure-facts.md 1.1-1.7, 8) and its ``GET .../placementScores/spot`` metadata.

Validation order (each a 400 unless noted): api-version (2025-06-05, 2024-06-01-preview) ->
endpoint location (``NoRegisteredProviderFound`` listing the supported locations) -> JSON body ->
``desiredLocations``/``desiredSizes`` must be non-empty arrays -> ``desiredCount`` 1..1000 ->
at most 8 locations and 5 sizes -> each location valid -> each size known somewhere in the catalog ->
quota (429, plain text). Only calls that pass validation consume quota [I: rejected calls are cheap
for the real service and the SpotLake collector retries them immediately after removing the bad value].
"""

from __future__ import annotations

import json
from typing import Any

from emulator.errors import ArmError, sps_quota_exceeded
from emulator.models.placement_scores import RESTRICTED, placement_model_of
from emulator.state import EmulatorState
from emulator.wire import ApiRequest, ApiResponse

API_VERSIONS = ("2024-06-01-preview", "2025-06-05")
MAX_LOCATIONS = 8
MAX_SIZES = 5
MAX_COUNT = 1000
RESOURCE_TYPE = "locations/placementScores"


def _invalid(message: str, target: str) -> ArmError:
    # Code [I]: the real code is not documented; the collectors match on the message text (docs/azure-facts.md 8).
    return ArmError(400, "BadRequest", message, target=target)


def _check_endpoint(request: ApiRequest, state: EmulatorState) -> str:
    model = placement_model_of(state.catalog)
    api_version = request.arg("api-version") or ""
    location = request.params["location"]
    supported = ", ".join(model.regions)
    if api_version not in API_VERSIONS or location.lower() not in model.regions:
        raise ArmError(400, "NoRegisteredProviderFound",
                       f"No registered resource provider found for location '{location}' and API version "
                       f"'{api_version}' for type '{RESOURCE_TYPE}'. The supported api-versions are "
                       f"'{', '.join(API_VERSIONS)}'. The supported locations are '{supported}'.")
    return location


def handle_metadata(request: ApiRequest, state: EmulatorState, empty_page: bool = False) -> ApiResponse:
    location = _check_endpoint(request, state)
    sub = request.params["subscription"]
    return ApiResponse.json(200, {
        "id": f"/subscriptions/{sub}/providers/Microsoft.Compute/locations/{location}/placementScores/spot",
        "name": "spotPlacementScores", "type": "Microsoft.Compute/placementScores",
        "properties": {"supportedResourceTypes": ["Microsoft.Compute/virtualMachines"]},
    })


def _validated_body(request: ApiRequest, state: EmulatorState) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise _invalid("The request content was invalid and could not be deserialized.", "body") from None
    if not isinstance(body, dict):
        raise _invalid("The request content was invalid and could not be deserialized.", "body")
    locations = body.get("desiredLocations")
    sizes = body.get("desiredSizes")
    if not isinstance(locations, list) or not locations or not all(isinstance(x, str) for x in locations):
        raise _invalid("The parameter 'desiredLocations' must be a non-empty array of location names.",
                       "desiredLocations")
    if (not isinstance(sizes, list) or not sizes
            or not all(isinstance(x, dict) and isinstance(x.get("sku"), str) for x in sizes)):
        raise _invalid("The parameter 'desiredSizes' must be a non-empty array of {\"sku\": \"<size>\"}.",
                       "desiredSizes")
    count = body.get("desiredCount", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise _invalid(f"The value '{count}' provided for the input parameter 'desiredCount' is not valid. "
                       f"It must be an integer between 1 and {MAX_COUNT}.", "desiredCount")
    zonal = body.get("availabilityZones", False)
    if not isinstance(zonal, bool):
        raise _invalid(f"The value '{zonal}' provided for the input parameter 'availabilityZones' is not valid.",
                       "availabilityZones")
    if len(locations) > MAX_LOCATIONS:
        raise _invalid(f"The number of desired locations ({len(locations)}) exceeds the maximum of "
                       f"{MAX_LOCATIONS}.", "desiredLocations")
    if len(sizes) > MAX_SIZES:
        raise _invalid(f"The number of desired sizes ({len(sizes)}) exceeds the maximum of {MAX_SIZES}.",
                       "desiredSizes")
    model = placement_model_of(state.catalog)
    for location in locations:
        if location.lower() not in model.regions:
            raise _invalid(f"The value '{location}' provided for the input parameter 'desiredLocations' is not "
                           "valid.", "desiredLocations")
    for size in sizes:
        if size["sku"].lower() not in model.sizes:
            raise _invalid(f"The value '{size['sku']}' provided for the input parameter "
                           "'SpotPlacementRecommenderInput.desiredSizes' is not valid.", "desiredSizes")
    return {"desiredLocations": locations, "desiredSizes": [{"sku": s["sku"]} for s in sizes],
            "desiredCount": count, "availabilityZones": zonal}


def handle(request: ApiRequest, state: EmulatorState, empty_page: bool = False) -> ApiResponse:
    location = _check_endpoint(request, state)
    body = _validated_body(request, state)
    now = state.clock.now()
    key = f"{request.params['subscription'].lower()}/{location.lower()}"
    if not state.sps_ledger.try_consume(key, now):
        raise sps_quota_exceeded(state.config.sps_retry_after)
    model = placement_model_of(state.catalog)
    scores = []
    for region in body["desiredLocations"]:
        zones = model.regions[region.lower()] if body["availabilityZones"] else []
        for size in body["desiredSizes"]:
            for zone in zones or [None]:
                item: dict[str, Any] = {"sku": size["sku"], "region": region}
                if zone is not None:
                    item["availabilityZone"] = zone
                item["score"] = model.score(region, size["sku"], zone, body["desiredCount"], now)
                item["isQuotaAvailable"] = True
                scores.append(item)
    return ApiResponse.json(200, {**body, "placementScores": scores})


def unreadable_bad_request() -> ArmError:
    """The ``badrequest`` fault: a 400 ``InvalidParameter`` that names no invalid value (the wording of the
    real body-level 400s is not documented, so a client cannot count on one it can parse)."""
    return ArmError(400, "InvalidParameter", "The request is invalid. Diagnostic information: emulator fault.")


def reshape_answer(body: bytes, kind: str, state: EmulatorState) -> bytes:
    """Apply an SPS answer fault (``emulator.faults.SPS_ONLY_KINDS``) to a 200 answer.

    ``casing``: every ``sku`` and ``region`` of the answer in upper case (``STANDARD_D2S_V3``, ``EASTUS``).
    ``unasked``: for every asked size, scores in the first public region the call did not ask, each with a
    label other than the model's (``Low``, or ``High`` where the model says ``Low``), so a client that took
    them would publish a wrong score.
    """
    payload = json.loads(body)
    items = payload["placementScores"]
    if kind == "casing":
        payload["placementScores"] = [{**i, "sku": i["sku"].upper(), "region": i["region"].upper()} for i in items]
        return json.dumps(payload).encode()
    model = placement_model_of(state.catalog)
    asked = {r.lower() for r in payload["desiredLocations"]}
    others = [r for r in sorted(model.regions) if r not in asked]
    if not others:
        return body
    region = others[0]
    now = state.clock.now()
    extra = []
    for size in payload["desiredSizes"]:
        for zone in (model.regions[region] if payload["availabilityZones"] else []) or [None]:
            real = model.score(region, size["sku"], zone, payload["desiredCount"], now)
            item: dict[str, Any] = {"sku": size["sku"], "region": region, "score": "High" if real == "Low" else "Low",
                                    "isQuotaAvailable": True}
            if zone is not None:
                item["availabilityZone"] = zone
            if real != RESTRICTED:
                extra.append(item)
    payload["placementScores"] = items + extra
    return json.dumps(payload).encode()
