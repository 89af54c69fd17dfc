"""Shared helpers for the price and IF collector tests: catalogs, a fast retry policy, in-process runs."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from utils.azure_api.retry import RetryPolicy
from utils.entrypoint import run_entry
from utils.store import LocalStore
from utils.store_io import read_parquet

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
