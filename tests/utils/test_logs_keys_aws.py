"""Small foundation pieces: one-line component logs, progress lines, storage keys, the AWS client factory."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from utils.aws import aws_client
from utils.constants import (
    DESIRED_COUNTS,
    archive_key,
    if_key,
    monitoring_key,
    parse_sps_key,
    price_key,
    sps_key,
    sps_saved_key,
    timeseries_parquet_key,
)
from utils.errors import UsageError
from utils.logs import Progress, setup_logging
from utils.settings import load_settings

SLOT = datetime(2025, 12, 3, 9, 40, tzinfo=UTC)


def test_log_lines_carry_level_and_component_and_fold_tracebacks(capfd) -> None:
    log = setup_logging("price")
    try:
        raise ValueError("line one\nline two")
    except ValueError:
        log.exception("page failed")
    logging.getLogger("utils.store").warning("multi\nline")
    lines = capfd.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert " ERROR [price] price: page failed" in lines[0] and "ValueError: line one | line two" in lines[0]
    assert " WARNING [price] utils.store: multi | line" in lines[1]


def test_chatty_client_libraries_are_quiet_at_info() -> None:
    setup_logging("merge")
    assert not logging.getLogger("botocore").isEnabledFor(logging.INFO)
    assert logging.getLogger("botocore").isEnabledFor(logging.WARNING)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_logs_at_most_every_interval_and_always_at_the_end(caplog) -> None:
    caplog.set_level(logging.INFO)
    clock = _Clock()
    progress = Progress(logging.getLogger("sps"), "calls", total=10, interval=15.0, clock=clock)
    for _ in range(4):
        clock.now += 5.0
        progress.advance(1, http_429=1)
    progress.count(retries=2)
    clock.now += 20.0
    progress.advance(6)
    progress.finish()
    messages = [r.getMessage() for r in caplog.records if r.name == "sps"]
    assert messages == [
        "calls 3/10 (30.0%) 0.2/s elapsed=15.0s http_429=3",
        "calls 10/10 (100.0%) 0.2/s elapsed=40.0s http_429=4 retries=2",
        "calls 10/10 (100.0%) 0.2/s elapsed=40.0s http_429=4 retries=2 done",
    ]


def test_storage_keys_follow_the_spec_layout() -> None:
    assert price_key(SLOT) == "rawdata/azure/spot_price/2025/12/03/09-40_spot_price.parquet"
    assert if_key(SLOT) == "rawdata/azure/spot_if/2025/12/03/09-40_spot_if.parquet"
    assert sps_key(SLOT, 15) == "rawdata/azure/sps/2025/12/03/09-40_sps_15.parquet"
    assert archive_key(SLOT) == "rawdata/azure/2025/12/03/09-40-00.csv.gz"
    assert timeseries_parquet_key(SLOT) == "timeseries/azure/2025/12/03/09-40.parquet"
    assert monitoring_key("memory", SLOT, "sps.csv.gz") == "rawdata/azure/monitoring/memory/2025/12/03/09-40_sps.csv.gz"
    assert sps_saved_key("last_run.json") == "sps-collector/azure/saved_variable/availability-zones-true/last_run.json"
    with pytest.raises(ValueError):
        monitoring_key("disk", SLOT, "x")


@pytest.mark.parametrize("count", DESIRED_COUNTS)
def test_sps_keys_parse_back_to_slot_and_count(count: int) -> None:
    assert parse_sps_key(sps_key(SLOT, count)) == (SLOT, count)
    assert parse_sps_key(f"s3-prefix/{sps_key(SLOT, count)}\n") == (SLOT, count)


@pytest.mark.parametrize(
    "key",
    [
        "rawdata/azure/sps/2025/12/03/09-40_sps_7.parquet",  # not a rotation count
        "rawdata/azure/sps/2025/13/03/09-40_sps_5.parquet",  # no month 13
        "rawdata/azure/spot_if/2025/12/03/09-40_spot_if.parquet",
        "",
    ],
)
def test_other_keys_are_not_sps_keys(key: str) -> None:
    with pytest.raises(UsageError):
        parse_sps_key(key)


def test_aws_clients_use_the_configured_endpoint_and_region(base_env) -> None:
    settings = load_settings({**base_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:5999", "AWS_REGION": "eu-west-1"})
    client = aws_client("timestream-write", settings)
    assert client.meta.endpoint_url == "http://127.0.0.1:5999"
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.retries["mode"] == "standard"
    default = aws_client("s3", load_settings(base_env))
    assert default.meta.endpoint_url.startswith("https://") and "amazonaws.com" in default.meta.endpoint_url
