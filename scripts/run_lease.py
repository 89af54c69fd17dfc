#!/usr/bin/env python3
"""The run lease held by ``run_collection.sh`` across one run (SPEC section 8: no overlapping runs).

Usage:
    run_lease.py acquire [--name run]            take the lease for settings.lease_ttl_seconds; print the holder id
    run_lease.py release --holder ID [--name run]   give it back if it is still ours

Bash holds the lease by remembering the holder id printed by ``acquire`` and calling ``release`` from its
EXIT trap. A run that crashes without releasing leaves a lease that expires after the TTL (default 900 s,
longer than the Batch attempt timeout), and the next run takes it over.

Exit codes: 0 ok; 1 another run holds the lease ("another run holds the lease ... until ..."), or the
store failed; 2 bad configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

if __name__ == "__main__":  # run by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from utils.runtime import require_runtime

    require_runtime()

from utils.constants import LEASE_PREFIX
from utils.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ObjectNotFound, RunFailed, UsageError
from utils.lease import Lease, LeaseHeld, acquire, release
from utils.logs import setup_logging
from utils.settings import load_settings
from utils.store import Store, open_store

DEFAULT_NAME = "run"


def lease_key(name: str) -> str:
    return f"{LEASE_PREFIX}/{name}.json"


def held_message(store: Store, name: str) -> str:
    """A one-line explanation naming the current holder and its expiry, read from the lease object."""
    try:
        current = json.loads(store.get_bytes(lease_key(name)))
        holder = str(current.get("holder", "?"))
        until = datetime.fromtimestamp(float(current["expires_at"]), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ObjectNotFound, ValueError, KeyError, TypeError):
        # The lease changed hands or vanished since acquire refused it; the refusal itself still stands.
        return f"another run holds the lease {name!r} (its details are no longer readable)"
    return f"another run holds the lease {name!r} ({holder}) until {until}; not starting an overlapping run"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run_lease.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    take = sub.add_parser("acquire")
    take.add_argument("--name", default=DEFAULT_NAME)
    give = sub.add_parser("release")
    give.add_argument("--name", default=DEFAULT_NAME)
    give.add_argument("--holder", required=True)
    return parser


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    log = setup_logging("run")
    try:
        settings = load_settings(os.environ if env is None else env)
        store = open_store(settings)
        if args.command == "acquire":
            try:
                lease = acquire(store, args.name, settings.lease_ttl_seconds)
            except LeaseHeld:
                log.error("%s", held_message(store, args.name))
                return EXIT_FAILED
            print(lease.holder)
            return EXIT_OK
        release(store, Lease(args.name, lease_key(args.name), args.holder, 0.0))
        return EXIT_OK
    except UsageError as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    except RunFailed as exc:
        log.error("lease %s failed: %s", args.command, exc)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
