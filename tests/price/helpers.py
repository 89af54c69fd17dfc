"""Shared helpers for the price and IF collector tests: catalogs, a fast retry policy, in-process runs, the
edge-catalog emulator fixtures, and a collector run in process or by path (``InProcessCollector``)."""

from __future__ import annotations

import functools
import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from emulator.testing import RunningEmulator, running_emulator
from utils.azure_api.retry import RetryPolicy
from utils.entrypoint import run_entry
from utils.store import LocalStore
from utils.store_io import read_parquet
from utils.timestamps import parse_slot

REPO_ROOT = Path(__file__).resolve().parents[2]
EDGE_CATALOG = Path(__file__).resolve().parent / "data" / "edge_catalog.csv"
SLOT_TEXT = "2025-12-13 13:00"
FAULT_KINDS = ("429", "500", "502", "503", "reset", "slow", "truncated", "malformed", "empty")
HTTP_TIMEOUT = "1.5"  # a healthy emulator answer on a loaded machine stays well inside it


def fast_policy(max_attempts: int = 4) -> RetryPolicy:
    """Real retries with millisecond sleeps, Retry-After capped at 50 ms."""
    return RetryPolicy(max_attempts=max_attempts, base_delay=0.01, max_delay=0.05, max_retry_after=0.05)


def fault_spec(api: str, kind: str, recoverable: bool) -> str:
    """A recoverable fault hits two early calls; a persistent one hits every call."""
    param = "(4)" if kind == "slow" else ""  # longer than HTTP_TIMEOUT: the client must time out
    return f"{api}:{kind}{param}@calls=2,3" if recoverable else f"{api}:{kind}{param}"


def collector_env(base_env: dict[str, str], emulator_url: str, **extra: str) -> dict[str, str]:
    env = dict(base_env)
    env.update({"SPOTLAKE_EMULATOR_URL": emulator_url, "SPOTLAKE_HTTP_TIMEOUT": HTTP_TIMEOUT,
                "SPOTLAKE_PRICE_WORKERS": "4"})
    env.update(extra)
    return env


def run_in_process(component: str, module: Any, env: dict[str, str], argv: list[str] | None = None,
                   **main_kwargs: Any) -> int:
    """Run a collector's ``main`` through the real entry shell (settings from ``env``, exit-code mapping)."""
    main: Callable[..., int] = functools.partial(module.main, **main_kwargs)
    return run_entry(component, module.build_parser(), main, argv=argv or ["--timestamp", SLOT_TEXT], env=env)


def store_of(env: dict[str, str]) -> LocalStore:
    return LocalStore(Path(env["SPOTLAKE_STORE"]))


def stored_keys(env: dict[str, str]) -> list[str]:
    root = Path(env["SPOTLAKE_STORE"])
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def read_frame(env: dict[str, str], key: str) -> pd.DataFrame:
    return read_parquet(store_of(env), key)


def cleaned(emulator: RunningEmulator) -> RunningEmulator:
    """``emulator`` reset (its state, also the Resource Graph quota window) and without faults."""
    emulator.reset()
    emulator.set_faults(None)
    return emulator


def edge_emulator_fixtures(page_size: int) -> tuple[Any, Any]:
    """The fixtures ``edge_emulator`` (one emulator of the edge-case catalog per module, ``page_size`` items
    per page) and ``emu`` (that emulator, ``cleaned`` for each test)."""

    @pytest.fixture(scope="module")
    def edge_emulator() -> Iterator[RunningEmulator]:
        with running_emulator(catalog=EDGE_CATALOG, page_size=page_size) as emulator:
            yield emulator

    @pytest.fixture
    def emu(edge_emulator: RunningEmulator) -> RunningEmulator:
        return cleaned(edge_emulator)

    return edge_emulator, emu


@dataclass(frozen=True)
class InProcessCollector:
    """A collector as its tests run it for the slot ``SLOT_TEXT``: ``main`` through the real entry shell in
    this process, or its script by path; each run gives its exit code and the env whose store it wrote."""

    component: str  # "price", "if": the entry shell's name
    module: Any  # the collector module: main, build_parser
    script: str  # its path from the repository root
    key_of: Callable[[datetime], str]  # the object it writes for a slot

    @property
    def key(self) -> str:
        return self.key_of(parse_slot(SLOT_TEXT))

    def main(self, env: dict[str, str], *, argv: list[str] | None = None, max_attempts: int | None = 4) -> int:
        """Run ``main`` with ``env``; ``fast_policy(max_attempts)``, or the collector's own policy for None."""
        policy = {} if max_attempts is None else {"retry_policy": fast_policy(max_attempts)}
        return run_in_process(self.component, self.module, env, argv, **policy)

    def run(self, emulator_url: str, base_env: dict[str, str], *, argv: list[str] | None = None,
            max_attempts: int | None = 4, **extra: str) -> tuple[int, dict[str, str]]:
        env = collector_env(base_env, emulator_url, **extra)
        return self.main(env, argv=argv, max_attempts=max_attempts), env

    def run_with_fault(self, emu: RunningEmulator, base_env: dict[str, str], api: str, kind: str, *,
                       recoverable: bool) -> tuple[int, dict[str, str]]:
        """A ``fault_spec`` fault on ``api``; a persistent one meets 3 attempts."""
        emu.set_faults(fault_spec(api, kind, recoverable))
        return self.run(emu.url, base_env, max_attempts=4 if recoverable else 3)

    def run_by_path(self, emulator_url: str, base_env: dict[str, str]) -> tuple[str, dict[str, str]]:
        """Run the script by path (its own interpreter check, logging and exit code); it must exit 0 and log
        under its component's tag. Returns its stderr and env."""
        env = {**os.environ, **collector_env(base_env, emulator_url)}
        result = subprocess.run([sys.executable, self.script, "--timestamp", SLOT_TEXT], check=False,
                                cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        assert f"[{self.component}]" in result.stderr
        return result.stderr, env

    def stored(self, env: dict[str, str]) -> pd.DataFrame:
        return read_frame(env, self.key)


def parquet_roundtrip(frame: pd.DataFrame) -> pd.DataFrame:
    """What a frame looks like after write_parquet/read_parquet (for comparing stored objects)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return pd.read_parquet(io.BytesIO(buffer.getvalue()))


def write_wide_catalog(path: Path, offers: int = 700) -> Path:
    """A CSV catalog of ``offers`` real size names over four regions (prices derived from the size), big
    enough for four 1000-item pages (or 32 legacy 100-item pages); about 4.6 items per offer."""
    sizes = pd.read_csv(Path(__file__).resolve().parents[2] / "emulator" / "data" / "azure_us_catalog_v5.csv")
    names = sorted(sizes.loc[sizes["Region"] == "eastus", "InstanceType"].unique())
    regions = ["eastus", "mexicocentral", "swedencentral", "westus2"]
    rows = [(region, name) for name in names for region in regions][:offers]
    frame = pd.DataFrame(rows, columns=["Region", "InstanceType"])
    number = frame.index.to_series()
    frame["OndemandPrice"] = (0.05 + 0.001 * number).round(6)
    frame["SpotPrice"] = (frame["OndemandPrice"] * 0.2).round(6).where(number % 7 != 3)
    frame.to_csv(path, index=False)
    return path
