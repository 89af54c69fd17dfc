"""SpotLake's production credential item, end to end (issue 11.7).

The real ``scripts/run_collection.sh`` runs with the job in us-west-2 and the ``AzureAuth`` table in us-east-1
(moto server on 127.0.0.1), item ``id = 'login_auth_az_true'`` with one map attribute ``data``; the three
collectors and the merge run against the bundled Azure emulator, which this test starts itself so that it can
see which subscriptions the SPS collector used and that the token exchange happened. The client secret must
appear nowhere: not in the script's output, not in any object of the store.
"""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path

import boto3
import pytest

from bench.reliability.script_runner import run_script, script_env
from emulator.testing import running_emulator
from tests.scripts.support import imds_stand_in, write_tiny_catalog
from utils.constants import LATEST_JSON_KEY

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("moto_server")]

AUTH_REGION, JOB_REGION = "us-east-1", "us-west-2"
ITEM_ID = "login_auth_az_true"
TENANT = "7a1c0d2e-3f40-4b5c-8d6e-9f0a1b2c3d4e"
CLIENT_ID = "b0b0c0c0-1111-4222-8333-444455556666"
SECRET = "prod-layout~Secret.DoNotLeak_8f3e2a"
# Subscriptions of our own (not the emulator's deterministic ones), so the emulator's ledger proves they came
# from the item.
SUBSCRIPTIONS = tuple(str(uuid.uuid5(uuid.NAMESPACE_URL, f"auth-item-e2e-{i}")) for i in range(3))


def provision_auth_table(endpoint: str) -> None:
    """The table as SpotLake has it: us-east-1, partition key id, the credential in one map attribute."""
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=AUTH_REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    ddb.create_table(TableName="AzureAuth", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")  # fmt: skip
    ddb.put_item(TableName="AzureAuth", Item={
        "id": {"S": ITEM_ID},
        "data": {"M": {"tenant_id": {"S": TENANT}, "client_id": {"S": CLIENT_ID}, "client_secret": {"S": SECRET},
                       "subscriptions": {"S": ", ".join(SUBSCRIPTIONS)}}},
    })  # fmt: skip


def job_env(tmp_path: Path, moto: str, emulator_url: str, imds: str, **extra: str) -> dict[str, str]:
    return script_env({
        "SPOTLAKE_STORE": str(tmp_path / "store"),
        "SPS_KEY_FILE": str(tmp_path / "sps_key.txt"),
        "SPOTLAKE_AZURE_EMULATOR": "1",
        "SPOTLAKE_EMULATOR_URL": emulator_url,
        "SPOTLAKE_IMDS_URL": imds,
        "AWS_ENDPOINT_URL": moto,
        "AWS_REGION": JOB_REGION,
        "AWS_DEFAULT_REGION": JOB_REGION,
        "AZURE_AUTH_TABLE": "AzureAuth",
        "AZURE_AUTH_ITEM": ITEM_ID,
        **extra,
    })  # fmt: skip


def store_texts(root: Path) -> list[tuple[Path, bytes]]:
    """Every file of the store as bytes, gzip members decompressed."""
    out = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        out.append((path, data))
    return out


def test_the_data_map_item_in_us_east_1_feeds_a_real_run_in_us_west_2(moto_endpoint: str, tmp_path: Path) -> None:
    provision_auth_table(moto_endpoint)
    catalog = write_tiny_catalog(tmp_path)
    with running_emulator(catalog=catalog) as emu, imds_stand_in("m7g.large") as imds:
        env = job_env(tmp_path, moto_endpoint, emu.url, imds, AZURE_AUTH_REGION=AUTH_REGION)
        run = run_script(env, "2025-12-13 13:00", cwd=tmp_path)
        token_calls = emu.stats()["token"]
        used_subscriptions = {key.split("/", 1)[0] for key in emu.state.sps_ledger.usage()}

    assert run.returncode == 0, run.stderr[-6000:]
    assert token_calls["status"].get("200", 0) >= 1
    # Every SPS call went to a subscription listed in the item's data map, none to the emulator's own ids.
    assert used_subscriptions and used_subscriptions <= set(SUBSCRIPTIONS)
    assert (tmp_path / "store" / LATEST_JSON_KEY).is_file()

    assert SECRET not in run.stdout and SECRET not in run.stderr
    leaked = [str(path) for path, data in store_texts(tmp_path / "store") if SECRET.encode() in data]
    assert leaked == []
    assert not (tmp_path / "sps_key.txt").exists() or SECRET not in (tmp_path / "sps_key.txt").read_text()


def test_without_the_auth_region_the_run_fails_loudly_naming_the_region_not_the_secret(
    moto_endpoint: str, tmp_path: Path
) -> None:
    provision_auth_table(moto_endpoint)
    with running_emulator(catalog=write_tiny_catalog(tmp_path)) as emu, imds_stand_in() as imds:
        run = run_script(job_env(tmp_path, moto_endpoint, emu.url, imds), "2025-12-13 13:00", cwd=tmp_path)
        sps_calls = sum(emu.state.sps_ledger.usage().values())

    assert run.returncode == 1, run.stderr[-4000:]
    output = run.stdout + run.stderr
    assert "'AzureAuth' in us-west-2" in output and "ResourceNotFoundException" in output
    assert "AZURE_AUTH_REGION" in output
    assert SECRET not in output
    assert sps_calls == 0
