#!/usr/bin/env python3
# ruff: noqa: E402  (imports follow the sys.path fix below)
"""Run the Azure API emulator: ``python3 emulator/server.py [options]``.

Prints the base URL (``http://127.0.0.1:PORT``) as the first stdout line (and writes it to ``--url-file``,
atomically), then serves until SIGTERM or SIGINT (exit 0). Exit 2 on bad options (unknown catalog, bad fault
spec). Starting it, waiting for it and stopping it: ``emulator/launch.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run by path, Python puts emulator/ first on sys.path, where emulator/http.py would shadow the stdlib
# ``http`` package; replace that entry with the repository root.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
if __name__ == "__main__":  # run by path: use the project's interpreter (utils/runtime.py) or exit 2
    from utils.runtime import require_runtime

    require_runtime()

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from emulator.catalog import CatalogError, load_catalog
from emulator.faults import FaultSpecError, parse_fault_spec
from emulator.http import make_server
from emulator.launch import HOST, PORT, serving, write_url_file
from emulator.models.placement_scores import placement_model_of
from emulator.models.price_items import price_items_of
from emulator.models.resource_skus import resource_skus_of
from emulator.models.spot_resources import spot_resources_of
from emulator.state import Clock, EmulatorConfig, EmulatorState
from utils.entrypoint import run_mapped
from utils.errors import EXIT_USAGE, UsageError

log = logging.getLogger("emulator")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Local emulator of the Azure APIs the SpotLake collectors use.")
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=PORT, help="0 (default): any free port")
    parser.add_argument("--catalog", default=None, help="catalog CSV (default: the bundled world catalog)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--faults", default=None, help="fault spec, see emulator/README.md")
    parser.add_argument("--sps-quota", type=int, default=10)
    parser.add_argument("--sps-retry-after", type=int, default=3600)
    parser.add_argument("--page-size", type=int, default=None)
    parser.add_argument("--token-ttl", type=int, default=3600)
    parser.add_argument("--arg-quota", type=int, default=15)
    parser.add_argument("--url-file", type=Path, default=None,
                        help="once serving, write the base URL here (atomically); removed on stop")
    return parser.parse_args(argv)


def _warm(state: EmulatorState) -> None:
    """Build the per-API models in the background so the first requests are fast."""
    for build in (price_items_of, spot_resources_of, placement_model_of):
        build(state.catalog)
    resource_skus_of(state.catalog).all_records()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s [emulator] %(message)s")
    # Bad options, an unreadable catalog, a bad fault spec or a port it cannot listen on: exit 2, one line.
    return run_mapped(lambda: _serve(args), lambda exc, _code: print(f"error: {exc}", file=sys.stderr),
                      catch=(UsageError, FaultSpecError, CatalogError),
                      codes=((FaultSpecError, EXIT_USAGE), (CatalogError, EXIT_USAGE)))  # fmt: skip


def _serve(args: argparse.Namespace) -> int:
    if args.sps_quota < 1 or args.token_ttl < 1 or (args.page_size is not None and args.page_size < 1):
        raise UsageError("--sps-quota, --token-ttl and --page-size must be >= 1")
    parse_fault_spec(args.faults)
    catalog = load_catalog(args.catalog, args.seed)
    config = EmulatorConfig(catalog_path=args.catalog, seed=args.seed, latency_ms=args.latency_ms,
                            faults=args.faults, sps_quota=args.sps_quota, sps_retry_after=args.sps_retry_after,
                            page_size=args.page_size, token_ttl=args.token_ttl, arg_quota=args.arg_quota)
    state = EmulatorState(config, catalog, Clock())
    try:
        server = make_server(state, args.host, args.port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc}") from exc
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    threading.Thread(target=_warm, args=(state,), daemon=True, name="warm").start()
    with serving(server, poll_interval=0.1):
        print(server.url, flush=True)
        try:
            if args.url_file is not None:
                write_url_file(args.url_file, server.url)
            log.info("serving %s catalog=%s offers=%d faults=%r", server.url, catalog.source, len(catalog.offers),
                     args.faults or "")
            while not stop.wait(0.5):
                pass
        finally:
            if args.url_file is not None:
                args.url_file.unlink(missing_ok=True)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
