#!/usr/bin/env python3
"""The interpreter check every script run by path makes before importing a third-party package.

``./price/collect_price.py`` (shebang ``python3``) or ``python3 merge/merge_data.py`` with nothing activated
may start under an interpreter without the project's packages. Instead of a ``ModuleNotFoundError``
traceback, ``require_runtime()``:

1. returns at once when this interpreter is Python 3.11+ and has every runtime package;
2. otherwise re-executes the same script and arguments under the project's interpreter, when there is one
   that is not this interpreter: ``SPOTLAKE_PYTHON`` when set, else the repository's ``.venv/bin/python``;
3. otherwise prints one line naming what is missing and the fix (``make venv``) and exits 2.

``python3 utils/runtime.py [PYTHON]`` is the same check as a command (``run_collection.sh`` runs it on the
interpreter it chose): exit 0 when usable, else the one line and exit 2.

This module runs before the settings exist (it decides which interpreter builds them), so it reads the two
environment variables it needs itself; it must stay importable by old Pythons (no 3.10+ syntax at run
time; annotations are not evaluated).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

# Import names of requirements.txt that every entry point needs (numpy, urllib3, botocore come with these).
RUNTIME_MODULES = ("pandas", "pyarrow", "boto3", "requests", "yaml", "azure.identity", "psutil", "highspy")
MIN_VERSION = (3, 11)
REEXEC_MARK = "SPOTLAKE_RUNTIME_REEXEC"  # set on the re-executed process so a bad interpreter cannot loop
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PYTHON = os.path.join(REPO_ROOT, ".venv", "bin", "python")


def missing_modules(modules: tuple[str, ...] = RUNTIME_MODULES) -> list[str]:
    """The names in ``modules`` this interpreter cannot import (without importing them)."""
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a parent package is missing, or a broken entry in sys.modules
            found = False
        if not found:
            missing.append(name)
    return missing


def problem(version: tuple[int, ...] | None = None, missing: list[str] | None = None) -> str:
    """What makes this interpreter unusable, or '' when it is fine."""
    version = tuple(sys.version_info[:2]) if version is None else tuple(version)
    if version < MIN_VERSION:
        return f"Python {MIN_VERSION[0]}.{MIN_VERSION[1]}+ is required, this is {version[0]}.{version[1]}"
    missing = missing_modules() if missing is None else missing
    if missing:
        return f"missing Python package(s) {', '.join(missing)}"
    return ""


def message(detail: str, executable: str | None = None) -> str:
    """The one line printed for an unusable interpreter."""
    return (f"error: {detail} for {executable or sys.executable}; run `make venv` in {REPO_ROOT} "
            "(or set SPOTLAKE_PYTHON to an interpreter with requirements.txt installed)")


def _same_interpreter(candidate: str) -> bool:
    """True when ``candidate`` is the running interpreter (a venv's python is a symlink: compare prefixes)."""
    if os.path.abspath(candidate) == os.path.abspath(sys.executable):
        return True
    venv_root = os.path.dirname(os.path.dirname(os.path.abspath(candidate)))
    return os.path.abspath(sys.prefix) == venv_root


def reexec_target(env: Mapping[str, str] | None = None) -> str | None:
    """The interpreter to re-execute under, or None (none configured, none present, or it is this one)."""
    env = os.environ if env is None else env
    if env.get(REEXEC_MARK):
        return None
    candidate = env.get("SPOTLAKE_PYTHON") or (VENV_PYTHON if os.access(VENV_PYTHON, os.X_OK) else "")
    if not candidate or _same_interpreter(candidate):
        return None
    return candidate


def require_runtime() -> None:
    """Return when this interpreter can run the project; else re-execute under the project's or exit 2."""
    detail = problem()
    if not detail:
        return
    target = reexec_target()
    if target is not None and sys.argv and sys.argv[0]:
        os.environ[REEXEC_MARK] = "1"
        try:
            os.execv(target, [target, os.path.abspath(sys.argv[0]), *sys.argv[1:]])
        except OSError as exc:
            detail += f"; {target} could not be started ({exc.strerror})"
    sys.stderr.write(message(detail) + "\n")
    sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    """``runtime.py [PYTHON]``: check PYTHON (default: this interpreter); 0 usable, 2 with the one line."""
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        import subprocess

        try:
            return subprocess.call([argv[0], os.path.abspath(__file__)])
        except OSError as exc:
            sys.stderr.write(message(f"cannot start it ({exc.strerror})", argv[0]) + "\n")
            return 2
    detail = problem()
    if detail:
        sys.stderr.write(message(detail) + "\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
