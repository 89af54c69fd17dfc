"""The SPS collector's persisted state (docs/contract.md 5 ``saved_variable`` JSONs), read tolerantly, written under
a lease.

Every file lives at ``sps_saved_key(name)``:

=============================  ==========================================================================
file                           content
=============================  ==========================================================================
invalid_regions.json           ``{"workload_date": d, "learned": {"region": slot ISO}}`` regions an SPS 400 named
                               invalid (docs/azure-facts.md 8), with the slot that learned each
invalid_sizes.json             the same for sizes (``"Standard_X"``)
available_locations.json       ``{"date": "YYYY-MM-DD", "locations": [...]}`` endpoint locations, daily
call_history.json              ``{"window_seconds": s, "saved_at": t, "calls": {"sub/loc": [t, ...]}}``
over_limit_locations.json      ``{"sub/loc": cool-down end}`` (epoch seconds)
last_subscription_location.json ``{"subscription": id, "location": loc}`` round-robin resume point
region_map.json                ``{"workload_date": d, "regions": {region: [size, ...]}}``
size_map.json                  ``{"workload_date": d, "sizes": {size: [region, ...]}}``
last_run.json                  the run report (docs/contract.md 5), plus ``finished_at`` (epoch seconds)
sweep_cursor.json              ``{"workload_date": d, "next_call": i}`` where the next sweep starts in the plan
=============================  ==========================================================================

Learned invalid regions/sizes expire (issue 14.7): a value is only in force for the workload date it was
learned on (the next daily re-plan asks about it again) and for at most ``INVALID_RECHECK_HOURS`` after the
slot that learned it, so one slot in which Azure did not know a region or size cannot blacklist it for good.
They are learned only from a 400 that names them (``sweep``), never from a missing score. The list form of
earlier versions (no dates) is read as expired.

A missing file is the empty default. A corrupt file (``CorruptObject`` or the wrong shape) is logged as a
warning and replaced by the default, except the call history: losing it could let this run spend quota the
previous runs already spent, so a corrupt call history is rebuilt as "every bucket used up to capacity at
the end of the last run" (``last_run.json`` ``finished_at``; now when that is unreadable too). That never
overspends and costs at most one window of partial sweeps.

A run reads these files once, at the start of its slot (``sps_module.snapshot.read_snapshot``), into the
typed values below (``LearnedInvalid``, ``LocationsState``, ``SweepCursor``, ``LedgerState``); the ledger is
restored from them (``restore_ledger``) and the learned files it writes back are computed from them
(``LearnedInvalid.add``) rather than read again, so the run decides on one consistent view of the state.
The per-file methods (``invalid_regions``, ``load_ledger``, ...) read the same way and are kept for the
tools and tests that want one file.

All writes go through one ``SpsState`` held by a run that owns the ``sps-state`` lease
(``utils.lease.held``), so two SPS runs never interleave their state updates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sps_module.quota_ledger import QuotaLedger
from utils.constants import sps_saved_key
from utils.errors import CorruptObject, ObjectNotFound
from utils.store import Store
from utils.store_io import read_json, write_json
from utils.timestamps import slot_iso

log = logging.getLogger(__name__)

STATE_LEASE = "sps-state"
INVALID_REGIONS = "invalid_regions.json"
INVALID_SIZES = "invalid_sizes.json"
AVAILABLE_LOCATIONS = "available_locations.json"
CALL_HISTORY = "call_history.json"
OVER_LIMIT = "over_limit_locations.json"
LAST_SUBSCRIPTION_LOCATION = "last_subscription_location.json"
REGION_MAP = "region_map.json"
SIZE_MAP = "size_map.json"
LAST_RUN = "last_run.json"
SWEEP_CURSOR = "sweep_cursor.json"
# A learned invalid region/size is asked about again this long after the slot that learned it (and at the
# next daily re-plan in any case): about one 400 per call holding it per period if it really is invalid.
INVALID_RECHECK_HOURS = 6


def _string_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return sorted(set(value))


def read_state(store: Store, name: str, default: Any, shape: Callable[[Any], Any]) -> tuple[Any, bool]:
    """(value, ok): the parsed state file, or ``default`` with ok=False when it is missing or unusable.

    ``shape`` validates/normalises the decoded JSON and raises ValueError/TypeError/KeyError when wrong.
    A corrupt file is logged as a warning (the caller decides how to rebuild).
    """
    key = sps_saved_key(name)
    try:
        return shape(read_json(store, key)), True
    except ObjectNotFound:
        return default, False
    except CorruptObject as exc:
        log.warning("SPS state %s is corrupt (%s); using the default", key, exc.reason)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("SPS state %s has the wrong shape (%s); using the default", key, exc)
    return default, False


@dataclass
class LocationsState:
    date: str
    locations: list[str]


def _locations_shape(value: Any) -> LocationsState:
    return LocationsState(str(value["date"]), _string_list(value["locations"]))


def _calls_shape(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("calls"), dict):
        raise ValueError("expected {'calls': {...}}")
    return value


@dataclass(frozen=True)
class LearnedInvalid:
    """Values an SPS 400 named invalid, each with the slot that learned it, for one workload date."""

    workload_date: str
    learned: dict[str, datetime]

    def in_force(self, workload_date: str, slot: datetime) -> set[str]:
        """The values still skipped at ``slot`` of ``workload_date`` (see the module docstring)."""
        if workload_date != self.workload_date:
            return set()
        horizon = timedelta(hours=INVALID_RECHECK_HOURS)
        return {value for value, at in self.learned.items() if slot - at < horizon}

    def add(self, workload_date: str, slot: datetime, values: set[str]) -> LearnedInvalid:
        """The stored values plus ``values`` learned at ``slot`` of ``workload_date``; stored entries of
        another workload date are dropped (expired)."""
        learned = dict(self.learned) if self.workload_date == workload_date else {}
        learned.update(dict.fromkeys(values, slot))
        return LearnedInvalid(workload_date, learned)

    def to_json(self) -> dict[str, Any]:
        """The file content (``invalid_regions.json`` / ``invalid_sizes.json``), values sorted."""
        return {"workload_date": self.workload_date,
                "learned": {value: slot_iso(at) for value, at in sorted(self.learned.items())}}


NO_LEARNED = LearnedInvalid("", {})


def _learned_shape(value: Any) -> LearnedInvalid:
    if isinstance(value, list):  # the undated list of earlier versions: expired, asked about again
        _string_list(value)
        return LearnedInvalid("", {})
    learned = value["learned"]
    if not isinstance(learned, dict):
        raise ValueError("learned is not an object")
    return LearnedInvalid(str(value["workload_date"]), {
        str(name): datetime.fromisoformat(str(at).replace("Z", "+00:00")) for name, at in learned.items()})


def _dict_shape(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("expected an object")
    return value


@dataclass(frozen=True)
class SweepCursor:
    """``sweep_cursor.json`` as stored (``next_call`` unchecked: ``start`` checks it)."""

    workload_date: Any
    next_call: Any

    def start(self, workload_date: str) -> int:
        """Index of the planned call the next sweep starts with (0 for a new workload or a bad value)."""
        cursor = self.next_call
        if self.workload_date != workload_date or not isinstance(cursor, int) or cursor < 0:
            return 0
        return cursor


@dataclass(frozen=True)
class LedgerState:
    """The quota ledger's files as read (``restore_ledger`` puts them into a ``QuotaLedger``).

    Attributes:
        history: ``call_history.json`` when it decoded to ``{"calls": {...}}``; None otherwise.
        history_stored: ``call_history.json`` exists (readable or not): a lost history must not be taken
            for no history.
        last_finished_at: ``last_run.json`` ``finished_at`` (None when missing or unreadable).
        over_limit: ``over_limit_locations.json`` (``{}`` when missing or unreadable; entries unchecked).
        last_bucket: ``last_subscription_location.json`` as (subscription, location), when usable.
    """

    history: dict[str, Any] | None
    history_stored: bool
    last_finished_at: Any
    over_limit: dict[str, Any]
    last_bucket: tuple[str, str] | None


def restore_ledger(ledger: QuotaLedger, saved: LedgerState, now: float) -> None:
    """Restore call history, cool-downs and the round-robin point into ``ledger`` (module docstring: an
    unusable call history is rebuilt as every bucket used up at the end of the last run)."""
    restored = False
    if saved.history is not None:
        try:
            ledger.restore(saved.history["calls"], {})
            restored = True
        except (ValueError, TypeError) as exc:
            log.warning("SPS call history has bad entries (%s)", exc)
    if not restored and saved.history_stored:
        finished = saved.last_finished_at
        at = float(finished) if isinstance(finished, int | float) and finished <= now else now
        log.warning("SPS call history unusable: assuming every (subscription, location) used its full quota "
                    "at %.0f (end of the last run) so this run cannot overspend", at)
        ledger.assume_exhausted(at)
    try:
        ledger.restore({}, saved.over_limit)
    except (ValueError, TypeError) as exc:
        log.warning("SPS over-limit list has bad entries (%s); cool-downs reset", exc)
    if saved.last_bucket is not None:
        ledger.resume_after(saved.last_bucket)


class SpsState:
    """Read and write the SPS state files of one store (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _write(self, name: str, value: Any) -> None:
        write_json(self.store, sps_saved_key(name), value)

    # invalid regions / sizes ------------------------------------------------------------------------
    def _learned(self, name: str) -> LearnedInvalid:
        return read_state(self.store, name, NO_LEARNED, _learned_shape)[0]

    def learned_regions(self) -> LearnedInvalid:
        """``invalid_regions.json`` as stored (empty when missing or unusable)."""
        return self._learned(INVALID_REGIONS)

    def learned_sizes(self) -> LearnedInvalid:
        """``invalid_sizes.json`` as stored (empty when missing or unusable)."""
        return self._learned(INVALID_SIZES)

    def invalid_regions(self, workload_date: str, slot: datetime) -> set[str]:
        """Regions an SPS 400 named invalid that are still in force at ``slot`` (module docstring)."""
        return self._learned(INVALID_REGIONS).in_force(workload_date, slot)

    def invalid_sizes(self, workload_date: str, slot: datetime) -> set[str]:
        """Sizes an SPS 400 named invalid that are still in force at ``slot`` (module docstring)."""
        return self._learned(INVALID_SIZES).in_force(workload_date, slot)

    def add_invalid(self, workload_date: str, slot: datetime, regions: set[str], sizes: set[str]) -> None:
        """Persist values learned at ``slot``; entries of another workload date are dropped (expired)."""
        self.save_learned(
            self.learned_regions().add(workload_date, slot, regions) if regions else None,
            self.learned_sizes().add(workload_date, slot, sizes) if sizes else None,
        )

    def save_learned(self, regions: LearnedInvalid | None, sizes: LearnedInvalid | None) -> None:
        """Write the learned regions, then sizes; None leaves that file as it is."""
        for name, learned in ((INVALID_REGIONS, regions), (INVALID_SIZES, sizes)):
            if learned is not None:
                self._write(name, learned.to_json())

    # endpoint locations -----------------------------------------------------------------------------
    def available_locations(self) -> LocationsState | None:
        value, ok = read_state(self.store, AVAILABLE_LOCATIONS, None, _locations_shape)
        return value if ok and value.locations else None

    def save_available_locations(self, date: str, locations: list[str]) -> None:
        self._write(AVAILABLE_LOCATIONS, {"date": date, "locations": sorted(set(locations))})

    # maps ---------------------------------------------------------------------------------------------
    def save_maps(self, workload_date: str, region_map: dict[str, list[str]], size_map: dict[str, list[str]]) -> None:
        self._write(REGION_MAP, {"workload_date": workload_date, "regions": region_map})
        self._write(SIZE_MAP, {"workload_date": workload_date, "sizes": size_map})

    def region_map(self) -> tuple[str | None, dict[str, list[str]]]:
        """(workload_date, {region: [sizes]}) of the stored workload; (None, {}) when missing/corrupt."""
        def shape(value: Any) -> tuple[str, dict[str, list[str]]]:
            regions = value["regions"]
            if not isinstance(regions, dict):
                raise ValueError("regions is not an object")
            return str(value["workload_date"]), {str(r): _string_list(s) for r, s in regions.items()}

        return read_state(self.store, REGION_MAP, (None, {}), shape)[0]

    # quota ledger -------------------------------------------------------------------------------------
    def ledger_state(self) -> LedgerState:
        """The quota ledger's files (call history, last run's end, cool-downs, round-robin point)."""
        history, ok = read_state(self.store, CALL_HISTORY, None, _calls_shape)
        stored = self.store.exists(sps_saved_key(CALL_HISTORY))
        over_limit, _ = read_state(self.store, OVER_LIMIT, {}, _dict_shape)
        last, last_ok = read_state(self.store, LAST_SUBSCRIPTION_LOCATION, None, _dict_shape)
        bucket = None
        if last_ok and isinstance(last.get("subscription"), str) and isinstance(last.get("location"), str):
            bucket = (last["subscription"], last["location"])
        return LedgerState(history if ok else None, stored, self.last_run().get("finished_at"), over_limit, bucket)

    def load_ledger(self, ledger: QuotaLedger, now: float) -> None:
        """Restore call history, cool-downs and the round-robin point into ``ledger`` (``restore_ledger``)."""
        restore_ledger(ledger, self.ledger_state(), now)

    def save_ledger(self, ledger: QuotaLedger, now: float) -> None:
        self._write(CALL_HISTORY, {"window_seconds": ledger.window, "saved_at": round(now, 3),
                                   "calls": ledger.call_history(now)})
        self._write(OVER_LIMIT, ledger.over_limit(now))
        last = ledger.last_bucket
        if last is not None:
            self._write(LAST_SUBSCRIPTION_LOCATION, {"subscription": last[0], "location": last[1]})

    # sweep cursor ---------------------------------------------------------------------------------------
    def stored_sweep_cursor(self) -> SweepCursor | None:
        """``sweep_cursor.json`` as stored; None when missing or unusable."""
        value, ok = read_state(self.store, SWEEP_CURSOR, {}, _dict_shape)
        return SweepCursor(value.get("workload_date"), value.get("next_call")) if ok else None

    def sweep_cursor(self, workload_date: str) -> int:
        """Index of the planned call the next sweep starts with (0 for a new workload or a bad file)."""
        cursor = self.stored_sweep_cursor()
        return 0 if cursor is None else cursor.start(workload_date)

    def save_sweep_cursor(self, workload_date: str, next_call: int) -> None:
        self._write(SWEEP_CURSOR, {"workload_date": workload_date, "next_call": next_call})

    # run report ---------------------------------------------------------------------------------------
    def save_last_run(self, report: dict[str, Any]) -> None:
        self._write(LAST_RUN, report)

    def last_run(self) -> dict[str, Any]:
        return read_state(self.store, LAST_RUN, {}, _dict_shape)[0]
