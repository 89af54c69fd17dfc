"""Storage keys (docs/contract.md 5), the desired-count rotation, and shared column lists.

Every key is relative to the store root; one function per object kind so no caller builds a key by hand.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from utils.errors import UsageError
from utils.timestamps import slot_date_path, slot_hhmm

DESIRED_COUNTS: tuple[int, ...] = (1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50)

RAW_PREFIX = "rawdata/azure"
PRICE_PREFIX = f"{RAW_PREFIX}/spot_price"
IF_PREFIX = f"{RAW_PREFIX}/spot_if"
SPS_PREFIX = f"{RAW_PREFIX}/sps"
MONITORING_PREFIX = f"{RAW_PREFIX}/monitoring"

SPS_METADATA_KEY = f"{RAW_PREFIX}/localfile/sps_metadata.yaml"
SPS_SAVED_PREFIX = "sps-collector/azure/saved_variable/availability-zones-true"
SPS_REQUEST_PLAN_KEY = "sps-collector/azure/request_plan.parquet"
LATEST_STATE_KEY = "latest_data/azure/latest_state.parquet"
LATEST_JSON_KEY = "latest_data/latest_azure.json"
QUERY_SELECTOR_KEY = "query-selector/azure/query_selector.json"
# SpotLake web client's dropdown file (InstanceType -> regions, tiers): ddps-lab/spotlake frontend, 2026-01.
ASSOCIATION_KEY = "query-selector/associated/association_azure.json"
TIMESERIES_PREFIX = "timeseries/azure"
LEASE_PREFIX = "locks/azure"

# Column lists (docs/contract.md 6).
KEY_COLUMNS = ["InstanceTier", "InstanceType", "Region"]
PRICE_COLUMNS = [*KEY_COLUMNS, "RegionName", "OndemandPrice", "SpotPrice", "Savings"]
IF_COLUMNS = [*KEY_COLUMNS, "IF", "InstanceFamily", "Zones"]
SPS_COLUMNS = [*KEY_COLUMNS, "AvailabilityZone", "DesiredCount", "Score", "ScoreLabel", "Time"]
MERGED_COLUMNS = [
    "InstanceTier", "InstanceType", "Region", "RegionName", "InstanceFamily", "OndemandPrice", "SpotPrice",
    "Savings", "IF", "DesiredCount", "AvailabilityZone", "Score", "T2", "T3", "Time",
]  # fmt: skip
ROW_KEY_COLUMNS = [*KEY_COLUMNS, "AvailabilityZone"]


def price_key(slot: datetime) -> str:
    return f"{PRICE_PREFIX}/{slot_date_path(slot)}/{slot_hhmm(slot)}_spot_price.parquet"


def if_key(slot: datetime) -> str:
    return f"{IF_PREFIX}/{slot_date_path(slot)}/{slot_hhmm(slot)}_spot_if.parquet"


def sps_key(slot: datetime, desired_count: int) -> str:
    return f"{SPS_PREFIX}/{slot_date_path(slot)}/{slot_hhmm(slot)}_sps_{desired_count}.parquet"


def archive_key(slot: datetime) -> str:
    """Public CSV.gz archive of the merged dataset (``HH-MM-SS``: SpotLake's historical name)."""
    return f"{RAW_PREFIX}/{slot_date_path(slot)}/{slot.strftime('%H-%M-%S')}.csv.gz"


def timeseries_parquet_key(slot: datetime) -> str:
    return f"{TIMESERIES_PREFIX}/{slot_date_path(slot)}/{slot_hhmm(slot)}.parquet"


def monitoring_key(kind: str, slot: datetime, name: str) -> str:
    """``kind`` is one of executionTime, memory, instanceType."""
    if kind not in {"executionTime", "memory", "instanceType"}:
        raise ValueError(f"unknown monitoring kind {kind!r}")
    return f"{MONITORING_PREFIX}/{kind}/{slot_date_path(slot)}/{slot_hhmm(slot)}_{name}"


def sps_saved_key(name: str) -> str:
    """A JSON state file of the SPS collector, e.g. ``invalid_regions.json``."""
    return f"{SPS_SAVED_PREFIX}/{name}"


_SPS_KEY_RE = re.compile(
    r"^(?:.*/)?" + re.escape(SPS_PREFIX) + r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})-(\d{2})_sps_(\d+)\.parquet$"
)


def parse_sps_key(key: str) -> tuple[datetime, int]:
    """The (slot, desired count) encoded in a raw SPS key; UsageError when the key is not one."""
    match = _SPS_KEY_RE.match(key.strip())
    if match is None:
        raise UsageError(f"not a raw SPS key: {key!r} (expected {SPS_PREFIX}/YYYY/MM/DD/HH-MM_sps_N.parquet)")
    year, month, day, hour, minute, count = (int(g) for g in match.groups())
    try:
        slot = datetime(year, month, day, hour, minute, tzinfo=UTC)
    except ValueError as exc:
        raise UsageError(f"not a raw SPS key: {key!r} ({exc})") from exc
    if count not in DESIRED_COUNTS:
        raise UsageError(f"raw SPS key {key!r} names desired count {count}, not one of {DESIRED_COUNTS}")
    return slot, count
