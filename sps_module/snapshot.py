"""Everything an SPS slot reads from the store, read once at its start into one frozen ``SpsSnapshot``.

Why one snapshot: the slot's plan (``sps_module.slot_plan``) is a pure function of what was stored when the
slot began. Reading the pieces at several points of the run (the rotation metadata first, the learned
invalid values while re-planning and again after, the ledger files just before the sweep, each learned
file once more to merge what the sweep learned) made every decision depend on when it was taken; with one
read, the plan, its tests and a rerun of the same slot all see the same inputs. The run holds the
``sps-state`` lease, so nothing else writes these files while it runs.

What is read (the files keep their layout, docs/contract.md 5 and 7; ``sps_shared_resources`` describes the
``saved_variable`` JSONs):

- ``sps_metadata.yaml``, the rotation metadata (None when missing, corrupt or of the wrong shape, with a
  warning saying which);
- the desired counts of the raw SPS objects already stored for the slot (a rerun probes that count);
- ``invalid_regions.json`` / ``invalid_sizes.json`` as stored (with the slot that learned each value);
- ``region_map.json`` and the stored request plan when it was made for the slot's UTC date;
- ``available_locations.json``, ``sweep_cursor.json`` and the quota ledger's files (``call_history.json``,
  ``over_limit_locations.json``, ``last_subscription_location.json`` and ``last_run.json``'s
  ``finished_at``).

A missing or unusable file is its empty default (``sps_shared_resources.read_state``), as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sps_module import rotation
from sps_module.request_planner import PlannedCall
from sps_module.sps_prepare_parameters import load_plan
from sps_module.sps_shared_resources import LearnedInvalid, LedgerState, LocationsState, SpsState, SweepCursor
from utils.constants import DESIRED_COUNTS, SPS_METADATA_KEY, parse_sps_key, sps_key
from utils.errors import CorruptObject, ObjectNotFound, UsageError
from utils.store import Store
from utils.store_io import read_yaml

log = logging.getLogger("sps")


@dataclass(frozen=True)
class SpsSnapshot:
    """The store as the slot found it (see the module docstring). Treat the mappings as read-only.

    Attributes:
        slot: the slot this snapshot was read for (``stored_counts`` and ``stored_plan`` depend on it).
        metadata: the rotation metadata; None when missing or unusable.
        stored_counts: desired counts of the raw SPS objects already stored for ``slot``.
        learned_regions, learned_sizes: the learned invalid values as stored (every date, every slot).
        workload_date, region_map: ``region_map.json`` ((None, {}) when missing or unusable).
        stored_plan: the stored request plan when it was made for the slot's UTC date, else None.
        locations: ``available_locations.json`` (None when missing, empty or unusable).
        sweep_cursor: ``sweep_cursor.json`` (None when missing or unusable).
        ledger: the quota ledger's files.
    """

    slot: datetime
    metadata: dict[str, Any] | None
    stored_counts: tuple[int, ...]
    learned_regions: LearnedInvalid
    learned_sizes: LearnedInvalid
    workload_date: str | None
    region_map: dict[str, list[str]]
    stored_plan: tuple[PlannedCall, ...] | None
    locations: LocationsState | None
    sweep_cursor: SweepCursor | None
    ledger: LedgerState


def read_metadata(store: Store) -> dict[str, Any] | None:
    """The rotation metadata, or None when missing or corrupt (a warning says which)."""
    try:
        value = read_yaml(store, SPS_METADATA_KEY)
    except ObjectNotFound:
        log.info("no SPS rotation metadata yet (%s)", SPS_METADATA_KEY)
        return None
    except CorruptObject as exc:
        log.warning("SPS rotation metadata is corrupt (%s); treating it as missing", exc.reason)
        return None
    if not rotation.valid_metadata(value):
        log.warning("SPS rotation metadata has the wrong shape (%r); treating it as missing", value)
        return None
    return value


def stored_sps_counts(store: Store, slot: datetime) -> list[int]:
    """Desired counts of the raw SPS objects already stored for ``slot`` (normally none, or one)."""
    prefix = sps_key(slot, DESIRED_COUNTS[0]).rsplit("_sps_", 1)[0] + "_sps_"
    counts = []
    for key in store.list_keys(prefix):
        try:
            counts.append(parse_sps_key(key)[1])
        except UsageError:
            log.warning("ignoring an unexpected object under the SPS prefix: %s", key)  # not a raw SPS object
    return counts


def read_snapshot(store: Store, slot: datetime) -> SpsSnapshot:
    """Read everything the slot's plan needs, once (the only store reads of an SPS run but the lease's)."""
    state = SpsState(store)
    metadata = read_metadata(store)
    stored_counts = tuple(stored_sps_counts(store, slot))
    learned_regions, learned_sizes = state.learned_regions(), state.learned_sizes()
    workload_date, region_map = state.region_map()
    return SpsSnapshot(
        slot=slot,
        metadata=metadata,
        stored_counts=stored_counts,
        learned_regions=learned_regions,
        learned_sizes=learned_sizes,
        workload_date=workload_date,
        region_map=region_map,
        stored_plan=load_plan(store, rotation.slot_date(slot)),
        locations=state.available_locations(),
        sweep_cursor=state.stored_sweep_cursor(),
        ledger=state.ledger_state(),
    )
