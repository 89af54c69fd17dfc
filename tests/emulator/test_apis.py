"""Each emulated API driven by the real clients the product uses, paging to the end."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from emulator.testing import RunningEmulator
from tests.emulator.conftest import SUBSCRIPTION, TENANT, BearerFromEmulator, UnusedCredential, fetch_token

COLLECTOR_FILTER = "serviceName eq 'Virtual Machines' and priceType eq 'Consumption'"
EVICTION_QUERY = ("SpotResources | where type =~ 'microsoft.compute/skuspotevictionrate/location' | project "
                  "skuName = tostring(sku.name), location, spotEvictionRate = tostring(properties.evictionRate)")


def page_prices(url: str, params: dict[str, str]) -> tuple[list[dict], int]:
    items, pages = [], 0
    response = requests.get(f"{url}/api/retail/prices", params=params, timeout=10)
    while True:
        response.raise_for_status()
        body = response.json()
        assert body["Count"] == len(body["Items"])
        items += body["Items"]
        pages += 1
        if not body["NextPageLink"]:
            return items, pages
        response = requests.get(body["NextPageLink"], timeout=10)


def collect_prices_like_a_collector(items: list[dict]) -> pd.DataFrame:
    """A deliberately plain reading of the items (not the product's normaliser): Linux VM products only,
    VM size names only, current meters, the primary meter first, zero prices are no prices."""
    frame = pd.DataFrame(items)
    frame = frame[~frame["productName"].str.contains("Windows|Cloud ?Services|Dedicated ?Host")
                  & frame["armSkuName"].str.match("(Standard|Basic)_") & ~frame["skuName"].str.contains("Low Priority")
                  & ~frame["location"].str.contains("Gov") & (frame["retailPrice"] > 0)]
    frame = frame[frame.get("effectiveEndDate", pd.Series(index=frame.index, dtype=object)).isna()]
    frame = frame[frame["effectiveStartDate"] <= "2025-12-13"]
    spot = frame["skuName"].str.contains("Spot")
    keys = ["armSkuName", "armRegionName"]
    frame = frame.assign(spot=spot).sort_values("isPrimaryMeterRegion", ascending=False, kind="stable")
    frame = frame.drop_duplicates([*keys, "spot"])
    od = frame[~frame["spot"]].set_index(keys)["retailPrice"].rename("OndemandPrice")
    sp = frame[frame["spot"]].set_index(keys)["retailPrice"].rename("SpotPrice")
    return pd.concat([od, sp], axis=1).sort_index()


def test_prices_page_to_the_end_and_give_exactly_the_catalog(emu: RunningEmulator) -> None:
    items, pages = page_prices(emu.url, {"api-version": "2023-01-01-preview", "$filter": COLLECTOR_FILTER,
                                         "currencyCode": "'USD'"})
    assert pages > 3  # page_size=4 forces paging
    assert {item["type"] for item in items} == {"Consumption"}
    got = collect_prices_like_a_collector(items)
    expected = emu.state.catalog.expected_prices()
    expected.index = pd.MultiIndex.from_arrays(
        [expected["InstanceTier"] + "_" + expected["InstanceType"], expected["Region"]],
        names=["armSkuName", "armRegionName"])
    pd.testing.assert_frame_equal(got, expected[["OndemandPrice", "SpotPrice"]].sort_index(), check_names=False)


def test_price_items_carry_the_real_field_set_and_meter_conventions(emu: RunningEmulator) -> None:
    items, _ = page_prices(emu.url, {"$filter": "armRegionName eq 'eastus' and contains(meterName, 'Spot')"})
    assert items and all(item["meterName"].endswith("Spot") and item["skuName"].endswith("Spot") for item in items)
    assert {"currencyCode", "retailPrice", "unitPrice", "armRegionName", "location", "effectiveStartDate",
            "meterId", "meterName", "productId", "skuId", "productName", "skuName", "serviceName",
            "serviceFamily", "unitOfMeasure", "type", "isPrimaryMeterRegion", "armSkuName"} <= set(items[0])
    names = {item["armSkuName"] for item in items}
    assert "Standard_NC24ads_A100_v4" in names
    all_items, _ = page_prices(emu.url, {})
    kinds = {item["type"] for item in all_items}
    assert kinds <= {"Consumption", "DevTestConsumption"}
    assert any("Windows" in item["productName"] for item in all_items)


def test_price_filter_values_are_case_sensitive(emu: RunningEmulator) -> None:
    items, _ = page_prices(emu.url, {"$filter": "serviceName eq 'virtual machines'"})
    assert items == []


@pytest.mark.parametrize("bad_filter", ["serviceName ne 'x'", "serviceName eq 'a' or priceType eq 'b'",
                                        "bogusField eq 'x'", "serviceName eq x"])
def test_unsupported_price_filters_get_a_clear_400(emu: RunningEmulator, bad_filter: str) -> None:
    response = requests.get(f"{emu.url}/api/retail/prices", params={"$filter": bad_filter}, timeout=5)
    assert response.status_code == 400
    assert "Invalid OData" in response.json()["Error"]["Message"]


def test_next_page_link_is_absolute_to_the_emulator_and_null_at_the_end(emu: RunningEmulator) -> None:
    body = requests.get(f"{emu.url}/api/retail/prices", timeout=5).json()
    assert body["NextPageLink"].startswith(f"{emu.url}/api/retail/prices?") and "$skip=4" in body["NextPageLink"]
    last = requests.get(f"{emu.url}/api/retail/prices", params={"$skip": "100000"}, timeout=5).json()
    assert last["Items"] == [] and last["NextPageLink"] is None and last["Count"] == 0


def test_resource_graph_client_pages_eviction_rates_with_skip_token(emu: RunningEmulator, token: str) -> None:
    client = ResourceGraphClient(UnusedCredential(), base_url=emu.url,
                                 authentication_policy=BearerFromEmulator(token))
    rows, skip_token, pages = [], None, 0
    while True:
        response = client.resources(QueryRequest(query=EVICTION_QUERY, options=QueryRequestOptions(
            top=1000, skip_token=skip_token, result_format="objectArray")))
        assert response.result_truncated == "false"
        rows += response.data
        pages += 1
        skip_token = response.skip_token
        if not skip_token:
            break
    assert pages > 1 and response.total_records == len(rows)
    offers = emu.state.catalog.public_offers
    rated = offers[offers["EvictionRate"] != ""]
    expected = {(s.lower(), r, e) for s, r, e in zip(rated["InstanceType"], rated["Region"], rated["EvictionRate"],
                                                     strict=True)}
    assert {(r["skuName"], r["location"], r["spotEvictionRate"]) for r in rows} == expected


def test_resource_graph_supports_the_official_sample_queries(emu: RunningEmulator, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    query = ("SpotResources | where type =~ 'microsoft.compute/skuspotpricehistory/ostype/location' "
             "| where sku.name in~ ('standard_d2s_v3', 'Standard_E2s_v3') | where properties.osType =~ 'linux' "
             "| where location in~ ('eastus', 'westus') | project skuName = tostring(sku.name), "
             "osType = tostring(properties.osType), location, "
             "latestSpotPriceUSD = todouble(properties.spotPrices[0].priceUSD) | order by latestSpotPriceUSD asc")
    response = requests.post(f"{emu.url}/providers/Microsoft.ResourceGraph/resources",
                             params={"api-version": "2021-03-01"}, headers=headers,
                             json={"query": query, "options": {"resultFormat": "table"}}, timeout=5)
    assert response.status_code == 200
    assert int(response.headers["x-ms-user-quota-remaining"]) >= 0
    assert response.headers["x-ms-user-quota-resets-after"].count(":") == 2
    body = response.json()
    assert [c["name"] for c in body["data"]["columns"]] == ["skuName", "osType", "location", "latestSpotPriceUSD"]
    prices = [row[3] for row in body["data"]["rows"]]
    assert prices == sorted(prices) and prices[0] == pytest.approx(0.0192)
    assert len(prices) == 4 and "$skipToken" not in body


@pytest.mark.parametrize("query", ["Resources | take 1", "SpotResources | extend x = 1",
                                   "SpotResources | where type contains 'x'"])
def test_resource_graph_answers_unsupported_kql_with_invalid_query(emu: RunningEmulator, token: str,
                                                                   query: str) -> None:
    response = requests.post(f"{emu.url}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01",
                             headers={"Authorization": f"Bearer {token}"}, json={"query": query}, timeout=5)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BadRequest" and error["details"][0]["code"] == "InvalidQuery"


def test_resource_graph_throttles_past_the_user_quota(tiny_catalog) -> None:
    from emulator.testing import running_emulator
    # A window far longer than four requests can take on a loaded machine (the default 5 s could reset mid-test).
    with running_emulator(catalog=tiny_catalog, arg_quota=3, arg_window_s=600) as emu:
        headers = {"Authorization": f"Bearer {fetch_token(emu.url)}"}
        statuses = [requests.post(f"{emu.url}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01",
                                  headers=headers, json={"query": "SpotResources"}, timeout=5) for _ in range(4)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429]
        assert statuses[2].headers["x-ms-user-quota-remaining"] == "0"
        assert statuses[3].json()["error"]["code"] == "RateLimiting"
        assert int(statuses[3].headers["Retry-After"]) >= 1


def test_compute_client_lists_resource_skus_through_next_links(emu: RunningEmulator, token: str) -> None:
    client = ComputeManagementClient(UnusedCredential(), SUBSCRIPTION, base_url=emu.url,
                                     authentication_policy=BearerFromEmulator(token))
    skus = list(client.resource_skus.list(filter="location eq 'eastus'"))
    vms = [s for s in skus if s.resource_type == "virtualMachines"]
    offers = emu.state.catalog.offers
    assert sorted(s.name for s in vms) == sorted(offers.loc[offers["Region"] == "eastus", "InstanceType"])
    assert len(skus) > len(vms)  # non-VM resource types are mixed in
    by_name = {s.name: s for s in vms}
    assert by_name["Standard_D2s_v3"].family == "standardDSv3Family"
    assert by_name["Standard_D2s_v3"].location_info[0].zones == ["1", "2", "3"]
    zone = by_name["Standard_D4s_v3"].restrictions[0]
    assert zone.type == "Zone" and zone.restriction_info.zones == ["3"]
    assert zone.reason_code == "NotAvailableForSubscription"
    assert by_name["Standard_B2s"].restrictions[0].type == "Location"
    everything = list(client.resource_skus.list())
    regions = {s.locations[0] for s in everything if s.resource_type == "virtualMachines"}
    assert regions == {"eastus", "westus", "westeurope"}


def test_skus_refuse_filters_other_than_location(emu: RunningEmulator, token: str) -> None:
    client = ComputeManagementClient(UnusedCredential(), SUBSCRIPTION, base_url=emu.url,
                                     authentication_policy=BearerFromEmulator(token))
    with pytest.raises(HttpResponseError) as caught:
        list(client.resource_skus.list(filter="name eq 'Standard_D2s_v3'"))
    assert caught.value.status_code == 400


def test_token_endpoint_issues_bearer_tokens_that_arm_routes_accept(emu: RunningEmulator) -> None:
    response = requests.post(f"{emu.url}/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": "app", "client_secret": "x",
        "scope": "https://management.azure.com/.default"}, timeout=5)
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["ext_expires_in"] == 3600
    url = f"{emu.url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/skus?api-version=2021-07-01"
    assert requests.get(url, headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=5).ok
    discovery = requests.get(f"{emu.url}/{TENANT}/v2.0/.well-known/openid-configuration", timeout=5).json()
    assert discovery["token_endpoint"] == f"{emu.url}/{TENANT}/oauth2/v2.0/token"


def test_refused_secret_gets_invalid_client(emu: RunningEmulator) -> None:
    response = requests.post(f"{emu.url}/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": "app", "client_secret": "refused",
        "scope": "https://management.azure.com/.default"}, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client" and "AADSTS7000215" in response.json()["error_description"]


@pytest.mark.parametrize(("header", "code"), [
    (None, "AuthenticationFailed"), ("Bearer not-a-token", "InvalidAuthenticationToken"),
    ("Basic abc", "InvalidAuthenticationToken"),
])
def test_arm_routes_require_an_emulator_token(emu: RunningEmulator, header: str | None, code: str) -> None:
    headers = {"Authorization": header} if header else {}
    url = f"{emu.url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/skus?api-version=2021-07-01"
    response = requests.get(url, headers=headers, timeout=5)
    assert response.status_code == 401 and response.json()["error"]["code"] == code


def test_expired_tokens_are_refused_by_the_emulator_clock(emu: RunningEmulator, token: str) -> None:
    from datetime import UTC, datetime, timedelta
    emu.set_now(datetime.now(UTC) + timedelta(hours=2))
    url = f"{emu.url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/skus?api-version=2021-07-01"
    response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert response.status_code == 401 and response.json()["error"]["code"] == "ExpiredAuthenticationToken"


def test_non_guid_subscription_is_a_400(emu: RunningEmulator, token: str) -> None:
    url = f"{emu.url}/subscriptions/not-a-guid/providers/Microsoft.Compute/skus?api-version=2021-07-01"
    response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert response.status_code == 400 and response.json()["error"]["code"] == "InvalidSubscriptionId"


def test_unknown_routes_answer_501_naming_the_operation(emu: RunningEmulator) -> None:
    response = requests.delete(f"{emu.url}/subscriptions/{SUBSCRIPTION}/resourceGroups/rg", timeout=5)
    assert response.status_code == 501
    assert "DELETE /subscriptions/" in json.loads(response.content)["error"]["message"]
