#!/usr/bin/env python3
"""Store one run's monitoring objects (docs/contract.md 2, 5) through the project's store code.

Usage:
    store_monitoring.py --slot SLOT --timings FILE [--memory FILE.csv]

Writes, for the slot:
    rawdata/azure/monitoring/memory/YYYY/MM/DD/HH-MM_memory.csv.gz                 time,component,rss_mb samples
    rawdata/azure/monitoring/executionTime/YYYY/MM/DD/HH-MM_execution_time.csv.gz  phase,started_at,seconds,exit_code,
                                                                                   peak_rss_mb
    rawdata/azure/monitoring/instanceType/YYYY/MM/DD/HH-MM_instance_type.txt       EC2 instance type or "unknown"

``--timings`` holds one line per phase written by run_collection.sh: ``PHASE START END EXIT_CODE`` with
START/END in epoch seconds (bash ``$EPOCHREALTIME``). The instance type comes from IMDSv2 at
``SPOTLAKE_IMDS_URL`` (default http://169.254.169.254): a token PUT then a GET, each with a 1 s timeout, so
a machine without IMDS answers "unknown" within about two seconds instead of hanging.

Exit codes: 0 stored; 1 the store refused a write; 2 bad configuration or input.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

if __name__ == "__main__":  # run by path: use the project's interpreter (utils/runtime.py) or exit 2
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from utils.runtime import require_runtime

    require_runtime()

import pandas as pd
import requests

if __name__ == "__main__":  # run by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from utils.constants import monitoring_key
from utils.entrypoint import run_mapped
from utils.errors import EXIT_OK, RunFailed, UsageError
from utils.logs import setup_logging
from utils.settings import load_settings
from utils.store import Store, open_store
from utils.store_io import write_csv_gz
from utils.timestamps import parse_slot

DEFAULT_IMDS_URL = "http://169.254.169.254"
IMDS_TIMEOUT = (1.0, 1.0)  # (connect, read) seconds: never hang where there is no IMDS
UNKNOWN_INSTANCE_TYPE = "unknown"
MEMORY_COLUMNS = ["time", "component", "rss_mb"]
TIMING_COLUMNS = ["phase", "started_at", "seconds", "exit_code"]
EXECUTION_COLUMNS = [*TIMING_COLUMNS, "peak_rss_mb"]
# Phase name -> the sampler's component name (collect_sps -> sps); the total phase has no single process.
PHASE_PREFIX = "collect_"
# An instance type is lowercase letters, digits, dots and dashes (m7g.large, c6gn.16xlarge, u-6tb1.metal).
_INSTANCE_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,63}$")


def parse_timings(text: str) -> pd.DataFrame:
    """``PHASE START END EXIT_CODE`` lines -> a frame of ``TIMING_COLUMNS``, in file order.

    >>> parse_timings("collect_sps 1765630800.25 1765630812.75 0\\n").iloc[0].tolist()
    ['collect_sps', '2025-12-13T13:00:00.250Z', 12.5, 0]

    Raises:
        UsageError: a line that is not four fields with numeric times and an integer exit code.
    """
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            phase, start, end, code = fields[0], float(fields[1]), float(fields[2]), int(fields[3])
        except (IndexError, ValueError) as exc:
            raise UsageError(f"timings line {number} is not 'PHASE START END EXIT_CODE': {line!r}") from exc
        if len(fields) != 4:
            raise UsageError(f"timings line {number} is not 'PHASE START END EXIT_CODE': {line!r}")
        started = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        rows.append((phase, started, round(end - start, 3), code))
    return pd.DataFrame(rows, columns=TIMING_COLUMNS)


def parse_memory_samples(text: str) -> pd.DataFrame:
    """The sampler's CSV (header ``time,component,rss_mb``) as a frame; empty text -> empty frame."""
    if not text.strip():
        return pd.DataFrame({"time": pd.Series(dtype=str), "component": pd.Series(dtype=str),
                             "rss_mb": pd.Series(dtype=float)})  # fmt: skip
    frame = pd.read_csv(io.StringIO(text))
    if list(frame.columns) != MEMORY_COLUMNS:
        raise UsageError(f"memory samples have columns {list(frame.columns)}, expected {MEMORY_COLUMNS}")
    return frame


def peak_memory_mb(samples: pd.DataFrame) -> dict[str, float]:
    """Peak RSS per component, in MiB."""
    if samples.empty:
        return {}
    return {str(k): float(v) for k, v in samples.groupby("component")["rss_mb"].max().items()}


def with_peak_memory(timings: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """``timings`` plus ``peak_rss_mb``: the peak of the phase's component (collect_sps -> sps, merge -> merge),
    NaN for a phase without samples (the total, or a process that ended before the first sample)."""
    peaks = peak_memory_mb(samples)
    component = timings["phase"].str.removeprefix(PHASE_PREFIX)
    return timings.assign(peak_rss_mb=component.map(peaks).astype(float))[EXECUTION_COLUMNS]


def instance_type_from_imds(base_url: str, session: requests.Session) -> str:
    """The EC2 instance type through IMDSv2, or ``unknown`` when there is no (usable) IMDS.

    IMDSv2: ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds``, then ``GET
    /latest/meta-data/instance-type`` with ``X-aws-ec2-metadata-token``; the answer is e.g. ``m7g.large``.
    """
    base = base_url.rstrip("/")
    try:
        token = session.put(f"{base}/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
                            timeout=IMDS_TIMEOUT)  # fmt: skip
        if token.status_code != 200 or not token.text:
            return UNKNOWN_INSTANCE_TYPE
        answer = session.get(f"{base}/latest/meta-data/instance-type",
                             headers={"X-aws-ec2-metadata-token": token.text}, timeout=IMDS_TIMEOUT)  # fmt: skip
    except requests.RequestException:
        # No IMDS here (not on EC2, or metadata blocked): the instance type is simply unknown.
        return UNKNOWN_INSTANCE_TYPE
    value = answer.text.strip() if answer.status_code == 200 else ""
    return value if _INSTANCE_TYPE_RE.match(value) else UNKNOWN_INSTANCE_TYPE


def store_monitoring(
    store: Store, slot: datetime, timings: pd.DataFrame, samples: pd.DataFrame, instance_type: str
) -> list[str]:
    """Write the three monitoring objects of ``slot``; returns their keys."""
    keys = [
        monitoring_key("memory", slot, "memory.csv.gz"),
        monitoring_key("executionTime", slot, "execution_time.csv.gz"),
        monitoring_key("instanceType", slot, "instance_type.txt"),
    ]
    write_csv_gz(store, keys[0], samples[MEMORY_COLUMNS])
    write_csv_gz(store, keys[1], with_peak_memory(timings[TIMING_COLUMNS], samples))
    store.put_bytes(keys[2], f"{instance_type}\n".encode(), content_type="text/plain")
    return keys


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="store_monitoring.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--slot", required=True)
    parser.add_argument("--timings", type=Path, required=True)
    parser.add_argument("--memory", type=Path, default=None)
    args = parser.parse_args(argv)
    environ = os.environ if env is None else env
    log = setup_logging("run")

    def store_all() -> int:
        settings = load_settings(environ)
        slot = parse_slot(args.slot)
        timings = parse_timings(args.timings.read_text() if args.timings.exists() else "")
        memory_text = args.memory.read_text() if args.memory and args.memory.exists() else ""
        samples = parse_memory_samples(memory_text)
        with requests.Session() as session:
            instance_type = instance_type_from_imds(environ.get("SPOTLAKE_IMDS_URL") or DEFAULT_IMDS_URL, session)
        store = open_store(settings)
        keys = store_monitoring(store, slot, timings, samples, instance_type)
        peaks = " ".join(f"{name}={mb:.1f}MiB" for name, mb in sorted(peak_memory_mb(samples).items()))
        log.info("monitoring stored: %s (instance type %s; peak memory %s)", ", ".join(keys), instance_type,
                 peaks or "not sampled")  # fmt: skip
        return EXIT_OK

    def report(exc: BaseException, _code: int) -> None:
        if isinstance(exc, UsageError):
            log.error("%s", exc)
        else:
            log.error("storing monitoring failed: %s", exc)

    return run_mapped(store_all, report, catch=(UsageError, RunFailed))


if __name__ == "__main__":
    sys.exit(main())
