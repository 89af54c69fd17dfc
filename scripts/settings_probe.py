#!/usr/bin/env python3
"""What ``run_collection.sh`` asks Python, so bash never parses a timestamp, a setting or a key itself.

Usage:
    settings_probe.py slot [TIMESTAMP]           print the canonical slot, e.g. 2025-12-13T13:00:00Z (refuses
                                                 a slot more than one slot ahead of the clock)
    settings_probe.py env                        print KEY=VALUE lines the orchestrator needs (see ENV_KEYS)
    settings_probe.py preflight                  check the sink prerequisites (bucket, Timestream database and
                                                 table, log group access) before anything runs
    settings_probe.py sps-key --slot SLOT [--handoff PATH] [--publish PATH]
                                                 print the raw SPS key from the handoff file (default
                                                 SPS_KEY_FILE) after checking it names this slot's raw object
                                                 and it exists; --publish also writes it to PATH atomically

Exit codes: 0 ok; 1 the handoff file is missing, stale or names an absent object (sps-key), or a sink
prerequisite is missing (preflight); 2 bad timestamp or configuration, with the message on stderr.

``env`` prints one ``KEY=VALUE`` per line; values never contain a newline, so bash reads them with
``IFS='=' read -r key value`` and a ``case`` over the known keys (no ``eval``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

if __name__ == "__main__":  # run by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from utils.runtime import require_runtime

    require_runtime()

from utils.constants import parse_sps_key
from utils.entrypoint import run_mapped
from utils.errors import EXIT_OK, ObjectNotFound, RunFailed, UsageError
from utils.handoff import write_handoff
from utils.logs import setup_logging
from utils.preflight import check_sinks
from utils.settings import Settings, load_settings
from utils.store import Store, open_store
from utils.timestamps import parse_slot, slot_iso

# The keys ``env`` prints, in order; run_collection.sh reads exactly these.
ENV_KEYS = (
    "STORE",  # human description of the store root (local path or s3://bucket/prefix)
    "STORE_KIND",  # local | s3
    "EMULATOR_ENABLED",  # 1 | 0
    "EMULATOR_URL",  # an emulator already running, or empty
    "EMULATOR_CATALOG",  # catalog for an emulator the run starts, or empty (the bundled one)
    "SPS_KEY_FILE",  # the handoff file
    "LEASE_TTL",  # seconds
    "TIMESERIES",  # sink kind
    "METRICS",  # sink kind
)


def canonical_slot(text: str | None) -> str:
    """The run slot of a TIMESTAMP argument in ISO form with Z; '' or None = now floored.

    Raises:
        UsageError: not one of the accepted forms (the message lists them).
    """
    return slot_iso(parse_slot(text or None))


def orchestrator_env(settings: Settings) -> dict[str, str]:
    """The values run_collection.sh needs, as single-line strings keyed by ``ENV_KEYS``."""
    values = {
        "STORE": settings.store.describe(),
        "STORE_KIND": settings.store.kind,
        "EMULATOR_ENABLED": "1" if settings.emulator.enabled else "0",
        "EMULATOR_URL": settings.emulator.url or "",
        "EMULATOR_CATALOG": str(settings.emulator.catalog) if settings.emulator.catalog else "",
        "SPS_KEY_FILE": str(settings.sps_key_file),
        "LEASE_TTL": str(settings.lease_ttl_seconds),
        "TIMESERIES": settings.timeseries.kind,
        "METRICS": settings.metrics.kind,
    }
    for key, value in values.items():
        if "\n" in value or "\r" in value:
            raise UsageError(f"{key} contains a line break; refusing to hand it to the shell")
    return values


def render_env(values: Mapping[str, str]) -> str:
    return "".join(f"{key}={values[key]}\n" for key in ENV_KEYS)


def checked_sps_key(handoff_text: str, slot_text: str, store: Store) -> str:
    """The raw SPS key from the handoff file contents, if it names the raw object of this slot and exists.

    Raises:
        RunFailed: empty, another slot's key, not an SPS key, or the object is absent.
    """
    key = handoff_text.strip()
    if not key:
        raise RunFailed("the SPS handoff file is empty")
    try:
        key_slot, _count = parse_sps_key(key)
    except UsageError as exc:
        raise RunFailed(f"the SPS handoff file does not hold a raw SPS key: {exc}") from exc
    if slot_iso(key_slot) != slot_text:
        raise RunFailed(f"the SPS handoff file names slot {slot_iso(key_slot)}, not this run's slot {slot_text}")
    if not store.exists(key):
        raise RunFailed(f"the SPS handoff file names {key}, which is not in the store")
    return key


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="settings_probe.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    slot = sub.add_parser("slot", help="print the canonical slot of TIMESTAMP (default: now)")
    slot.add_argument("timestamp", nargs="?", default=None)
    sub.add_parser("env", help="print the settings the orchestrator needs as KEY=VALUE lines")
    sub.add_parser("preflight", help="check the sink prerequisites before anything is published")
    key = sub.add_parser("sps-key", help="print the checked raw SPS key from the handoff file")
    key.add_argument("--slot", required=True, help="canonical slot, as printed by the slot command")
    key.add_argument("--handoff", type=Path, default=None, help="the handoff file to read (default SPS_KEY_FILE)")
    key.add_argument("--publish", type=Path, default=None, help="also write the checked key to this file")
    return parser


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = os.environ if env is None else env
    return run_mapped(lambda: _probe(args, env), lambda exc, _code: print(f"error: {exc}", file=sys.stderr),
                      catch=(UsageError, RunFailed, ObjectNotFound))


def _probe(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    if args.command == "slot":
        print(canonical_slot(args.timestamp))
        return EXIT_OK
    # Only the collectors call Azure: the orchestrator's env probe checks the credential for them.
    settings = load_settings(env, azure_credential=args.command == "env")
    if args.command == "env":
        sys.stdout.write(render_env(orchestrator_env(settings)))
        return EXIT_OK
    if args.command == "preflight":
        setup_logging("run")
        check_sinks(settings)
        return EXIT_OK
    path = args.handoff or settings.sps_key_file
    try:
        handoff = path.read_text()
    except FileNotFoundError:
        raise RunFailed(f"no SPS handoff file at {path}") from None
    key = checked_sps_key(handoff, args.slot, open_store(settings))
    if args.publish is not None:
        try:
            write_handoff(args.publish, key)
        except OSError as exc:
            raise RunFailed(f"cannot write the handoff file {args.publish}: {exc.strerror}") from exc
    print(key)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
