"""The merge state: what the next run compares against (docs/contract.md 5 and 8).

One Parquet object holds both parts, told apart by a ``Kind`` column (one object = one atomic write):

- ``Kind == "merged"``: the merged dataset of the run (``MERGED_COLUMNS``), carried into the next run;
- ``Kind == "published"``: the last published point per (tier, type, region, zone), any desired count;
- ``Kind == "observation"``: the last published point per (tier, type, region, zone, desired count)
  (both: the compared fields, ``merge.compare_data.OBSERVATION_COLUMNS``; other columns empty).

A state written before the ``published`` kind existed (its observations were the last *observed* values per
count) is read with the published points taken from its merged rows (the values the old rule last
compared against), and rows only observed from their first observation; logged once. The next keyframe
(the first run of a UTC day) republishes every row, so any difference this leaves lasts a day at most.

Every committed run writes it twice: an immutable per-slot snapshot ``latest_data/azure/states/YYYY/MM/DD/
HH-MM.parquet`` and then, last of all outputs, ``LATEST_STATE_KEY`` (the commit point; same bytes). A run of
slot S starts from the newest snapshot of a slot before S, so rerunning S after it was committed (or after a
crash) compares against the same base and produces the same objects and records. A snapshot is written
only after every other output of its slot is stored, so a later slot may start from it even when its run
crashed just before replacing ``LATEST_STATE_KEY``. When no snapshot exists
(e.g. a state restored by hand) the latest state is the base. Snapshots older than
``SNAPSHOT_RETENTION`` before the run's slot are pruned after the commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from merge.compare_data import OBSERVATION_COLUMNS, OBSERVATION_DTYPES, empty_observations
from merge.join import empty_merged, normalise_merged
from merge.keys import contains, first_occurrence, key_codes, text_categorical
from merge.snapshot_keys import list_snapshots
from utils.constants import LATEST_STATE_KEY, MERGED_COLUMNS, ROW_KEY_COLUMNS
from utils.errors import CorruptObject, ObjectNotFound
from utils.store import Store
from utils.store_io import frame_to_parquet_bytes, read_parquet
from utils.vm_specs import spec_columns_in

log = logging.getLogger(__name__)

SUMMARY_KEY = "latest_data/azure/last_merge_summary.json"
SNAPSHOT_RETENTION = timedelta(hours=48)
KIND_MERGED = "merged"
KIND_OBSERVATION = "observation"
KIND_PUBLISHED = "published"
KINDS = (KIND_MERGED, KIND_OBSERVATION, KIND_PUBLISHED)
STATE_COLUMNS = ["Kind", *MERGED_COLUMNS]
CATEGORICAL_STATE_COLUMNS = ROW_KEY_COLUMNS


@dataclass(frozen=True)
class BaseState:
    """The state a run starts from; ``key`` is None on the very first run."""

    key: str | None
    slot: datetime | None
    merged: pd.DataFrame
    observations: pd.DataFrame


def state_bytes(merged: pd.DataFrame, observations: pd.DataFrame) -> bytes:
    """Deterministic Parquet bytes of the state (same frames -> same bytes).

    Kind and the row-key columns are written as categoricals (dictionary-encoded, sorted categories) and
    read back as categoricals; observation rows leave RegionName, InstanceFamily and Time empty.
    """
    n_merged, n_observed = len(merged), len(observations)
    observed_kinds = np.where(observations["Latest"].to_numpy(dtype=bool), 2, 1).astype(np.int8)
    kinds = np.concatenate([np.zeros(n_merged, dtype=np.int8), observed_kinds])
    columns: dict[str, object] = {"Kind": pd.Categorical.from_codes(kinds, categories=pd.Index(KINDS, dtype="str"))}
    # The VM spec columns (utils.vm_specs) are kept for readers of the state (query, report); a run does not
    # read them back: every row takes this slot's specs from the IF dataset.
    for column in [*MERGED_COLUMNS, *spec_columns_in(merged)]:
        values = merged[column].reset_index(drop=True)
        if column in CATEGORICAL_STATE_COLUMNS:
            parts = [text_categorical(values), text_categorical(observations[column])]
            columns[column] = union_categoricals(parts, sort_categories=True)
        elif column in OBSERVATION_COLUMNS:  # every observed column but Latest (told by Kind)
            columns[column] = np.concatenate([values.to_numpy(), observations[column].to_numpy(dtype=values.dtype)])
        else:  # not observed: empty (NaN / NaT) on observation rows
            columns[column] = values.reindex(pd.RangeIndex(n_merged + n_observed))
    return frame_to_parquet_bytes(pd.DataFrame(columns, copy=False))


def split_state(frame: pd.DataFrame, key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(merged, observations) of a state frame read from ``key``; CorruptObject when it is not a state."""
    missing = [c for c in STATE_COLUMNS if c not in frame.columns]
    if missing:
        raise CorruptObject(key, f"not a merge state: missing columns {missing}")
    kinds = set(frame["Kind"].dropna().unique()) - set(KINDS)
    if kinds or frame["Kind"].isna().any():
        raise CorruptObject(key, f"not a merge state: unknown Kind values {sorted(map(str, kinds))}")
    is_merged = (frame["Kind"] == KIND_MERGED).to_numpy()
    n_merged = int(is_merged.sum())
    if not is_merged[:n_merged].all():  # not as state_bytes writes it (merged rows first): sort stably
        frame = frame.iloc[np.argsort(~is_merged, kind="stable")]
    try:
        merged = normalise_merged(frame.iloc[:n_merged][MERGED_COLUMNS])
        observed = frame.iloc[n_merged:]
        observations = observed[[c for c in OBSERVATION_COLUMNS if c != "Latest"]].reset_index(drop=True)
        observations["Latest"] = (observed["Kind"] == KIND_PUBLISHED).to_numpy(dtype=bool)
        observations = observations.astype(OBSERVATION_DTYPES)
    except (ValueError, TypeError) as exc:
        raise CorruptObject(key, f"not a merge state: {exc}") from exc
    if len(observations) and not observations["Latest"].any():
        log.warning("state %s has no published points (written before they were kept): taking its merged rows "
                    "as the last published values", key)  # fmt: skip
        observations = with_published_points(merged, observations)
    return merged, observations


def with_published_points(merged: pd.DataFrame, observations: pd.DataFrame) -> pd.DataFrame:
    """``observations`` (count scope only) with a published point per row added: the merged row's compared
    values where the row is merged, else the row's first observation (see the module docstring)."""
    from_merged = merged[[c for c in OBSERVATION_COLUMNS if c != "Latest"]].assign(Latest=True)
    merged_codes, observed_codes = key_codes([merged, observations], ROW_KEY_COLUMNS)
    only_observed = ~contains(merged_codes, observed_codes) & first_occurrence(observed_codes)
    from_observed = observations[only_observed].assign(Latest=True)
    parts = [from_merged.astype(OBSERVATION_DTYPES), from_observed, observations]
    columns = {
        c: union_categoricals([text_categorical(p[c]) for p in parts], ignore_order=True)
        if OBSERVATION_DTYPES[c] == "category" else np.concatenate([p[c].to_numpy(dtype=OBSERVATION_DTYPES[c])
                                                                      for p in parts])
        for c in OBSERVATION_COLUMNS
    }  # fmt: skip
    return pd.DataFrame(columns, copy=False)


def read_state(store: Store, key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    return split_state(read_parquet(store, key), key)


def load_base_state(store: Store, slot: datetime) -> BaseState:
    """The state a run of ``slot`` starts from (see the module docstring).

    A corrupt newest snapshot is skipped for the next older one (logged): the run then re-detects the
    changes since that older state, which costs some extra time-series records but keeps T2/T3 history,
    and its own snapshot unblocks the runs after it. When every earlier snapshot is corrupt the run fails
    (CorruptObject, exit 2): starting empty would reset every T2/T3 and republish every row.
    """
    snapshots = list_snapshots(store)
    earlier = [(s, k) for s, k in snapshots if s < slot]
    corrupt: CorruptObject | None = None
    for base_slot, key in reversed(earlier):
        try:
            merged, observations = read_state(store, key)
        except CorruptObject as exc:
            log.warning("skipping a corrupt state snapshot (%s); trying the one before it", exc)
            corrupt = corrupt or exc
            continue
        return BaseState(key, base_slot, merged, observations)
    if corrupt is not None:
        raise corrupt
    if not snapshots:
        try:
            merged, observations = read_state(store, LATEST_STATE_KEY)
        except ObjectNotFound:
            return BaseState(None, None, empty_merged(), empty_observations())
        log.warning("no state snapshots; starting from %s", LATEST_STATE_KEY)
        return BaseState(LATEST_STATE_KEY, None, merged, observations)
    log.warning("no state snapshot before %s (oldest is %s); starting from an empty state", slot, snapshots[0][0])
    return BaseState(None, None, empty_merged(), empty_observations())


def snapshots_to_prune(snapshots: list[tuple[datetime, str]], slot: datetime, keep: str | None) -> list[str]:
    """Keys of snapshots older than ``SNAPSHOT_RETENTION`` before ``slot``, except ``keep`` (the base)."""
    cutoff = slot - SNAPSHOT_RETENTION
    return [k for s, k in snapshots if s < cutoff and k != keep]
