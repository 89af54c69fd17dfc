"""The public shape of the dataset, in one place: what SpotLake's consumers read (its web client, the query
API over Timestream, the monthly archive zips, researchers' scripts). Pure functions, no I/O.

Internally (state, joins, raw datasets) ``Region`` is the ARM code (``eastus``) and ``RegionName`` the
Retail Prices display location (``US East``). Every public output is built from ``public_frame``, which
turns an internal merged frame into SpotLake's naming:

=================  =========================================================================================
column             public meaning
=================  =========================================================================================
InstanceTier       ``Standard`` / ``Basic``
InstanceType       the size without its tier, ARM casing (``D2s_v3``)
Region             the display location (``US East``); the ARM code when no display location is known
RegionCode         the ARM code (``eastus``)
InstanceFamily     the VM family from Compute Resource SKUs (``standardDSv3Family``)
OndemandPrice      USD per hour, Linux, pay-as-you-go (Retail Prices ``Consumption``); -1 when unknown
SpotPrice          USD per hour, Linux, Spot; -1 when unknown
Savings            (OndemandPrice - SpotPrice) / OndemandPrice * 100, percent; -1 when unknown
IF                 interruption-frequency score 3.0 (eviction 0-5 %) ... 1.0 (20 %+); -1 when unknown
DesiredCount       the VM count of the row's last SPS probe (1, 5, ..., 50)
AvailabilityZone   ``1``/``2``/``3``, ``Single`` for a regional score; ``N/A`` when unknown
Score              Spot Placement Score 3 High / 2 Medium / 1 Low; -1 when no score
T2, T3             largest DesiredCount that scored Medium-or-High / High; 0 when none did
Time               ``YYYY-MM-DD HH:MM:SS`` UTC: the slot of the row's last SPS probe (older than the
                   file's slot for a row carried without a probe); ``N/A`` when never probed
=================  =========================================================================================

Missing numbers are -1 and missing text ``N/A``. Sources of the shape: SpotLake's Azure collector and
web client, public repository ddps-lab/spotlake (``collector/spot-dataset/azure``, ``frontend/``),
observed 2026-01.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from utils.constants import KEY_COLUMNS
from utils.timeseries import TIMESERIES_COLUMNS

MISSING_NUMBER = -1
MISSING_TEXT = "N/A"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # UTC, no zone suffix: what SpotLake's AWS, GCP and Azure tabs show

PUBLIC_COLUMNS = [
    "InstanceTier", "InstanceType", "Region", "RegionCode", "InstanceFamily", "OndemandPrice", "SpotPrice",
    "Savings", "IF", "DesiredCount", "AvailabilityZone", "Score", "T2", "T3", "Time",
]  # fmt: skip
# Text that comes from Azure's APIs (neutralised in the CSV archive, see ``csv_safe``).
API_TEXT_COLUMNS = ("InstanceTier", "InstanceType", "Region", "RegionCode", "InstanceFamily", "AvailabilityZone")
FLOAT_COLUMNS = ("OndemandPrice", "SpotPrice", "Savings", "IF")
INT_COLUMNS = ("DesiredCount", "Score", "T2", "T3")
SELECTOR_COLUMNS = KEY_COLUMNS  # InstanceTier, InstanceType, Region (display location)
# A spreadsheet evaluates a cell starting with one of these as a formula (OWASP "CSV Injection").
FORMULA_PREFIXES = ("=", "+", "-", "@")


def display_region(merged: pd.DataFrame) -> pd.Series:
    """The public Region of each row: its display location, else its ARM code."""
    return merged["RegionName"].where(merged["RegionName"].notna(), merged["Region"]).astype("str")


def unknown_display_rows(merged: pd.DataFrame) -> int:
    """How many rows have no display location (their public Region is the ARM code)."""
    return int(merged["RegionName"].isna().sum())


def public_frame(merged: pd.DataFrame) -> pd.DataFrame:
    """An internal merged frame (``MERGED_COLUMNS``) in the public shape (``PUBLIC_COLUMNS``, see the module
    docstring); the one function every public writer uses."""
    out = pd.DataFrame(index=pd.RangeIndex(len(merged)))
    merged = merged.reset_index(drop=True)
    for column in PUBLIC_COLUMNS:
        if column == "Region":
            out[column] = display_region(merged)
        elif column == "RegionCode":
            out[column] = merged["Region"].astype("str")
        elif column in API_TEXT_COLUMNS:
            # An empty text is as missing as no text: a SKU record without a family must read "N/A", never "".
            text = merged[column].fillna(MISSING_TEXT).astype("str")
            out[column] = text.mask(text.str.strip() == "", MISSING_TEXT)
        elif column in FLOAT_COLUMNS:
            out[column] = merged[column].astype("float64").fillna(float(MISSING_NUMBER))
        elif column in INT_COLUMNS:
            out[column] = pd.to_numeric(merged[column]).round().fillna(MISSING_NUMBER).astype("int64")
        else:
            out[column] = merged[column].dt.strftime(TIME_FORMAT).fillna(MISSING_TEXT).astype("str")
    return out


def csv_safe(public: pd.DataFrame) -> pd.DataFrame:
    """``public`` with API text cells that a spreadsheet would run as a formula prefixed with ``'``.

    Numbers are untouched (``-1`` stays a number); only text from Azure's APIs can carry such a prefix.
    """
    out = public.copy()
    for column in API_TEXT_COLUMNS:
        values = out[column].astype("str")
        risky = values.str.startswith(FORMULA_PREFIXES)
        if risky.any():
            out[column] = values.where(~risky, "'" + values)
    return out


def timeseries_frame(merged_rows: pd.DataFrame) -> pd.DataFrame:
    """Merged rows as time-series records (``TIMESERIES_COLUMNS``), in the public naming."""
    return public_frame(merged_rows)[TIMESERIES_COLUMNS]


def region_display_names(merged: pd.DataFrame) -> dict[str, str]:
    """Lower-cased ARM code -> display location, from the rows that have one."""
    known = merged.loc[merged["RegionName"].notna(), ["Region", "RegionName"]].astype("str")
    known = known.assign(Region=known["Region"].str.lower()).drop_duplicates("Region")
    return dict(zip(known["Region"], known["RegionName"], strict=True))


def query_selector(
    previous: Iterable[dict[str, Any]] | None, public: pd.DataFrame, display_names: dict[str, str]
) -> tuple[list[dict[str, str]], int]:
    """(selector, renamed): sorted distinct (InstanceTier, InstanceType, Region) ever seen, the previous
    selector united with this dataset's; ``renamed`` counts previous entries whose Region was an ARM code
    (written before the public naming cutover) and now names its display location."""
    frames = [public[SELECTOR_COLUMNS].astype("str")]
    renamed = 0
    if previous:
        before = pd.DataFrame(list(previous), columns=SELECTOR_COLUMNS).astype("str")
        display = before["Region"].str.lower().map(display_names)
        is_code = display.notna() & (display != before["Region"])
        renamed = int(is_code.sum())
        frames.append(before.assign(Region=before["Region"].where(~is_code, display)))
    pairs = pd.concat(frames, ignore_index=True).drop_duplicates().sort_values(SELECTOR_COLUMNS, kind="stable")
    return pairs.to_dict(orient="records"), renamed


def association(selector: list[dict[str, str]]) -> list[dict[str, dict[str, list[str]]]]:
    """SpotLake's web-client dropdown file: ``[{InstanceType: {"Region": [...], "InstanceTier": [...]}}]``,
    one element, sizes and their lists sorted, from the query selector (every pair ever seen)."""
    pairs = pd.DataFrame(selector, columns=SELECTOR_COLUMNS).astype("str")
    by_type = pairs.groupby("InstanceType", sort=True)
    regions = by_type["Region"].unique()
    tiers = by_type["InstanceTier"].unique()
    return [
        {
            size: {"Region": sorted(regions[size].tolist()), "InstanceTier": sorted(tiers[size].tolist())}
            for size in regions.index
        }
    ]


def metrics_message(merged: pd.DataFrame) -> str:
    """SpotLake's CloudWatch collection-count line: rows with an on-demand price, a spot price, an IF,
    an SPS score (``AZUREONDEMAND: n AZURESPOT: n AZUREIF: n AZURESPS: n``)."""
    return (
        f"AZUREONDEMAND: {int(merged['OndemandPrice'].notna().sum())} "
        f"AZURESPOT: {int(merged['SpotPrice'].notna().sum())} "
        f"AZUREIF: {int(merged['IF'].notna().sum())} "
        f"AZURESPS: {int(merged['Score'].notna().sum())}"
    )
