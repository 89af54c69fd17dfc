"""Azure credential sources against the emulator's token endpoint and a DynamoDB auth table in moto."""

from __future__ import annotations

import boto3
import pytest
from azure.core.exceptions import ClientAuthenticationError
from hypothesis import given
from hypothesis import strategies as st

from emulator.testing import running_emulator
from utils.azure_api.auth import (
    EMULATOR_TENANT,
    EmulatorTokenCredential,
    credential_from_item,
    emulator_subscription_ids,
    load_azure_auth,
)
from utils.errors import ConfigError, RunFailed
from utils.settings import load_settings

TENANT = "11111111-2222-4333-8444-555555555555"
SUBS = "aaaaaaaa-0000-4000-8000-000000000001,aaaaaaaa-0000-4000-8000-000000000002"


def _table(endpoint: str, item: dict[str, str] | None) -> None:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-west-2")
    client.create_table(TableName="AzureAuth", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    if item is not None:
        client.put_item(TableName="AzureAuth", Item={k: {"S": v} for k, v in item.items()})


def _env(base_env: dict[str, str], url: str, moto: str) -> dict[str, str]:
    return {**base_env, "SPOTLAKE_EMULATOR_URL": url, "AZURE_AUTH_TABLE": "AzureAuth", "AWS_ENDPOINT_URL": moto}


def test_emulator_mode_reads_the_dynamodb_item_and_exchanges_it_for_a_token(base_env, moto_endpoint):
    _table(moto_endpoint, {"id": "default", "TenantId": TENANT, "ClientId": "collector",
                           "ClientSecret": "s3cret-value", "SubscriptionId": SUBS})
    with running_emulator(catalog=None) as emu:
        auth = load_azure_auth(load_settings(_env(base_env, emu.url, moto_endpoint)))
        assert auth.subscription_ids == tuple(SUBS.split(","))
        assert auth.bearer_token()
        assert emu.stats()["token"]["status"].get("200") == 1
        assert "s3cret-value" not in repr(auth.credential)


def test_a_refused_client_secret_is_a_clear_authentication_error(base_env, moto_endpoint):
    _table(moto_endpoint, {"id": "default", "TenantId": TENANT, "ClientId": "collector",
                           "ClientSecret": "refused", "SubscriptionId": SUBS})
    with running_emulator(catalog=None) as emu:
        auth = load_azure_auth(load_settings(_env(base_env, emu.url, moto_endpoint)))
        with pytest.raises(ClientAuthenticationError) as info:
            auth.bearer_token()
        assert "refused" in str(info.value) and "401" in str(info.value)


def test_a_missing_item_names_the_table_and_item_but_no_secret(base_env, moto_endpoint):
    _table(moto_endpoint, None)
    with running_emulator(catalog=None) as emu, pytest.raises(RunFailed) as info:
        load_azure_auth(load_settings(_env(base_env, emu.url, moto_endpoint)))
    assert "AzureAuth" in str(info.value) and "default" in str(info.value)


def test_without_any_credential_emulator_mode_uses_deterministic_subscriptions(base_env):
    with running_emulator(catalog=None) as emu:
        auth = load_azure_auth(load_settings({**base_env, "SPOTLAKE_EMULATOR_URL": emu.url}))
        assert auth.subscription_ids == emulator_subscription_ids(12)
        assert isinstance(auth.credential, EmulatorTokenCredential)
        assert auth.bearer_token()
    assert EMULATOR_TENANT.count("-") == 4


def test_a_short_lived_token_is_cached_until_half_its_life(base_env):
    with running_emulator(catalog=None, token_ttl=60) as emu:
        credential = EmulatorTokenCredential(emu.url, TENANT, "c", "s")
        first = credential.get_token("https://management.azure.com/.default").token
        assert credential.get_token("https://management.azure.com/.default").token == first
        assert emu.stats()["token"]["calls"] == 1


# ---------------------------------------------------------------- SpotLake's production item: `data` map, us-east-1

MAP_SECRET = "map-layout-Secret~DoNotLeak-0123456789"


def _map_item(**overrides: str) -> dict:
    data = {"tenant_id": TENANT, "client_id": "spotlake-collector", "client_secret": MAP_SECRET,
            "subscriptions": SUBS, **overrides}  # fmt: skip
    return {"id": {"S": "login_auth_az_true"}, "data": {"M": {k: {"S": v} for k, v in data.items()}}}


def _regional_table(endpoint: str, region: str, item: dict) -> None:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
    client.create_table(TableName="AzureAuth", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")  # fmt: skip
    client.put_item(TableName="AzureAuth", Item=item)


def test_the_data_map_layout_is_read_field_by_field():
    tenant, client, secret, subs = credential_from_item(_map_item(subscriptions=f" {SUBS.replace(',', ' , ')} "),
                                                        "login_auth_az_true")  # fmt: skip
    assert (tenant, client, secret) == (TENANT, "spotlake-collector", MAP_SECRET)
    assert subs == tuple(SUBS.split(","))


def test_the_flat_layout_is_still_read():
    first = SUBS.partition(",")[0]
    item = {"id": {"S": "default"}, "TenantId": {"S": TENANT}, "ClientId": {"S": "c"},
            "ClientSecret": {"S": "flat-secret"}, "SubscriptionId": {"S": first}}  # fmt: skip
    assert credential_from_item(item, "default") == (TENANT, "c", "flat-secret", (first,))


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"id": {"S": "x"}, "data": {"S": "tenant_id=..."}}, "attribute 'data' is not a map"),
        (_map_item(client_secret=""), "(data map layout) lacks string fields ['client_secret']"),
        (_map_item(subscriptions=" , "), "lists no subscription"),
        # A data map wins over flat attributes: a half-migrated item is refused, never mixed.
        ({**_map_item(tenant_id=""), "TenantId": {"S": TENANT}}, "lacks string fields ['tenant_id']"),
        ({"id": {"S": "x"}, "TenantId": {"S": TENANT}, "ClientSecret": {"N": "1"}},
         "(flat layout) lacks string fields ['ClientId', 'ClientSecret', 'SubscriptionId']"),
    ],
)  # fmt: skip
def test_a_malformed_item_names_the_item_layout_and_fields_but_no_value(item: dict, message: str):
    with pytest.raises(RunFailed) as info:
        credential_from_item(item, "login_auth_az_true")
    assert message in str(info.value)
    assert "login_auth_az_true" in str(info.value)
    assert MAP_SECRET not in str(info.value) and TENANT not in str(info.value)


@given(body=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40),
       missing=st.sampled_from(["tenant_id", "client_id", "subscriptions"]))  # fmt: skip
def test_no_refusal_ever_quotes_the_secret(body: str, missing: str):
    secret = f"\u00a7{body}\u00a7"  # the section sign never occurs in a message of ours
    item = _map_item(client_secret=secret, **{missing: ""})
    with pytest.raises(RunFailed) as info:
        credential_from_item(item, "login_auth_az_true")
    assert "\u00a7" not in str(info.value)


def test_the_production_item_is_read_from_us_east_1_while_the_job_runs_in_us_west_2(base_env, moto_endpoint):
    _regional_table(moto_endpoint, "us-east-1", _map_item())
    env = {**base_env, "AZURE_AUTH_TABLE": "AzureAuth", "AZURE_AUTH_ITEM": "login_auth_az_true",
           "AZURE_AUTH_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto_endpoint, "AWS_REGION": "us-west-2"}  # fmt: skip
    with running_emulator(catalog=None) as emu:
        settings = load_settings({**env, "SPOTLAKE_EMULATOR_URL": emu.url})
        assert (settings.aws_region, settings.azure.auth_region) == ("us-west-2", "us-east-1")
        auth = load_azure_auth(settings)
        assert auth.subscription_ids == tuple(SUBS.split(","))
        assert auth.bearer_token()
        assert emu.stats()["token"]["status"].get("200") == 1
    assert MAP_SECRET not in repr(auth) and MAP_SECRET not in repr(settings)


def test_the_auth_table_looked_up_in_the_wrong_region_says_so(base_env, moto_endpoint):
    _regional_table(moto_endpoint, "us-east-1", _map_item())
    env = {**base_env, "AZURE_AUTH_TABLE": "AzureAuth", "AZURE_AUTH_ITEM": "login_auth_az_true",
           "AWS_ENDPOINT_URL": moto_endpoint, "AWS_REGION": "us-west-2"}  # fmt: skip
    with running_emulator(catalog=None) as emu, pytest.raises(RunFailed) as info:
        load_azure_auth(load_settings({**env, "SPOTLAKE_EMULATOR_URL": emu.url}))
    message = str(info.value)
    assert "'AzureAuth' in us-west-2" in message and "ResourceNotFoundException" in message
    assert "AZURE_AUTH_REGION" in message
    assert MAP_SECRET not in message


@pytest.mark.parametrize("region", ["us_east_1", "US-EAST-1", "east"])
def test_a_malformed_auth_region_is_a_configuration_error(base_env, region: str):
    with pytest.raises(ConfigError, match="AZURE_AUTH_REGION"):
        load_settings({**base_env, "AZURE_AUTH_TABLE": "AzureAuth", "AZURE_AUTH_REGION": region})


def test_the_auth_region_defaults_to_the_jobs_region(base_env):
    settings = load_settings({**base_env, "AWS_REGION": "eu-west-1"})
    assert settings.azure.auth_region == "eu-west-1"
