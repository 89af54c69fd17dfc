"""Load a script module by path. ``if`` is a Python keyword, so ``if/collect_if.py`` cannot be imported as
``if.collect_if``; this is the one place that wrinkle is handled."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[1]


def load_module(relative_path: str, name: str | None = None) -> ModuleType:
    """Import ``REPO_ROOT/relative_path`` under ``name`` (cached in sys.modules)."""
    name = name or "spotlake_" + relative_path.replace("/", "_").removesuffix(".py")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / relative_path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {relative_path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_if_collector() -> ModuleType:
    """The IF collector module (``if/collect_if.py``)."""
    return load_module("if/collect_if.py", "spotlake_if_collect_if")
