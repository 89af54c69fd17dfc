"""VM specs in the raw IF dataset: the real IF collector (Azure SDK over HTTP) against the emulator, for
well-known sizes whose specs are public (Azure size pages): D2s_v3, NC24ads_A100_v4, D2ps_v5."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.modload import load_if_collector
from emulator.testing import running_emulator
from tests.price.helpers import SLOT_TEXT, collector_env, fast_policy, read_frame, run_in_process
from utils.constants import if_key
from utils.timestamps import parse_slot

CATALOG = """Region,InstanceType,OndemandPrice,SpotPrice,EvictionRate,Zones
eastus,Standard_D2s_v3,0.096,0.0192,0-5,"1,2,3"
eastus,Standard_NC24ads_A100_v4,3.673,0.7346,10-15,"1,2,3"
eastus,Standard_D2ps_v5,0.077,0.0154,0-5,"1,2,3"
eastus,Standard_E4-2s_v3,0.252,0.05,5-10,"1,2,3"
"""


def test_the_if_dataset_carries_vcpus_memory_gpus_and_architecture(tmp_path: Path, base_env: dict[str, str]) -> None:
    catalog = tmp_path / "specs.csv"
    catalog.write_text(CATALOG)
    with running_emulator(catalog=catalog) as emu:
        env = collector_env(base_env, emu.url)
        assert run_in_process("if", load_if_collector(), env, retry_policy=fast_policy()) == 0
    frame = read_frame(env, if_key(parse_slot(SLOT_TEXT))).set_index("InstanceType")
    specs = frame[["vCPUs", "MemoryGiB", "GPUs", "Architecture"]]
    assert specs.loc["D2s_v3"].tolist() == [2, 8, 0, "x64"]
    assert specs.loc["NC24ads_A100_v4"].tolist() == [24, 220, 1, "x64"]
    assert specs.loc["D2ps_v5"].tolist() == [2, 8, 0, "Arm64"]
    # A constrained-vCPU size reports all its vCPUs (vCPUs, not vCPUsAvailable), as Azure does.
    assert specs.loc["E4-2s_v3"].tolist() == [4, 32, 0, "x64"]
    assert frame["InstanceFamily"].notna().all() and pd.api.types.is_float_dtype(frame["vCPUs"])
