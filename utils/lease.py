"""A lease in the store: at most one holder at a time, expiring if the holder crashes (docs/contract.md 8).

Acquire = create-if-absent of ``locks/azure/<name>.json`` holding the holder id, the expiry and who holds
it (host, pid, the pid's start time, boot id and pid namespace, and the AWS Batch job id and attempt when
set). An existing lease is taken over, with compare-and-swap on the object's tag so two contenders cannot
both take over the same lease, when

- it has expired (the lifetime follows the job's timeout: ``settings.lease_ttl_seconds``), unless its holder
  is provably still running on this machine (local store: a run that outlived its lease is not overlapped);
- its holder is provably gone: the store is local, the lease names this host, boot and pid namespace, and its
  pid is dead (or is now a different process: another start time). On a shared store (S3) a host cannot see
  another host's processes, so there only the expiry and the next rule apply;
- it was taken by an earlier attempt of this same AWS Batch job (``AWS_BATCH_JOB_ID`` equal,
  ``AWS_BATCH_JOB_ATTEMPT`` lower): Batch starts attempt n+1 only after attempt n ended (host loss), so that
  holder is gone too.

Release deletes the object only if it is still ours. ``break_lease`` removes a lease on purpose (operator
action, ``scripts/run_lease.py break``). Leases this process holds are also registered, so a process that is
being stopped by a signal can give them back before it exits (``release_all_held``, utils/entrypoint.py).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from utils.constants import LEASE_PREFIX
from utils.errors import ObjectNotFound, RunFailed, StoreError
from utils.store import LocalStore, Store

log = logging.getLogger(__name__)


class LeaseHeld(RunFailed):
    """Another holder has the lease and it has not expired."""


@dataclass(frozen=True)
class Lease:
    name: str
    key: str
    holder: str
    expires_at: float


def lease_key(name: str) -> str:
    return f"{LEASE_PREFIX}/{name}.json"


# --- who holds a lease ------------------------------------------------------------------------------------
def _read_first_line(path: str) -> str:
    try:
        return Path(path).read_text().split("\n", 1)[0].strip()
    except OSError:
        return ""  # not Linux (no /proc): that identity field stays empty and proves nothing


def process_start_time(pid: int) -> str:
    """The start time of ``pid`` in clock ticks since boot (``/proc/PID/stat`` field 22); "" if unknown."""
    text = _read_first_line(f"/proc/{pid}/stat")
    if not text or ")" not in text:
        return ""
    fields = text.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else ""  # fields after "pid (comm)": state is field 3 -> index 0


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def holder_identity(pid: int | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What a lease records about its holder: ``pid`` defaults to this process (the orchestrator passes its
    own, since run_lease.py itself exits at once)."""
    env = os.environ if env is None else env
    pid = os.getpid() if pid is None else pid
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "pid_start": process_start_time(pid),
        "boot_id": _read_first_line("/proc/sys/kernel/random/boot_id"),
        "pid_ns": _pid_namespace(),
        "batch_job_id": env.get("AWS_BATCH_JOB_ID", ""),
        "batch_attempt": env.get("AWS_BATCH_JOB_ATTEMPT", ""),
    }


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def holder_alive_here(current: Mapping[str, Any], me: Mapping[str, Any], *, local_store: bool) -> bool:
    """Whether the holder is provably still running: same machine (host, boot, pid namespace) and its pid
    alive with the recorded start time. Only a local store, and only where start times are known."""
    if not local_store or not all(current.get(f) == me.get(f) and me.get(f) for f in ("host", "boot_id", "pid_ns")):
        return False
    try:
        pid = int(current["pid"])
    except (KeyError, TypeError, ValueError):
        return False
    started = str(current.get("pid_start") or "")
    if pid <= 0 or pid == os.getpid():  # our own expired lease (one process, several acquires): take it
        return False
    return bool(started) and _pid_alive(pid) and process_start_time(pid) == started


def holder_gone_reason(current: Mapping[str, Any], me: Mapping[str, Any], *, local_store: bool) -> str:
    """Why the holder recorded in ``current`` is provably gone ("" when it may still be running)."""
    job, attempt = str(current.get("batch_job_id") or ""), str(current.get("batch_attempt") or "")
    mine = str(me.get("batch_attempt") or "")
    if job and job == me.get("batch_job_id") and attempt.isdigit() and mine.isdigit() and int(attempt) < int(mine):
        return f"it was attempt {attempt} of this AWS Batch job {job}, now at attempt {mine}"
    if not local_store:
        return ""  # another host's processes cannot be seen from here: the expiry decides
    same_machine = all(current.get(f) == me.get(f) and me.get(f) for f in ("host", "boot_id", "pid_ns"))
    if not same_machine:
        if current.get("host") == me.get("host") and me.get("boot_id") and current.get("boot_id") \
                and current.get("boot_id") != me.get("boot_id"):  # fmt: skip
            return "this host has rebooted since it took the lease"
        return ""
    try:
        pid = int(current["pid"])
    except (KeyError, TypeError, ValueError):
        return ""
    if pid <= 0 or pid == os.getpid():
        return ""
    if not _pid_alive(pid):
        return f"its process {pid} on this host is dead"
    started = str(current.get("pid_start") or "")
    if started and process_start_time(pid) not in ("", started):
        return f"its process {pid} on this host is dead (the pid now belongs to another process)"
    return ""


# --- held leases of this process --------------------------------------------------------------------------
_HELD: dict[str, tuple[Store, Lease]] = {}
_HELD_LOCK = threading.Lock()


def release_all_held(reason: str) -> int:
    """Release every lease this process still holds (a signal is stopping it); returns how many.

    Errors are logged, not raised: this runs on the way out of a stopped process, and a lease that cannot
    be deleted still expires (or is taken over once its holder is provably gone)."""
    with _HELD_LOCK:
        held_now = list(_HELD.values())
    released = 0
    for store, lease in held_now:
        try:
            release(store, lease)
            released += 1
            log.warning("released lease %s (%s)", lease.name, reason)
        except Exception as exc:  # see the docstring: the process is exiting either way
            log.error("could not release lease %s (%s): %s", lease.name, reason, exc)
    return released


# --- acquire / release --------------------------------------------------------------------------------------
def _payload(holder: str, expires_at: float, identity: Mapping[str, Any], slot: str) -> bytes:
    return json.dumps({"holder": holder, "expires_at": expires_at, **identity, "slot": slot}).encode()


def acquire(store: Store, name: str, ttl_seconds: float, *, holder: str | None = None,
            clock: Callable[[], float] = time.time, pid: int | None = None, slot: str = "",
            env: Mapping[str, str] | None = None) -> Lease:  # fmt: skip
    """Take the lease ``name`` for ``ttl_seconds``; raises ``LeaseHeld`` when someone else holds it.

    Store failures surface as ``StoreError`` (never as ``LeaseHeld``)."""
    key = lease_key(name)
    me = holder_identity(pid, env)
    holder = holder or f"{me['host']}:{me['pid']}:{uuid.uuid4().hex[:8]}"
    expires_at = clock() + ttl_seconds
    payload = _payload(holder, expires_at, me, slot)
    lease = Lease(name, key, holder, expires_at)
    if store.put_if_absent(key, payload):
        return _register(store, lease)
    try:
        data, tag = store.get_with_tag(key)
    except ObjectNotFound:
        # Released between our two calls: try once more from scratch.
        if store.put_if_absent(key, payload):
            return _register(store, lease)
        raise LeaseHeld(f"lease {name!r} is held by another run") from None
    try:
        current = json.loads(data)
        current_expiry = float(current["expires_at"])
        current_holder = str(current.get("holder", "?"))
    except (ValueError, KeyError, TypeError, AttributeError):
        current, current_expiry, current_holder = {}, 0.0, "unreadable lease"  # a corrupt lease protects nothing
    now = clock()
    gone = ""
    if current_expiry <= now and holder_alive_here(current, me, local_store=isinstance(store, LocalStore)):
        # Expired, but its holder is still running on this machine (a local run longer than the lease
        # lifetime): taking it over would start an overlapping run.
        raise LeaseHeld(
            f"lease {name!r} is held by {current_holder}: it expired {now - current_expiry:.0f}s ago but its "
            f"process {current.get('pid')} on this host is still running; another run is in progress"
        )
    if current_expiry > now:
        gone = holder_gone_reason(current, me, local_store=isinstance(store, LocalStore))
        if not gone:
            raise LeaseHeld(
                f"lease {name!r} is held by {current_holder} for another {current_expiry - now:.0f}s; "
                "another run is in progress"
            )
    if store.put_if_match(key, payload, tag):
        of_slot = f" (slot {current['slot']})" if current.get("slot") else ""
        if gone:
            log.warning("took over lease %s from %s at once: %s%s", name, current_holder, gone, of_slot)
        else:
            log.warning("took over expired lease %s from %s%s", name, current_holder, of_slot)
        return _register(store, lease)
    raise LeaseHeld(f"lease {name!r} was taken over by another run")


def _register(store: Store, lease: Lease) -> Lease:
    with _HELD_LOCK:
        _HELD[lease.key] = (store, lease)
    return lease


def release(store: Store, lease: Lease) -> None:
    """Delete the lease if it is still ours (a taken-over lease is left to its new holder)."""
    with _HELD_LOCK:
        if _HELD.get(lease.key, (None, None))[1] == lease:
            del _HELD[lease.key]
    try:
        data = store.get_bytes(lease.key)
    except ObjectNotFound:
        return
    try:
        ours = json.loads(data).get("holder") == lease.holder
    except (ValueError, AttributeError):
        ours = False
    if ours:
        store.delete(lease.key)


def break_lease(store: Store, name: str, *, holder: str | None = None) -> dict[str, Any] | None:
    """Remove the lease ``name`` on purpose, whoever holds it; returns what it held (None: no lease).

    ``holder`` given: only that holder's lease is removed (``LeaseHeld`` when another holds it now)."""
    key = lease_key(name)
    try:
        data, tag = store.get_with_tag(key)
    except ObjectNotFound:
        return None
    try:
        current = json.loads(data)
        if not isinstance(current, dict):
            raise ValueError("not an object")
    except ValueError:
        current = {"holder": "unreadable lease"}
    if holder is not None and current.get("holder") != holder:
        raise LeaseHeld(f"lease {name!r} is held by {current.get('holder', '?')}, not {holder}")
    # Swap in an already-expired lease first, so a holder that took it over meanwhile is not broken blindly;
    # then delete it (a later contender takes over an expired lease anyway).
    if not store.put_if_match(key, _payload("broken", 0.0, {}, ""), tag):
        raise LeaseHeld(f"lease {name!r} changed hands while being broken; look again")
    store.delete(key)
    return current


@contextmanager
def held(store: Store, name: str, ttl_seconds: float, *, holder: str | None = None) -> Iterator[Lease]:
    """``with held(store, "run", 900): ...`` — acquire, run the block, release."""
    lease = acquire(store, name, ttl_seconds, holder=holder)
    try:
        yield lease
    finally:
        release(store, lease)


__all__ = ["Lease", "LeaseHeld", "StoreError", "acquire", "break_lease", "held", "holder_gone_reason",
           "holder_identity", "lease_key", "release", "release_all_held"]  # fmt: skip
