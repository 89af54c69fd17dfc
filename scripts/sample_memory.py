#!/usr/bin/env python3
"""Per-component memory sampler for ``run_collection.sh`` (docs/contract.md 2, 5: peak memory per collector).

Usage:
    sample_memory.py --out FILE.csv [--interval 0.5] COMPONENT=PID [COMPONENT=PID ...]

Every ``interval`` seconds, appends one row ``time,component,rss_mb`` per component whose process is still
alive: the resident set size of that process plus all its descendants (a collector's worker processes
count toward it). Stops when every process has exited, or on SIGTERM/SIGINT (at once between samples). The
header is written only when the file is new, so one file can hold the collect phase and the merge phase.

Exit codes: 0 ok; 2 bad usage.
"""

from __future__ import annotations

import argparse
import csv
import signal
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

if __name__ == "__main__":  # run by path: use the project's interpreter (utils/runtime.py) or exit 2
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from utils.runtime import require_runtime

    require_runtime()

import psutil

CSV_HEADER = ("time", "component", "rss_mb")
MIB = 1024 * 1024


def parse_targets(items: Iterable[str]) -> dict[str, int]:
    """``["sps=123", "if=456"]`` -> ``{"sps": 123, "if": 456}``; ValueError on a malformed item."""
    targets: dict[str, int] = {}
    for item in items:
        name, sep, pid_text = item.partition("=")
        if not sep or not name or not pid_text.isdigit():
            raise ValueError(f"expected COMPONENT=PID, got {item!r}")
        targets[name] = int(pid_text)
    return targets


def tree_rss_mb(pid: int) -> float | None:
    """RSS of ``pid`` and its descendants in MiB; None when the process no longer exists."""
    try:
        root = psutil.Process(pid)
        if root.status() == psutil.STATUS_ZOMBIE:  # exited, not yet reaped by the shell
            return None
        processes = [root, *root.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            # A child that exited between listing and reading holds no memory any more.
            continue
    return round(total / MIB, 1)


def sample_once(
    targets: dict[str, int], measure: Callable[[int], float | None], now: str
) -> list[tuple[str, str, float]]:
    """One row per live component; the components found dead are removed from ``targets``."""
    rows = []
    for name, pid in list(targets.items()):
        rss = measure(pid)
        if rss is None:
            del targets[name]
            continue
        rows.append((now, name, rss))
    return rows


class _Stop(Exception):
    """Raised by the signal handler to end the sampler's sleep at once."""


def run(out: Path, targets: dict[str, int], interval: float) -> None:
    stopping = False
    sleeping = False

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        # Between samples the sleep is cut short (the orchestrator stops the sampler as soon as its processes
        # are reaped and waits for it); while a sample is being written, the loop ends after it.
        nonlocal stopping
        stopping = True
        if sleeping:
            raise _Stop

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    new_file = not out.exists() or out.stat().st_size == 0
    with out.open("a", newline="") as handle:
        writer = csv.writer(handle)
        if new_file:
            writer.writerow(CSV_HEADER)
        while targets and not stopping:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            writer.writerows(sample_once(targets, tree_rss_mb, now))
            handle.flush()
            try:
                sleeping = True
                if not stopping:
                    time.sleep(interval)
            except _Stop:
                break
            finally:
                sleeping = False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sample_memory.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("targets", nargs="+", metavar="COMPONENT=PID")
    args = parser.parse_args(argv)
    try:
        targets = parse_targets(args.targets)
    except ValueError as exc:
        parser.error(str(exc))
    run(args.out, targets, args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
