"""if/collect_if.py against the emulator (and moto for the DynamoDB credential): exact dataset, every fault
kind on Resource Graph and Resource SKUs, refused and missing credentials, a run by path."""

from __future__ import annotations

from pathlib import Path

import boto3
import pandas as pd
import pytest

from bench.modload import load_if_collector
from emulator.catalog import load_catalog
from emulator.testing import RunningEmulator, running_emulator
from tests.price.helpers import (
    EDGE_CATALOG,
    FAULT_KINDS,
    InProcessCollector,
    edge_emulator_fixtures,
    fast_policy,
    stored_keys,
)
from utils.azure_api.auth import load_azure_auth
from utils.azure_api.retry import RetryPolicy
from utils.constants import if_key
from utils.emulator_mode import with_emulator_url
from utils.if_dataset import IF_DATASET_COLUMNS, collect_if
from utils.settings import load_settings

IF = InProcessCollector("if", load_if_collector(), "if/collect_if.py", if_key)
# The edge-case catalog with 2 rows per page: Resource Graph and SKU listings both page.
edge_emulator, emu = edge_emulator_fixtures(page_size=2)


def expected_if() -> pd.DataFrame:
    return load_catalog(EDGE_CATALOG).expected_if()


def test_the_edge_catalog_if_dataset_equals_the_emulator_truth(emu: RunningEmulator, base_env: dict[str, str]) -> None:
    code, env = IF.run(emu.url, base_env)
    assert code == 0
    frame = IF.stored(env)
    pd.testing.assert_frame_equal(frame, expected_if())
    assert list(frame.columns) == IF_DATASET_COLUMNS
    stats = emu.stats()
    assert stats["resource_graph"]["calls"] >= 3  # 6 eviction rows, 2 per page
    assert stats["skus"]["calls"] >= 10
    nc = frame[frame["InstanceType"] == "NC24ads_A100_v4"].iloc[0]
    assert (nc["InstanceFamily"], nc["IF"]) == ("StandardNCADSA100v4Family", 1.0)


@pytest.mark.slow
def test_the_bundled_world_catalog_if_dataset_equals_the_emulator_truth(tmp_path: Path) -> None:
    # A roomy Resource Graph quota keeps this test short; quota waits are tested on their own below.
    with running_emulator(arg_quota=100) as world:
        settings = with_emulator_url(
            load_settings({"SPOTLAKE_STORE": str(tmp_path), "SPOTLAKE_AZURE_EMULATOR": "1"}), world.url)
        frame = collect_if(load_azure_auth(settings), timeout=30, retry_policy=fast_policy())
    pd.testing.assert_frame_equal(frame, load_catalog().expected_if())
    assert frame["IF"].notna().sum() > 20_000


def test_the_resource_graph_quota_is_waited_out_instead_of_failing(tmp_path: Path) -> None:
    # 6 eviction rows one per page, 2 queries per 0.5 s window: the collector must pause for the window.
    with running_emulator(catalog=EDGE_CATALOG, page_size=1, arg_quota=2, arg_window_s=0.5) as small:
        settings = with_emulator_url(
            load_settings({"SPOTLAKE_STORE": str(tmp_path), "SPOTLAKE_AZURE_EMULATOR": "1"}), small.url)
        policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=2.0)
        frame = collect_if(load_azure_auth(settings), timeout=5, retry_policy=policy)
        rg_status = small.stats()["resource_graph"]["status"]
    pd.testing.assert_frame_equal(frame, expected_if())
    assert rg_status.get("200") == 6


@pytest.mark.parametrize("api", ["resource_graph", "skus"])
@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_recoverable_fault_is_retried_and_gives_the_clean_dataset(
    api: str, kind: str, emu: RunningEmulator, base_env: dict[str, str]
) -> None:
    code, env = IF.run_with_fault(emu, base_env, api, kind, recoverable=True)
    assert code == 0
    pd.testing.assert_frame_equal(IF.stored(env), expected_if())


@pytest.mark.parametrize("api", ["resource_graph", "skus"])
@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_persistent_fault_fails_the_run_and_writes_nothing(
    api: str, kind: str, emu: RunningEmulator, base_env: dict[str, str]
) -> None:
    code, env = IF.run_with_fault(emu, base_env, api, kind, recoverable=False)
    assert code == 1
    assert stored_keys(env) == []


def test_a_refused_credential_fails_cleanly_without_a_traceback(
    emu: RunningEmulator, base_env: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    code, env = IF.run(emu.url, base_env, AZURE_CLIENT_SECRET="refused")
    assert code == 1
    err = capfd.readouterr().err
    assert "credential was refused" in err
    assert "Traceback" not in err
    assert stored_keys(env) == []


@pytest.fixture
def auth_table(moto_endpoint: str) -> str:
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-west-2")
    client.create_table(TableName="AzureAuth", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    return moto_endpoint


def dynamodb_env(base_env: dict[str, str], endpoint: str) -> dict[str, str]:
    return {**base_env, "SPOTLAKE_AZURE_EMULATOR": "0", "AZURE_AUTH_TABLE": "AzureAuth",
            "AWS_ENDPOINT_URL": endpoint, "SPOTLAKE_HTTP_TIMEOUT": "2"}


def test_a_missing_dynamodb_credential_item_fails_with_a_clear_error(
    auth_table: str, base_env: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    env = dynamodb_env(base_env, auth_table)
    assert IF.main(env, max_attempts=None) == 1
    err = capfd.readouterr().err
    assert "has no item with id='default'" in err
    assert "Traceback" not in err
    assert stored_keys(env) == []


def test_an_incomplete_dynamodb_credential_item_never_shows_its_secret(
    auth_table: str, base_env: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    client = boto3.client("dynamodb", endpoint_url=auth_table, region_name="us-west-2")
    client.put_item(TableName="AzureAuth", Item={"id": {"S": "default"}, "TenantId": {"S": "t"},
                                                 "ClientId": {"S": "c"}, "ClientSecret": {"S": "s3cr3t-value"}})
    env = dynamodb_env(base_env, auth_table)
    assert IF.main(env, max_attempts=None) == 1
    err = capfd.readouterr().err
    assert "SubscriptionId" in err
    assert "s3cr3t-value" not in err
    assert stored_keys(env) == []


def test_a_run_by_path_recovers_from_faults_and_stores_the_dataset(
    emu: RunningEmulator, base_env: dict[str, str]
) -> None:
    emu.set_faults("resource_graph:503@calls=2;skus:reset@calls=3")
    _err, env = IF.run_by_path(emu.url, base_env)
    pd.testing.assert_frame_equal(IF.stored(env), expected_if())
