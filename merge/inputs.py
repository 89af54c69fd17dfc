"""Loading a slot's inputs (docs/contract.md 2, 8): raw SPS, price and IF, and the base state, concurrently.

- SPS is the run's own probe: it must exist, parse, and hold exactly the slot and desired count named by
  its key. A handoff naming a missing object is bad input (``UsageError``, exit 2: the caller passed a key
  that does not exist); a corrupt or mismatched object is ``CorruptObject`` (exit 2). With ``--timestamp``
  the key is looked up; no SPS object for the slot means the SPS collector did not deliver (``RunFailed``,
  exit 1).
- Price and IF fall back, when this slot's object is missing or corrupt, to the newest earlier object of
  the same kind not older than ``fallback_max_age_hours``; the slot used is recorded. Nothing usable:
  ``RunFailed`` (exit 1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from merge.join import IF_JOIN_COLUMNS
from merge.state import BaseState, load_base_state
from utils.constants import (
    IF_PREFIX,
    PRICE_COLUMNS,
    PRICE_PREFIX,
    SPS_COLUMNS,
    SPS_PREFIX,
    if_key,
    parse_sps_key,
    price_key,
)
from utils.errors import CorruptObject, ObjectNotFound, RunFailed, UsageError
from utils.store import Store
from utils.store_io import read_parquet
from utils.timestamps import previous_slots, slot_date_path, slot_hhmm, slot_iso

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class LoadedDataset:
    frame: pd.DataFrame
    key: str
    slot: datetime  # the slot the data is from (earlier than the run's slot after a fallback)


@dataclass(frozen=True)
class MergeInputs:
    sps: pd.DataFrame
    price: LoadedDataset
    if_data: LoadedDataset
    base: BaseState


def find_sps_key(store: Store, slot: datetime) -> str:
    """The raw SPS key of ``slot`` (for ``--timestamp``)."""
    prefix = f"{SPS_PREFIX}/{slot_date_path(slot)}/{slot_hhmm(slot)}_sps_"
    keys = [k for k in store.list_keys(prefix) if k.endswith(".parquet")]
    if not keys:
        raise RunFailed(f"no raw SPS object for slot {slot_iso(slot)} (expected {prefix}N.parquet)")
    if len(keys) > 1:
        raise UsageError(f"several raw SPS objects for slot {slot_iso(slot)}: {keys}; pass --sps_key")
    return keys[0]


def load_sps(store: Store, key: str) -> pd.DataFrame:
    """The raw SPS rows of ``key``, checked against the slot and desired count the key names."""
    slot, count = parse_sps_key(key)
    try:
        frame = read_parquet(store, key, columns=SPS_COLUMNS)
    except ObjectNotFound:
        raise UsageError(f"the SPS key names a missing object: {key}") from None
    counts = set(pd.to_numeric(frame["DesiredCount"], errors="coerce").dropna().astype(int).unique().tolist())
    if frame["DesiredCount"].isna().any() or counts - {count}:
        raise CorruptObject(key, f"rows for desired counts {sorted(counts)}, the key names {count}")
    times = pd.to_datetime(frame["Time"], utc=True)
    if times.isna().any() or (times != pd.Timestamp(slot)).any():
        raise CorruptObject(key, f"rows with a Time other than the key's slot {slot_iso(slot)}")
    return frame


def load_with_fallback(
    store: Store,
    *,
    kind: str,
    key_for: Callable[[datetime], str],
    prefix: str,
    columns: list[str],
    slot: datetime,
    max_age: timedelta,
) -> LoadedDataset:
    """This slot's dataset, else the newest earlier one within ``max_age`` (missing or corrupt ones skipped)."""
    try:
        return LoadedDataset(read_parquet(store, key_for(slot), columns=columns), key_for(slot), slot)
    except (ObjectNotFound, CorruptObject) as exc:
        reason = str(exc)
    candidates = {key_for(s): s for s in previous_slots(slot, max_age)}
    dates = sorted({slot_date_path(s) for s in candidates.values()}, reverse=True)
    stored = [k for date in dates for k in store.list_keys(f"{prefix}/{date}/") if k in candidates]
    for key in sorted(stored, key=lambda k: candidates[k], reverse=True):
        try:
            frame = read_parquet(store, key, columns=columns)
        except (ObjectNotFound, CorruptObject) as exc:
            # Another candidate may still be usable; this one is skipped with its reason logged.
            log.warning("%s fallback candidate skipped: %s", kind, exc)
            continue
        log.warning("%s for %s unavailable (%s); using %s from %s", kind, slot_iso(slot), reason, key,
                    slot_iso(candidates[key]))  # fmt: skip
        return LoadedDataset(frame, key, candidates[key])
    raise RunFailed(f"{kind} for {slot_iso(slot)} unavailable ({reason}) and no usable {kind} dataset "
                    f"in the previous {max_age}")  # fmt: skip


def load_inputs(store: Store, sps_key: str, slot: datetime, max_age: timedelta) -> MergeInputs:
    """Load SPS, price, IF and the base state concurrently; the first failure propagates."""
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="merge-load") as pool:
        sps = pool.submit(load_sps, store, sps_key)
        price = pool.submit(load_with_fallback, store, kind="price", key_for=price_key, prefix=PRICE_PREFIX,
                            columns=PRICE_COLUMNS, slot=slot, max_age=max_age)  # fmt: skip
        if_data = pool.submit(load_with_fallback, store, kind="IF", key_for=if_key, prefix=IF_PREFIX,
                              columns=IF_JOIN_COLUMNS, slot=slot, max_age=max_age)  # fmt: skip
        base = pool.submit(load_base_state, store, slot)
        return MergeInputs(sps.result(), price.result(), if_data.result(), base.result())
