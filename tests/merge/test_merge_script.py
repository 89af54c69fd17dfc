"""The real script by path, as the orchestrator runs it: exit codes 0, 1 and 2 on a temp store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from merge.state import SUMMARY_KEY
from tests.conftest import REPO_ROOT
from tests.merge.builders import slot_at
from tests.merge.world import World
from utils.constants import LATEST_STATE_KEY, sps_key
from utils.store import LocalStore

SCRIPT = REPO_ROOT / "merge" / "merge_data.py"
pytestmark = pytest.mark.slow


def run_script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], env={**env, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120, cwd="/", check=False)  # fmt: skip


@pytest.fixture
def script_env(tmp_path: Path, base_env: dict[str, str]) -> dict[str, str]:
    return {**base_env, "SPOTLAKE_TIMESERIES": f"sqlite:///{tmp_path / 'ts.db'}",
            "SPOTLAKE_METRICS": f"file:///{tmp_path / 'metrics.log'}"}  # fmt: skip


def test_the_script_merges_the_slot_named_by_the_handoff_key_then_by_timestamp(script_env, tmp_path) -> None:
    store, world = LocalStore(Path(script_env["SPOTLAKE_STORE"])), World()
    key = world.write(store, 0)
    done = run_script(script_env, "--sps_key", str(tmp_path / "store" / key))  # absolute paths are accepted
    assert done.returncode == 0, done.stderr
    assert json.loads(store.get_bytes(SUMMARY_KEY))["rows"] == 18
    assert all("[merge]" in line for line in done.stderr.splitlines())
    world.write(store, 1)
    done = run_script(script_env, "--timestamp", "2025-12-13T13:10:00Z")
    assert done.returncode == 0, done.stderr
    assert json.loads(store.get_bytes(SUMMARY_KEY))["desired_count"] == 5
    assert not store.list_keys("locks/")  # the lease is released


@pytest.mark.parametrize("args", [["--sps_key", "rawdata/azure/sps/2025/12/13/13-00_sps_7.parquet"],
                                  ["--sps_key", "not-a-key"], ["--timestamp", "yesterday"], []])  # fmt: skip
def test_bad_usage_exits_2(script_env, args: list[str]) -> None:
    done = run_script(script_env, *args)
    assert done.returncode == 2, done.stderr


def test_a_handoff_naming_a_missing_object_exits_2_and_writes_nothing(script_env) -> None:
    done = run_script(script_env, "--sps_key", sps_key(slot_at(0), 1))
    assert done.returncode == 2
    assert "missing object" in done.stderr
    assert not LocalStore(Path(script_env["SPOTLAKE_STORE"])).exists(LATEST_STATE_KEY)


def test_unavailable_price_exits_1_and_keeps_the_previous_state(script_env) -> None:
    store, world = LocalStore(Path(script_env["SPOTLAKE_STORE"])), World()
    assert run_script(script_env, "--sps_key", world.write(store, 0)).returncode == 0
    state = store.get_bytes(LATEST_STATE_KEY)
    done = run_script(script_env, "--sps_key", world.write(store, 200, price=False))  # > 24 h later
    assert done.returncode == 1
    assert "price" in done.stderr
    assert store.get_bytes(LATEST_STATE_KEY) == state
