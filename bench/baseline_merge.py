"""A straightforward row-wise merge, written only as the benchmark's point of comparison (issue 6).

It does what a typical first implementation does: string-concatenated keys (``tier_type_region``) for the
joins, ``iterrows`` for the T2/T3 update and for record building, and change detection against the
previous merged dataset by comparing every column, including Time and DesiredCount, so that the rotating
desired count and the new Time make every row look changed. Not used by the collector.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pandas as pd

from utils.constants import DESIRED_COUNTS, MERGED_COLUMNS


def _pair_key(frame: pd.DataFrame) -> pd.Series:
    return (frame["InstanceTier"] + "_" + frame["InstanceType"] + "_" + frame["Region"]).str.lower()


def _lower_count(count: int) -> int:
    index = DESIRED_COUNTS.index(count)
    return DESIRED_COUNTS[index - 1] if index else 0


def _update(previous: int, count: int, score: float, threshold: float) -> int:
    if math.isnan(score):  # no score: no probe
        return previous
    return max(previous, count) if score >= threshold else min(previous, _lower_count(count))


def baseline_merge(
    sps: pd.DataFrame, price: pd.DataFrame, if_data: pd.DataFrame, previous: pd.DataFrame, slot: datetime
) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, Any]]]:
    """(merged, changed rows, time-series records), row by row."""
    price = price.assign(key=_pair_key(price)).set_index("key").to_dict("index")
    if_data = if_data.assign(key=_pair_key(if_data)).set_index("key").to_dict("index")
    previous = previous.assign(key=_pair_key(previous) + "_" + previous["AvailabilityZone"].str.lower())
    previous_by_key = previous.set_index("key").to_dict("index")
    rows = []
    probed = set()
    for _, row in sps.iterrows():
        pair = f"{row['InstanceTier']}_{row['InstanceType']}_{row['Region']}".lower()
        key = f"{pair}_{row['AvailabilityZone']}".lower()
        probed.add(key)
        prev = previous_by_key.get(key)
        t2 = int(prev["T2"]) if prev is not None else 0
        t3 = int(prev["T3"]) if prev is not None else 0
        p = price.get(pair)
        f = if_data.get(pair)
        rows.append({
            "InstanceTier": row["InstanceTier"], "InstanceType": row["InstanceType"], "Region": row["Region"],
            "RegionName": p["RegionName"] if p is not None else None,
            "InstanceFamily": f["InstanceFamily"] if f is not None else None,
            "OndemandPrice": p["OndemandPrice"] if p is not None else float("nan"),
            "SpotPrice": p["SpotPrice"] if p is not None else float("nan"),
            "Savings": p["Savings"] if p is not None else float("nan"),
            "IF": f["IF"] if f is not None else float("nan"),
            "DesiredCount": row["DesiredCount"], "AvailabilityZone": row["AvailabilityZone"], "Score": row["Score"],
            "T2": _update(t2, row["DesiredCount"], row["Score"], 2.0),
            "T3": _update(t3, row["DesiredCount"], row["Score"], 3.0),
            "Time": pd.Timestamp(slot),
        })  # fmt: skip
        if prev is not None and math.isnan(row["Score"]):  # no score: keep the last probe (as merge.join)
            rows[-1].update(DesiredCount=prev["DesiredCount"], Score=prev["Score"], Time=prev["Time"])
    for _, prev in previous.iterrows():
        key = prev["key"]
        pair = key.rsplit("_", 1)[0]
        if key in probed or pair not in price or pd.isna(price[pair]["SpotPrice"]):
            continue
        p, f = price[pair], if_data.get(pair)
        rows.append({**{c: prev[c] for c in MERGED_COLUMNS}, "OndemandPrice": p["OndemandPrice"],
                     "SpotPrice": p["SpotPrice"], "Savings": p["Savings"],
                     "IF": f["IF"] if f is not None else float("nan")})  # fmt: skip
    merged = pd.DataFrame(rows, columns=MERGED_COLUMNS)

    # Change detection: every column of the row against the previous row with the same string key.
    merged["key"] = _pair_key(merged) + "_" + merged["AvailabilityZone"].str.lower()
    changed_rows = []
    for _, row in merged.iterrows():
        prev = previous_by_key.get(row["key"])
        if prev is None:
            changed_rows.append(row)
            continue
        if any(str(row[c]) != str(prev[c]) for c in MERGED_COLUMNS):
            changed_rows.append(row)
    changes = pd.DataFrame(changed_rows, columns=[*MERGED_COLUMNS, "key"])

    records = []
    for _, row in changes.iterrows():
        records.append({
            "Dimensions": [{"Name": c, "Value": str(row[c])} for c in
                           ("InstanceTier", "InstanceType", "Region", "AvailabilityZone")],
            "MeasureName": "azure_values", "MeasureValueType": "MULTI",
            "MeasureValues": [{"Name": c, "Value": str(row[c]), "Type": "DOUBLE"} for c in
                              ("DesiredCount", "OndemandPrice", "SpotPrice", "Savings", "IF", "T2", "T3")]
                             + [{"Name": "Score", "Value": str(row["Score"]), "Type": "VARCHAR"}],
            "Time": str(int(pd.Timestamp(slot).timestamp() * 1000)), "TimeUnit": "MILLISECONDS",
        })  # fmt: skip
    return merged.drop(columns="key"), changes, records
