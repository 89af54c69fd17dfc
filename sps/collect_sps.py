#!/usr/bin/env python3
"""Collect Spot Placement Scores for one 10-minute slot (docs/contract.md 2, 5-8).

Usage: python3 sps/collect_sps.py [--timestamp T]

Environment: see docs/contract.md 4 (SPOTLAKE_STORE, SPS_KEY_FILE, Azure credential or SPOTLAKE_AZURE_EMULATOR,
SPOTLAKE_EMULATOR_URL, SPOTLAKE_SPS_WORKERS, SPOTLAKE_SPS_QUOTA, SPOTLAKE_SPS_QUOTA_WINDOW_MINUTES,
SPOTLAKE_CLOCK, ...).

Writes the raw object ``rawdata/azure/sps/YYYY/MM/DD/HH-MM_sps_{count}.parquet``, then its key to the
handoff file, then the rotation metadata and ``last_run.json`` (see ``sps/load_sps.py``).
Exit codes: 0 ok (a sweep cut short by quota is a partial success, docs/contract.md 8), 1 run failed (including
another SPS run holding the state lease), 2 bad usage (e.g. a bad --timestamp).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __name__ == "__main__":  # run by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from utils.runtime import require_runtime

    require_runtime()

import requests
from requests.adapters import HTTPAdapter

from sps.load_sps import collect_slot
from utils.azure_api.auth import load_azure_auth
from utils.emulator_mode import azure_endpoints
from utils.entrypoint import add_timestamp_argument, describe_settings, run_entry
from utils.errors import RunFailed
from utils.settings import Settings
from utils.store import open_store
from utils.timestamps import parse_slot, slot_iso

COMPONENT = "sps"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="collect_sps.py", description="Collect Azure Spot Placement Scores "
                                     "for one 10-minute slot.")
    add_timestamp_argument(parser)
    return parser


def sps_session(settings: Settings) -> requests.Session:
    """A session whose pool holds a connection per concurrent SPS call (and per price page while the workload
    is rebuilt), without urllib3 retries (ours decide)."""
    session = requests.Session()
    size = max(settings.sps_workers, settings.price_workers, 1)
    adapter = HTTPAdapter(pool_connections=size, pool_maxsize=size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def main(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    log = logging.getLogger(COMPONENT)
    slot = parse_slot(args.timestamp)
    log.info("SPS collection for slot %s %s", slot_iso(slot), describe_settings(settings))
    store = open_store(settings)
    with azure_endpoints(settings) as live, sps_session(settings) as session:
        auth = load_azure_auth(live, session=session)
        if not auth.subscription_ids:
            raise RunFailed("no Azure subscription configured for SPS calls")
        collect_slot(live, slot, store=store, session=session, auth=auth)
    return 0


if __name__ == "__main__":
    sys.exit(run_entry(COMPONENT, build_parser(), main))
