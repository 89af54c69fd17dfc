#!/usr/bin/env python3
"""IF collector: eviction-rate buckets (Resource Graph SpotResources) + VM family and zones (Resource SKUs).

    python3 if/collect_if.py --timestamp '2025-12-13 13:00'

Writes ``rawdata/azure/spot_if/YYYY/MM/DD/HH-MM_spot_if.parquet`` (``IF_COLUMNS``) only once both sources
are complete. Credentials per docs/contract.md 4 (``utils.azure_api.auth``); a missing or refused credential
fails the run (exit 1) with a message that names no secret. ``if`` is a Python keyword, so the logic lives in
importable modules (``utils.if_dataset``, ``utils.azure_api.resource_graph``, ``utils.azure_api.skus``) and this
file is only the shell; tests load it with ``bench.modload.load_if_collector()``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from utils.runtime import require_runtime

    require_runtime()

from utils.azure_api.auth import load_azure_auth
from utils.azure_api.retry import RetryPolicy
from utils.constants import if_key
from utils.emulator_mode import azure_endpoints
from utils.entrypoint import add_timestamp_argument, run_entry
from utils.if_dataset import collect_if
from utils.settings import Settings
from utils.store import open_store
from utils.store_io import write_parquet
from utils.timestamps import parse_slot

log = logging.getLogger("if")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Collect Azure spot eviction rates (IF) and VM families for one slot.")
    add_timestamp_argument(parser)
    return parser


def main(
    args: argparse.Namespace,
    settings: Settings,
    *,
    retry_policy: RetryPolicy | None = None,
    dynamodb_client: Any = None,
) -> int:
    slot = parse_slot(args.timestamp)
    with azure_endpoints(settings) as live:
        auth = load_azure_auth(live, dynamodb_client=dynamodb_client)
        frame = collect_if(auth, timeout=live.http_timeout,
                           retry_policy=retry_policy or RetryPolicy.from_settings(live), progress_logger=log)
    key = if_key(slot)
    write_parquet(open_store(settings), key, frame)
    log.info("wrote %d IF rows to %s", len(frame), key)
    return 0


if __name__ == "__main__":
    sys.exit(run_entry("if", build_parser(), main))
