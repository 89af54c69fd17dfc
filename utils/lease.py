"""A lease in the store: at most one holder at a time, expiring if the holder crashes (SPEC section 8).

Acquire = create-if-absent of ``locks/azure/<name>.json`` holding the holder id and expiry. An existing
lease whose expiry has passed is taken over with compare-and-swap on the object's tag, so two contenders
cannot both take over the same expired lease. Release deletes the object only if it is still ours.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from utils.constants import LEASE_PREFIX
from utils.errors import ObjectNotFound, RunFailed
from utils.store import Store

log = logging.getLogger(__name__)


class LeaseHeld(RunFailed):
    """Another holder has the lease and it has not expired."""


@dataclass(frozen=True)
class Lease:
    name: str
    key: str
    holder: str
    expires_at: float


def _payload(holder: str, expires_at: float) -> bytes:
    return json.dumps({"holder": holder, "expires_at": expires_at, "host": socket.gethostname(),
                       "pid": os.getpid()}).encode()  # fmt: skip


def acquire(store: Store, name: str, ttl_seconds: float, *, holder: str | None = None,
            clock: Callable[[], float] = time.time) -> Lease:
    """Take the lease ``name`` for ``ttl_seconds``; raises ``LeaseHeld`` when someone else holds it."""
    key = f"{LEASE_PREFIX}/{name}.json"
    holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    expires_at = clock() + ttl_seconds
    if store.put_if_absent(key, _payload(holder, expires_at)):
        return Lease(name, key, holder, expires_at)
    try:
        data, tag = store.get_with_tag(key)
    except ObjectNotFound:
        # Released between our two calls: try once more from scratch.
        if store.put_if_absent(key, _payload(holder, expires_at)):
            return Lease(name, key, holder, expires_at)
        raise LeaseHeld(f"lease {name!r} is held by another run") from None
    try:
        current = json.loads(data)
        current_expiry = float(current["expires_at"])
        current_holder = str(current.get("holder", "?"))
    except (ValueError, KeyError, TypeError):
        current_expiry, current_holder = 0.0, "unreadable lease"  # a corrupt lease protects nothing
    now = clock()
    if current_expiry > now:
        raise LeaseHeld(
            f"lease {name!r} is held by {current_holder} for another {current_expiry - now:.0f}s; "
            "another run is in progress"
        )
    if store.put_if_match(key, _payload(holder, expires_at), tag):
        log.warning("took over expired lease %s from %s", name, current_holder)
        return Lease(name, key, holder, expires_at)
    raise LeaseHeld(f"lease {name!r} was taken over by another run")


def release(store: Store, lease: Lease) -> None:
    """Delete the lease if it is still ours (a taken-over lease is left to its new holder)."""
    try:
        data = store.get_bytes(lease.key)
    except ObjectNotFound:
        return
    try:
        ours = json.loads(data).get("holder") == lease.holder
    except ValueError:
        ours = False
    if ours:
        store.delete(lease.key)


@contextmanager
def held(store: Store, name: str, ttl_seconds: float, *, holder: str | None = None) -> Iterator[Lease]:
    """``with held(store, "run", 900): ...`` — acquire, run the block, release."""
    lease = acquire(store, name, ttl_seconds, holder=holder)
    try:
        yield lease
    finally:
        release(store, lease)
