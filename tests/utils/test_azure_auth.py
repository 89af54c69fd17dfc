"""Azure credential sources against the emulator's token endpoint and a DynamoDB auth table in moto."""

from __future__ import annotations

import boto3
import pytest
from azure.core.exceptions import ClientAuthenticationError

from emulator.testing import running_emulator
from utils.azure_auth import EMULATOR_TENANT, EmulatorTokenCredential, emulator_subscription_ids, load_azure_auth
from utils.errors import RunFailed
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
