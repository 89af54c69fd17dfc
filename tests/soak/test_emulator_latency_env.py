"""run_collection.sh passes SPOTLAKE_EMULATOR_LATENCY_MS to the emulator it starts (bench/bench_e2e.py uses it)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pandas as pd
import pytest

from bench.reliability.script_runner import closed_port, run_script, script_env
from tests.scripts.support import write_tiny_catalog

EXECUTION_TIME = "rawdata/azure/monitoring/executionTime/2025/12/13/13-00_execution_time.csv.gz"


def _env(root: Path, **extra: str) -> dict[str, str]:
    return script_env({
        "SPOTLAKE_STORE": str(root / "store"),
        "SPS_KEY_FILE": str(root / "sps_key.txt"),
        "SPOTLAKE_EMULATOR_CATALOG": str(write_tiny_catalog(root)),
        "error_notification_slack_webhook_url": f"http://127.0.0.1:{closed_port()}/hook",
        **extra,
    })  # fmt: skip


def test_the_usage_text_documents_the_emulator_latency_variable(tmp_path: Path) -> None:
    run = run_script(_env(tmp_path), "--help", timeout=60)
    assert run.returncode == 0, run.stderr
    [line] = [line for line in run.stdout.splitlines() if "SPOTLAKE_EMULATOR_LATENCY_MS" in line]
    assert "latency" in line.split("SPOTLAKE_EMULATOR_LATENCY_MS", 1)[1]  # named and explained


def test_a_latency_that_is_not_a_number_reaches_the_emulator_and_fails_the_run(tmp_path: Path) -> None:
    run = run_script(_env(tmp_path, SPOTLAKE_EMULATOR_LATENCY_MS="fast"), "2025-12-13 13:00", timeout=120)
    assert run.returncode == 1
    assert "emulator exited before printing its URL" in run.stderr


@pytest.mark.slow
def test_an_emulator_latency_slows_every_collector_by_at_least_that_much_per_request(tmp_path: Path) -> None:
    run = run_script(_env(tmp_path, SPOTLAKE_EMULATOR_LATENCY_MS="1500"), "2025-12-13 13:00", timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    timings = pd.read_csv(io.BytesIO(gzip.decompress((tmp_path / "store" / EXECUTION_TIME).read_bytes())))
    seconds = dict(zip(timings["phase"], timings["seconds"], strict=True))
    # The SPS collector makes a token request and at least two API requests one after another (>= 3 x 1.5 s;
    # without latency it takes ~2 s on the tiny catalog); the IF collector a token request, then Resource
    # Graph and the SKU listing side by side (>= 2 x 1.5 s); the price collector at least a page.
    assert seconds["collect_sps"] >= 4.5
    assert seconds["collect_if"] >= 3.0
    assert seconds["collect_price"] >= 1.5
