"""The merged dataset of one slot (docs/contract.md 6 and 7), pure: SPS + price + IF + the previous merged dataset.

Rows: one per (tier, type, region, zone) that is probed in this slot (every SPS row, with or without a
price), plus every row of the previous merged dataset not probed now whose (tier, type, region) still has
a spot price in this slot's price data. Dropped: previous rows that are neither probed nor priced now.

- Probed rows take this slot's DesiredCount, Score and Time and update T2/T3 (``merge.t2t3``). A probe
  without a score (DataNotFoundOrStale, ...) is treated as no probe: a row known before keeps its last
  Score, DesiredCount, Time, T2 and T3; a row seen for the first time gets Score missing, T2 = T3 = 0.
- Carried (not probed) rows keep their last Score, DesiredCount, T2, T3 and Time.
- Every row takes this slot's OndemandPrice, SpotPrice, Savings (price) and IF, InstanceFamily (IF); missing
  where this slot's dataset has no such pair.
- RegionName (the display location, public ``Region``, see ``merge.public``) is a property of the region,
  not of the pair: the pair's price row, else any price row of the same ARM region, else the previous
  merged dataset's name for that region; missing only when neither knows the region.

Keys match case-insensitively; the output keeps ARM casing from the price dataset, else IF, else SPS (or
the previous state). Duplicate keys in an input (the same key in two casings) keep the first row (for SPS:
the first with a score). Output: ``MERGED_COLUMNS`` and then ``utils.vm_specs.MERGED_SPEC_COLUMNS`` (the
specs from this slot's IF dataset, like InstanceFamily, and SpotPricePerVcpu), sorted by ``ROW_KEY_COLUMNS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from merge.keys import contains, first_occurrence, key_codes, positions, sort_order
from merge.t2t3 import update_t2_t3
from utils.constants import KEY_COLUMNS, MERGED_COLUMNS, PRICE_COLUMNS, ROW_KEY_COLUMNS, SPS_COLUMNS
from utils.vm_specs import SPEC_COLUMNS, merged_specs

TEXT_COLUMNS = ("InstanceTier", "InstanceType", "Region", "RegionName", "InstanceFamily", "AvailabilityZone")
FLOAT_COLUMNS = ("OndemandPrice", "SpotPrice", "Savings", "IF", "Score")
INT_COLUMNS = ("DesiredCount", "T2", "T3")
TIME_DTYPE = "datetime64[us, UTC]"
IF_JOIN_COLUMNS = [*KEY_COLUMNS, "IF", "InstanceFamily"]  # IF_COLUMNS without Zones (not merged)


@dataclass(frozen=True)
class MatchRates:
    """How well the datasets joined; rates are None when their denominator is 0."""

    sps_rows: int
    sps_with_price: float | None  # SPS rows whose (tier, type, region) has a price row
    sps_with_if: float | None  # SPS rows whose (tier, type, region) has an IF row
    price_pairs: int
    price_with_sps: float | None  # price pairs probed by at least one SPS row

    def as_dict(self) -> dict[str, Any]:
        return {
            "sps_rows": self.sps_rows,
            "sps_with_price": self.sps_with_price,
            "sps_with_if": self.sps_with_if,
            "price_pairs": self.price_pairs,
            "price_with_sps": self.price_with_sps,
        }


@dataclass(frozen=True)
class JoinResult:
    merged: pd.DataFrame  # MERGED_COLUMNS + MERGED_SPEC_COLUMNS, sorted by ROW_KEY_COLUMNS
    match: MatchRates
    probed_rows: int
    carried_rows: int
    dropped_previous_rows: int  # previous rows neither probed nor spot-priced in this slot
    duplicate_rows: dict[str, int]  # input rows dropped as duplicate keys, per dataset


def empty_merged() -> pd.DataFrame:
    """A merged dataset with no rows and the canonical dtypes."""
    return normalise_merged(pd.DataFrame({column: [] for column in MERGED_COLUMNS}))


def normalise_merged(frame: pd.DataFrame) -> pd.DataFrame:
    """``MERGED_COLUMNS`` in order with canonical dtypes (a state read back from Parquet compares equal)."""
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for column in MERGED_COLUMNS:
        values = frame[column].reset_index(drop=True)
        if column in TEXT_COLUMNS:
            out[column] = values.astype("str").where(values.notna())
        elif column in FLOAT_COLUMNS:
            out[column] = pd.to_numeric(values, errors="raise").astype("float64")
        elif column in INT_COLUMNS:
            out[column] = pd.to_numeric(values, errors="raise").fillna(0).astype("int64")
        else:
            out[column] = pd.to_datetime(values, utc=True).astype(TIME_DTYPE)
    return out


def region_names(*frames: pd.DataFrame) -> pd.Series:
    """Display location per lower-cased ARM region code, from frames with Region and RegionName (the first
    frame that names a region wins)."""
    known = pd.concat([f.loc[f["RegionName"].notna(), ["Region", "RegionName"]] for f in frames], ignore_index=True)
    codes = known["Region"].astype("str").str.lower()
    first = ~codes.duplicated(keep="first")
    return pd.Series(known["RegionName"].astype("str").to_numpy()[first.to_numpy()], index=codes[first].to_numpy())


def _take(values: pd.Series, pos: np.ndarray) -> pd.Series:
    """``values`` at positions ``pos`` (a fresh RangeIndex); missing where pos is -1 (ints become float)."""
    return values.reset_index(drop=True).reindex(pos).reset_index(drop=True)


def _rate(hits: np.ndarray) -> float | None:
    return round(float(hits.mean()), 6) if len(hits) else None


def _dedupe(frame: pd.DataFrame, key: np.ndarray, *others: np.ndarray) -> tuple[pd.DataFrame, list[np.ndarray], int]:
    """Keep the first row of each ``key`` code; ``others`` are code arrays aligned with ``frame``."""
    keep = first_occurrence(key)
    dropped = int((~keep).sum())
    if dropped == 0:
        return frame, [key, *others], 0
    return frame[keep].reset_index(drop=True), [key[keep], *(o[keep] for o in others)], dropped


def build_merged(
    sps: pd.DataFrame, price: pd.DataFrame, if_data: pd.DataFrame, previous: pd.DataFrame, slot: datetime
) -> JoinResult:
    """The merged dataset of ``slot`` (see the module docstring).

    Args:
        sps: this slot's SPS rows (``SPS_COLUMNS``), already checked to hold this slot and one desired count.
        price: price rows (``PRICE_COLUMNS``) of this slot or of the fallback slot.
        if_data: IF rows (``IF_JOIN_COLUMNS`` at least) of this slot or of the fallback slot.
        previous: the previous merged dataset (``MERGED_COLUMNS``; empty on the first run).
        slot: this run's slot, the Time of rows probed (with a score) in this slot.
    """
    sps = sps[SPS_COLUMNS].reset_index(drop=True)
    # Prefer, for a duplicated SPS key, a row that carries a score.
    sps = sps.iloc[np.argsort(sps["Score"].isna().to_numpy(), kind="stable")].reset_index(drop=True)
    price = price[PRICE_COLUMNS].reset_index(drop=True)
    # The VM specs ride along when the IF dataset has them (an IF dataset from before them has none).
    if_data = if_data[[*IF_JOIN_COLUMNS, *(c for c in SPEC_COLUMNS if c in if_data.columns)]].reset_index(drop=True)
    previous = normalise_merged(previous)

    sps_pair, price_pair, if_pair, prev_pair = key_codes([sps, price, if_data, previous], KEY_COLUMNS)
    sps_row, prev_row = key_codes([sps, previous], ROW_KEY_COLUMNS)
    duplicates: dict[str, int] = {}
    sps, (sps_row, sps_pair), duplicates["sps"] = _dedupe(sps, sps_row, sps_pair)
    price, (price_pair,), duplicates["price"] = _dedupe(price, price_pair)
    if_data, (if_pair,), duplicates["if"] = _dedupe(if_data, if_pair)
    previous, (prev_row, prev_pair), duplicates["previous"] = _dedupe(previous, prev_row, prev_pair)

    match = MatchRates(
        sps_rows=len(sps),
        sps_with_price=_rate(positions(price_pair, sps_pair) >= 0),
        sps_with_if=_rate(positions(if_pair, sps_pair) >= 0),
        price_pairs=len(price),
        price_with_sps=_rate(contains(sps_pair, price_pair)),
    )

    # Probed rows: this slot's probe, T2/T3 updated from the previous row of the same key.
    prev_of_sps = positions(prev_row, sps_row)
    has_prev = prev_of_sps >= 0
    score = sps["Score"].to_numpy(dtype=np.float64)
    count = sps["DesiredCount"].to_numpy(dtype=np.float64)
    prev_t2 = np.where(has_prev, _take(previous["T2"], prev_of_sps).to_numpy(np.float64, na_value=0.0), 0.0)
    prev_t3 = np.where(has_prev, _take(previous["T3"], prev_of_sps).to_numpy(np.float64, na_value=0.0), 0.0)
    t2, t3 = update_t2_t3(prev_t2, prev_t3, count, score)
    keep_last = np.isnan(score) & has_prev  # a probe without a score is no probe (see t2t3)
    prev_score = _take(previous["Score"], prev_of_sps).to_numpy(np.float64, na_value=np.nan)
    prev_count = _take(previous["DesiredCount"], prev_of_sps).to_numpy(np.float64, na_value=np.nan)
    sps_time = pd.Series(pd.Timestamp(slot), index=pd.RangeIndex(len(sps))).astype(TIME_DTYPE)
    probed = pd.DataFrame(
        {
            "InstanceTier": sps["InstanceTier"],
            "InstanceType": sps["InstanceType"],
            "Region": sps["Region"],
            "AvailabilityZone": sps["AvailabilityZone"].astype("str"),
            "DesiredCount": np.where(keep_last, prev_count, count).astype(np.int64),
            "Score": np.where(keep_last, prev_score, score),
            "T2": t2,
            "T3": t3,
            "Time": sps_time.where(~keep_last, _take(previous["Time"], prev_of_sps)),
        }
    )

    # Carried rows: in the previous state, not probed now, still with a spot price in this slot.
    price_of_prev = positions(price_pair, prev_pair)
    spot_of_prev = _take(price["SpotPrice"], price_of_prev).to_numpy(np.float64, na_value=np.nan)
    probed_now = contains(sps_row, prev_row)
    carry = ~probed_now & ~np.isnan(spot_of_prev)
    carried = previous.loc[carry, ["InstanceTier", "InstanceType", "Region", "AvailabilityZone", "DesiredCount",
                                   "Score", "T2", "T3", "Time"]]  # fmt: skip
    rows = pd.concat([probed, carried], ignore_index=True)
    row_pair = np.concatenate([sps_pair, prev_pair[carry]])

    price_pos = positions(price_pair, row_pair)
    if_pos = positions(if_pair, row_pair)
    for column in KEY_COLUMNS:  # ARM casing: price, else IF, else the row's own
        rows[column] = (
            _take(price[column], price_pos).fillna(_take(if_data[column], if_pos)).fillna(rows[column]).astype("str")
        )
    for column in ("OndemandPrice", "SpotPrice", "Savings"):
        rows[column] = _take(price[column], price_pos)
    rows["RegionName"] = _take(price["RegionName"], price_pos).fillna(
        rows["Region"].str.lower().map(region_names(price, previous))
    )
    for column in ("IF", "InstanceFamily", *(c for c in SPEC_COLUMNS if c in if_data.columns)):
        rows[column] = _take(if_data[column], if_pos)

    merged = normalise_merged(rows)
    merged = pd.concat([merged, merged_specs(rows)], axis=1)  # MERGED_SPEC_COLUMNS after MERGED_COLUMNS
    merged = merged.iloc[sort_order(merged, ROW_KEY_COLUMNS)].reset_index(drop=True)
    return JoinResult(
        merged=merged,
        match=match,
        probed_rows=len(probed),
        carried_rows=int(carry.sum()),
        dropped_previous_rows=int((~probed_now & ~carry).sum()),
        duplicate_rows=duplicates,
    )
