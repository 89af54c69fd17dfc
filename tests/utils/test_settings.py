"""The settings object (docs/contract.md 4): defaults, every scheme, validation -> ConfigError (exit 2), no secrets
in repr."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from utils.errors import EXIT_USAGE, ConfigError
from utils.settings import load_settings

SERVICE_PRINCIPAL = {
    "AZURE_TENANT_ID": "tenant-1",
    "AZURE_CLIENT_ID": "client-1",
    "AZURE_CLIENT_SECRET": "s3cr3t-value-never-logged",
    "AZURE_SUBSCRIPTION_IDS": "sub-a, sub-b,",
}


def test_an_empty_environment_gives_a_local_emulator_run(tmp_path: Path) -> None:
    settings = load_settings({}, cwd=tmp_path)
    root = (tmp_path / "spotlake-data").resolve()
    assert (settings.store.kind, settings.store.root) == ("local", root)
    assert (settings.timeseries.kind, settings.timeseries.sqlite_path) == ("sqlite", root / "timeseries.db")
    assert settings.metrics.kind == "file" and settings.metrics.path.is_relative_to(root)
    assert settings.emulator.enabled and settings.emulator.url is None
    assert settings.azure.arm_endpoint == "https://management.azure.com"
    assert settings.azure.auth_item == "default"
    assert settings.aws_endpoint_url is None and settings.aws_region == "us-west-2"
    assert settings.sps_key_file == Path("/tmp/sps_key.txt")
    assert (settings.sps_quota_per_location, settings.sps_quota_window_minutes) == (10, 62)
    assert (settings.fallback_max_age_hours, settings.clock, settings.alert_owner) == (24, "wall", "self")
    assert settings.public_read is False and settings.slack_webhook_url is None


def test_settings_are_frozen() -> None:
    settings = load_settings({}, cwd=Path("/tmp"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.clock = "slot"  # type: ignore[misc]


@pytest.mark.parametrize("form", ["file://{abs}", "{abs}", "./rel/data", "rel/data"])
def test_every_local_store_form_resolves_to_an_absolute_directory(tmp_path: Path, form: str) -> None:
    value = form.format(abs=tmp_path / "abs")
    settings = load_settings({"SPOTLAKE_STORE": value}, cwd=tmp_path)
    expected = tmp_path / "abs" if "{abs}" in form else tmp_path / "rel" / "data"
    assert settings.store.root == expected.resolve()
    assert settings.store.describe() == str(expected.resolve())


def test_an_s3_store_defaults_to_timestream_and_cloudwatch() -> None:
    settings = load_settings({"SPOTLAKE_STORE": "s3://bucket-x/some/prefix/", **SERVICE_PRINCIPAL})
    assert (settings.store.kind, settings.store.bucket, settings.store.prefix) == ("s3", "bucket-x", "some/prefix")
    assert settings.store.describe() == "s3://bucket-x/some/prefix"
    assert (settings.timeseries.kind, settings.timeseries.database, settings.timeseries.table) == (
        "timestream", "spotlake", "azure")  # fmt: skip
    assert (settings.metrics.kind, settings.metrics.log_group, settings.metrics.log_stream) == (
        "cloudwatch", "Collection-Data-Count", "Azure-Count")  # fmt: skip
    assert settings.azure.subscription_ids == ("sub-a", "sub-b")
    assert settings.emulator.enabled is False
    assert load_settings({"SPOTLAKE_STORE": "s3://bucket-x", **SERVICE_PRINCIPAL}).store.prefix == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sqlite:////var/ts.db", ("sqlite", Path("/var/ts.db"), None, None)),
        ("timestream://db1/tbl1", ("timestream", None, "db1", "tbl1")),
        ("parquet", ("parquet", None, None, None)),
        ("none", ("none", None, None, None)),
    ],
)
def test_every_timeseries_scheme(tmp_path: Path, value: str, expected: tuple) -> None:
    config = load_settings({"SPOTLAKE_TIMESERIES": value}, cwd=tmp_path).timeseries
    assert (config.kind, config.sqlite_path, config.database, config.table) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("file:///var/log/count.log", ("file", Path("/var/log/count.log"), None, None)),
        ("cloudwatch://Group/Stream", ("cloudwatch", None, "Group", "Stream")),
        ("none", ("none", None, None, None)),
    ],
)
def test_every_metrics_scheme(tmp_path: Path, value: str, expected: tuple) -> None:
    config = load_settings({"SPOTLAKE_METRICS": value}, cwd=tmp_path).metrics
    assert (config.kind, config.path, config.log_group, config.log_stream) == expected


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"SPOTLAKE_STORE": "ftp://host/dir"}, "SPOTLAKE_STORE"),
        ({"SPOTLAKE_STORE": "s3://"}, "missing bucket"),
        ({"SPOTLAKE_STORE": "s3:///prefix-only"}, "missing bucket"),
        ({"SPOTLAKE_STORE": "file://relative/dir"}, "absolute path"),
        ({"SPOTLAKE_TIMESERIES": "mysql://db"}, "SPOTLAKE_TIMESERIES"),
        ({"SPOTLAKE_TIMESERIES": "timestream://onlydb"}, "timestream://DATABASE/TABLE"),
        ({"SPOTLAKE_TIMESERIES": "sqlite://relative.db"}, "SPOTLAKE_TIMESERIES"),
        ({"SPOTLAKE_METRICS": "cloudwatch://group-only"}, "cloudwatch://LOG_GROUP/LOG_STREAM"),
        ({"SPOTLAKE_METRICS": "syslog://x"}, "SPOTLAKE_METRICS"),
        ({"SPOTLAKE_PRICE_WORKERS": "eight"}, "SPOTLAKE_PRICE_WORKERS"),
        ({"SPOTLAKE_SPS_WORKERS": "0"}, ">= 1"),
        ({"SPOTLAKE_SPS_QUOTA": "1.5"}, "SPOTLAKE_SPS_QUOTA"),
        ({"SPOTLAKE_LEASE_TTL": "-5"}, "SPOTLAKE_LEASE_TTL"),
        ({"SPOTLAKE_HTTP_TIMEOUT": "soon"}, "SPOTLAKE_HTTP_TIMEOUT"),
        ({"SPOTLAKE_HTTP_TIMEOUT": "0"}, "> 0"),
        ({"SPOTLAKE_PUBLIC_READ": "maybe"}, "SPOTLAKE_PUBLIC_READ"),
        ({"SPOTLAKE_AZURE_EMULATOR": "on"}, "SPOTLAKE_AZURE_EMULATOR"),
        ({"SPOTLAKE_CLOCK": "lunar"}, "SPOTLAKE_CLOCK"),
        ({"SPOTLAKE_ALERT_OWNER": "nobody"}, "SPOTLAKE_ALERT_OWNER"),
        ({"AZURE_ARM_ENDPOINT": "management.azure.com"}, "AZURE_ARM_ENDPOINT"),
        ({"AWS_ENDPOINT_URL": "ftp://127.0.0.1:5000"}, "AWS_ENDPOINT_URL"),
        ({"SPOTLAKE_EMULATOR_URL": "not a url"}, "SPOTLAKE_EMULATOR_URL"),
        ({"SPOTLAKE_EMULATOR_CATALOG": "/nonexistent/catalog.csv"}, "not a readable file"),
        ({"SPOTLAKE_FALLBACK_MAX_AGE_HOURS": "72"}, "at most 24"),
        ({"SPOTLAKE_RETRY_BASE_DELAY": "-1"}, "SPOTLAKE_RETRY_BASE_DELAY"),
        ({"SPOTLAKE_RETRY_MAX_ATTEMPTS": "0"}, "SPOTLAKE_RETRY_MAX_ATTEMPTS"),
    ],
)
def test_invalid_configuration_is_a_config_error_naming_the_problem(tmp_path: Path, env: dict, names: str) -> None:
    with pytest.raises(ConfigError, match=names.replace("(", r"\(").replace(".", r"\.")) as info:
        load_settings(env, cwd=tmp_path)
    assert info.value.exit_code == EXIT_USAGE


def test_a_store_path_that_is_a_file_or_under_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="not a directory"):
        load_settings({"SPOTLAKE_STORE": str(blocker)}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="not a directory"):
        load_settings({"SPOTLAKE_STORE": str(blocker / "below")}, cwd=tmp_path)


def test_a_read_only_store_directory_is_a_store_failure_of_the_run_not_bad_input(tmp_path: Path) -> None:
    # Issue 14.3: the run finds it when it takes the lease (exit 1, one alert), see
    # tests/scripts/test_run_collection_lease.py; the settings themselves are valid.
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert load_settings({"SPOTLAKE_STORE": str(locked / "data")}, cwd=tmp_path).store.root == locked / "data"


def test_the_lease_lifetime_follows_the_job_timeout() -> None:
    base = {"SPOTLAKE_AZURE_EMULATOR": "1"}
    settings = load_settings(base, cwd=Path("/tmp"))
    assert (settings.job_timeout_seconds, settings.lease_ttl_seconds) == (540, 570)  # Terraform's 540 s + 30 s
    settings = load_settings({**base, "SPOTLAKE_JOB_TIMEOUT": "300"}, cwd=Path("/tmp"))
    assert settings.lease_ttl_seconds == 330
    settings = load_settings({**base, "SPOTLAKE_JOB_TIMEOUT": "300", "SPOTLAKE_LEASE_TTL": "45"}, cwd=Path("/tmp"))
    assert settings.lease_ttl_seconds == 45
    with pytest.raises(ConfigError, match="SPOTLAKE_JOB_TIMEOUT"):
        load_settings({**base, "SPOTLAKE_JOB_TIMEOUT": "soon"}, cwd=Path("/tmp"))


def test_secrets_never_appear_in_the_settings_repr() -> None:
    webhook = "https://hooks.slack.com/services/T000/B000/very-secret-token"
    settings = load_settings({**SERVICE_PRINCIPAL, "error_notification_slack_webhook_url": webhook},
                             cwd=Path("/tmp"))  # fmt: skip
    text = repr(settings) + str(settings) + repr(settings.azure)
    assert settings.azure.client_secret == SERVICE_PRINCIPAL["AZURE_CLIENT_SECRET"]
    assert settings.slack_webhook_url == webhook
    assert SERVICE_PRINCIPAL["AZURE_CLIENT_SECRET"] not in text
    assert "very-secret-token" not in text and "hooks.slack.com" not in text


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({}, True),  # no credential, local store
        (SERVICE_PRINCIPAL, False),
        ({"AZURE_AUTH_TABLE": "AzureAuth"}, False),
        ({**SERVICE_PRINCIPAL, "SPOTLAKE_AZURE_EMULATOR": "1"}, True),
        ({"SPOTLAKE_STORE": "s3://bucket-x", "SPOTLAKE_AZURE_EMULATOR": "1"}, True),
        ({"SPOTLAKE_STORE": "s3://bucket-x", "AZURE_AUTH_TABLE": "AzureAuth"}, False),
        ({**SERVICE_PRINCIPAL, "AZURE_SUBSCRIPTION_IDS": ""}, True),  # incomplete principal = no credential
    ],
)
def test_emulator_auto_enable_rules(tmp_path: Path, env: dict, enabled: bool) -> None:
    assert load_settings(env, cwd=tmp_path).emulator.enabled is enabled


@pytest.mark.parametrize(
    "env",
    [{"SPOTLAKE_STORE": "s3://bucket-x"}, {"SPOTLAKE_AZURE_EMULATOR": "0"}],
)
def test_no_credential_and_no_emulator_is_a_config_error(tmp_path: Path, env: dict) -> None:
    with pytest.raises(ConfigError, match="no Azure credential"):
        load_settings(env, cwd=tmp_path)


def test_a_running_emulator_url_replaces_every_azure_endpoint(tmp_path: Path) -> None:
    settings = load_settings({"SPOTLAKE_EMULATOR_URL": "http://127.0.0.1:8123/"}, cwd=tmp_path)
    azure = settings.azure
    assert settings.emulator.url == "http://127.0.0.1:8123"
    assert azure.arm_endpoint == azure.prices_endpoint == azure.authority == "http://127.0.0.1:8123"


def test_an_emulator_url_is_ignored_for_endpoints_when_emulator_mode_is_off(tmp_path: Path) -> None:
    settings = load_settings({**SERVICE_PRINCIPAL, "SPOTLAKE_EMULATOR_URL": "http://127.0.0.1:8123"}, cwd=tmp_path)
    assert settings.azure.arm_endpoint == "https://management.azure.com"


def test_overrides_are_read(tmp_path: Path, us_catalog_path: Path) -> None:
    settings = load_settings(
        {
            "SPOTLAKE_EMULATOR_CATALOG": str(us_catalog_path),
            "SPOTLAKE_SPS_QUOTA": "7",
            "SPOTLAKE_HTTP_TIMEOUT": "2.5",
            "SPOTLAKE_PUBLIC_READ": "1",
            "SPS_KEY_FILE": str(tmp_path / "k.txt"),
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000/",
            "SPOTLAKE_ALERT_OWNER": "orchestrator",
            "SPOTLAKE_CLOCK": "slot",
        },
        cwd=tmp_path,
    )
    assert settings.emulator.catalog == us_catalog_path.resolve()
    assert (settings.sps_quota_per_location, settings.http_timeout, settings.public_read) == (7, 2.5, True)
    assert (settings.aws_region, settings.aws_endpoint_url) == ("eu-west-1", "http://127.0.0.1:5000")
    assert (settings.alert_owner, settings.clock, settings.sps_key_file) == ("orchestrator", "slot", tmp_path / "k.txt")


# --- issue 13 item 6 and issue 14: typos never become data -----------------------------------------------
STORE_TYPOS = {
    "s3:/bucket": "mistyped URL",
    "s3//bucket": "mistyped URL",
    "s3:bucket": "mistyped URL",
    "S3:/Bucket": "mistyped URL",
    "file:/abs/dir": "mistyped URL",
    "file//abs/dir": "mistyped URL",
    "sqlite:///x.db": "mistyped URL",
    "http://example.invalid/x": "unsupported scheme 'http'",
    "gs://bucket": "unsupported scheme 'gs'",
    "data:2025": "unsupported scheme 'data'",
    "file://host/abs": "absolute path",
    "s3:///prefix": "missing bucket",
}


@pytest.mark.parametrize("value", list(STORE_TYPOS))
def test_a_store_value_that_looks_like_a_mistyped_url_is_exit_2(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=STORE_TYPOS[value]) as info:
        load_settings({"SPOTLAKE_STORE": value}, cwd=tmp_path)
    assert info.value.exit_code == EXIT_USAGE
    assert not any(tmp_path.iterdir())  # nothing was created for it


@pytest.mark.parametrize(
    ("value", "relative"),
    [("~/spot", "home/spot"), ("~", "home"), ("./s3:/bucket", "cwd/s3:/bucket"), ("s3/bucket", "cwd/s3/bucket"),
     ("file:///{tmp}/my%20store", "my store"), ("file://localhost/{tmp}/x%23y", "x#y")],
)
def test_home_is_expanded_file_urls_are_decoded_and_plain_paths_stay_paths(
    tmp_path: Path, value: str, relative: str
) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "cwd").mkdir()
    env = {"SPOTLAKE_STORE": value.format(tmp=str(tmp_path).lstrip("/")), "HOME": str(tmp_path / "home")}
    settings = load_settings(env, cwd=tmp_path / "cwd")
    assert settings.store.root == (tmp_path / relative).resolve()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("sqlite:///rel/ts.db", "cwd/rel/ts.db"), ("sqlite:////{tmp}/abs.db", "abs.db"),
     ("sqlite:////{tmp}/with%20space.db", "with space.db")],
)
def test_sqlite_urls_follow_the_three_slash_relative_four_slash_absolute_convention(
    tmp_path: Path, value: str, expected: str
) -> None:
    (tmp_path / "cwd").mkdir()
    env = {"SPOTLAKE_TIMESERIES": value.format(tmp=str(tmp_path).lstrip("/"))}
    assert load_settings(env, cwd=tmp_path / "cwd").timeseries.sqlite_path == tmp_path / expected


def test_a_metrics_file_url_is_percent_decoded(tmp_path: Path) -> None:
    env = {"SPOTLAKE_METRICS": f"file://{tmp_path}/count%20log.txt"}
    assert load_settings(env, cwd=tmp_path).metrics.path == tmp_path / "count log.txt"


def test_local_sink_files_under_a_file_are_refused_at_start(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    for name, value in (("SPOTLAKE_TIMESERIES", f"sqlite:///{blocker}/ts.db"),
                        ("SPOTLAKE_METRICS", f"file://{blocker}/count.log")):  # fmt: skip
        with pytest.raises(ConfigError, match=f"{name}=.*not writable"):
            load_settings({name: value}, cwd=tmp_path)


def test_an_unwritable_handoff_file_is_refused_at_start_not_after_the_sweep(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"SPS_KEY_FILE=.*not writable"):
        load_settings({"SPS_KEY_FILE": str(blocker / "sps_key.txt")}, cwd=tmp_path)
    with pytest.raises(ConfigError, match=r"SPS_KEY_FILE=.*is a directory"):
        load_settings({"SPS_KEY_FILE": str(tmp_path)}, cwd=tmp_path)
    settings = load_settings({"SPS_KEY_FILE": "~/k.txt", "HOME": str(tmp_path)}, cwd=tmp_path)
    assert settings.sps_key_file == tmp_path / "k.txt"


def test_entry_points_that_never_call_azure_need_no_azure_credential(tmp_path: Path) -> None:
    env = {"SPOTLAKE_AZURE_EMULATOR": "0"}
    with pytest.raises(ConfigError, match="no Azure credential"):
        load_settings(env, cwd=tmp_path)
    settings = load_settings(env, cwd=tmp_path, azure_credential=False)
    assert settings.emulator.enabled is False and not settings.azure.has_service_principal
