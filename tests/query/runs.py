"""A real multi-slot run for the query and report tests: ``scripts/run_collection.sh`` on the bundled
emulator with a small catalog of well-known sizes, two slots, a local store and the SQLite or Parquet sink."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.reliability.script_runner import run_script, script_env

# Sizes whose specs are public (Azure size pages): D2s_v3 2 vCPU 8 GiB, NC24ads_A100_v4 24 vCPU 220 GiB
# 1 GPU, D2ps_v5 2 vCPU 8 GiB Arm64.
SPEC_CATALOG = """Region,InstanceType,OndemandPrice,SpotPrice
eastus,Standard_D2s_v3,0.096,0.0192
eastus,Standard_NC24ads_A100_v4,3.673,0.7346
eastus,Standard_D2ps_v5,0.077,0.0154
westus2,Standard_D2s_v3,0.096,0.0211
westus2,Standard_D2ps_v5,0.077,0.016
"""
SLOTS = ("2025-12-13 13:00", "2025-12-13 13:10")


@dataclass(frozen=True)
class RealRun:
    root: Path
    store: Path
    env: dict[str, str]  # the environment of the runs (store, sink): what a person querying it would have


def multi_slot_run(root: Path, sink: str) -> RealRun:
    """Run ``SLOTS`` through run_collection.sh with ``sink`` (``sqlite`` default or ``parquet``)."""
    catalog = root / "catalog.csv"
    catalog.write_text(SPEC_CATALOG)
    extra = {"SPOTLAKE_STORE": str(root / "store"), "SPS_KEY_FILE": str(root / "sps_key.txt"),
             "SPOTLAKE_EMULATOR_CATALOG": str(catalog)}  # fmt: skip
    if sink == "parquet":
        extra["SPOTLAKE_TIMESERIES"] = "parquet"
    env = script_env(extra)
    for slot in SLOTS:
        done = run_script(env, slot)
        assert done.returncode == 0, done.stderr[-3000:]
    return RealRun(root, root / "store", env)
