#!/usr/bin/env python3
"""The run lease held by ``run_collection.sh`` across one run (docs/contract.md 8: no overlapping runs), and how
an operator looks at or breaks a lease on purpose.

Usage:
    run_lease.py acquire [--name run] [--pid PID] [--slot SLOT]
                                       take the lease for settings.lease_ttl_seconds; print the holder id
    run_lease.py release --holder ID [--name run]   give it back if it is still ours
    run_lease.py show [--name run]                  print who holds the lease and until when
    run_lease.py break [--name run] [--holder ID]   remove the lease whoever holds it (only ID's with --holder)

Bash holds the lease by remembering the holder id printed by ``acquire`` (``--pid``: the orchestrator's own
pid, recorded as the holder process) and calling ``release`` from its EXIT trap. A run that crashes without
releasing leaves a lease that is taken over

- at once on a local store when its holder process on this host is dead (logged "took over lease ... at
  once: its process N on this host is dead");
- at once by the next attempt of the same AWS Batch job (``AWS_BATCH_JOB_ID``, ``AWS_BATCH_JOB_ATTEMPT``);
- otherwise when it expires: ``SPOTLAKE_LEASE_TTL``, by default the job timeout ``SPOTLAKE_JOB_TIMEOUT``
  (540 s) plus Batch's 30 s stop grace, so a dead run never blocks the next 10-minute slot.

``break`` is for an operator who knows the holder is gone (e.g. an S3 store after a crashed run on another
host): ``python3 scripts/run_lease.py break`` with the run's SPOTLAKE_STORE; ``--name merge`` or
``--name sps-state`` for the leases of the merge and the SPS collector.

Exit codes: 0 ok (``break``/``show`` with no lease: 0 too); 1 another run holds the lease ("another run
holds the lease ... until ..."); 2 bad configuration; 3 the store failed (the message names the store
error).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

if __name__ == "__main__":  # run by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from utils.runtime import require_runtime

    require_runtime()

from utils.entrypoint import run_mapped
from utils.errors import EXIT_FAILED, EXIT_OK, ObjectNotFound, RunFailed, UsageError
from utils.lease import Lease, LeaseHeld, acquire, break_lease, lease_key, release
from utils.logs import setup_logging
from utils.settings import load_settings
from utils.store import LocalStore, Store, open_store

DEFAULT_NAME = "run"
EXIT_STORE = 3


def _until(expires_at: object) -> str:
    return datetime.fromtimestamp(float(expires_at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[arg-type]


def held_message(store: Store, name: str) -> str:
    """A one-line explanation naming the current holder and its expiry, read from the lease object."""
    try:
        current = json.loads(store.get_bytes(lease_key(name)))
        holder = str(current.get("holder", "?"))
        until = _until(current["expires_at"])
    except (ObjectNotFound, ValueError, KeyError, TypeError, AttributeError):
        # The lease changed hands or vanished since acquire refused it; the refusal itself still stands.
        return f"another run holds the lease {name!r} (its details are no longer readable)"
    return (f"another run holds the lease {name!r} ({holder}) until {until}; not starting an overlapping run "
            f"(if that run is gone for sure: python3 scripts/run_lease.py break --name {name})")  # fmt: skip


def describe(current: Mapping[str, object]) -> str:
    fields = [f"holder {current.get('holder', '?')}"]
    try:
        fields.append(f"until {_until(current['expires_at'])}")
    except (KeyError, TypeError, ValueError):
        fields.append("no readable expiry")
    for name in ("host", "pid", "batch_job_id", "batch_attempt", "slot"):
        if current.get(name) not in (None, ""):
            fields.append(f"{name} {current[name]}")
    return ", ".join(fields)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run_lease.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    take = sub.add_parser("acquire")
    take.add_argument("--name", default=DEFAULT_NAME)
    take.add_argument("--pid", type=int, default=None, help="the holder process (default: this one)")
    take.add_argument("--slot", default="", help="the slot the holder runs, recorded for operators")
    give = sub.add_parser("release")
    give.add_argument("--name", default=DEFAULT_NAME)
    give.add_argument("--holder", required=True)
    show = sub.add_parser("show")
    show.add_argument("--name", default=DEFAULT_NAME)
    brk = sub.add_parser("break")
    brk.add_argument("--name", default=DEFAULT_NAME)
    brk.add_argument("--holder", default=None, help="only break the lease if this holder has it")
    return parser


class _Refused(LeaseHeld):
    """``acquire`` refused: the message (``held_message``) already names the holder and its expiry."""


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    log = setup_logging("run")

    def report(exc: BaseException, _code: int) -> None:
        if isinstance(exc, (UsageError, _Refused)):
            log.error("%s", exc)
        elif isinstance(exc, LeaseHeld):
            log.error("lease %s refused: %s", args.command, exc)
        else:  # StoreError, and any other failure of the store's client
            log.error("lease %s failed: the store failed: %s", args.command, exc)

    return run_mapped(lambda: _command(args, os.environ if env is None else env, log), report,
                      catch=(UsageError, RunFailed), codes=((LeaseHeld, EXIT_FAILED), (RunFailed, EXIT_STORE)))


def _command(args: argparse.Namespace, env: Mapping[str, str], log: logging.Logger) -> int:
    settings = load_settings(env, azure_credential=False)  # never calls Azure
    store = open_store(settings)
    if args.command == "acquire":
        try:
            lease = acquire(store, args.name, settings.lease_ttl_seconds, pid=args.pid, slot=args.slot)
        except LeaseHeld:
            raise _Refused(held_message(store, args.name)) from None
        if isinstance(store, LocalStore) and args.name == DEFAULT_NAME:
            # Holding the run lease: temp files older than a run can live belong to killed writers.
            removed = store.remove_stale_temp_files(settings.lease_ttl_seconds)
            if removed:
                log.info("removed %d temp file(s) left by killed writers", removed)
        print(lease.holder)
        return EXIT_OK
    if args.command == "release":
        release(store, Lease(args.name, lease_key(args.name), args.holder, 0.0))
        return EXIT_OK
    if args.command == "show":
        try:
            current = json.loads(store.get_bytes(lease_key(args.name)))
        except ObjectNotFound:
            print(f"lease {args.name!r}: free")
            return EXIT_OK
        print(f"lease {args.name!r}: {describe(current) if isinstance(current, dict) else 'unreadable'}")
        return EXIT_OK
    broken = break_lease(store, args.name, holder=args.holder)
    if broken is None:
        log.info("lease %r is free; nothing to break", args.name)
    else:
        log.warning("broke lease %r (%s) on purpose", args.name, describe(broken))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
