"""One exception -> exit code mapping (utils/entrypoint.py ``exit_code_for``, applied by ``run_mapped``) for the
collectors (``run_entry``) and every helper script; no entry point maps an exception to an exit code itself."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from utils.entrypoint import exit_code_for, run_mapped
from utils.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    CorruptObject,
    Interrupted,
    ObjectNotFound,
    RunFailed,
    StoreError,
    UsageError,
)
from utils.lease import LeaseHeld

REPO = Path(__file__).resolve().parents[2]
# Standard library only, so they cannot use utils.entrypoint (which imports the settings): utils/runtime.py
# checks the interpreter before anything of the project may be imported; emulator/launch.py is the start/stop
# of the emulator that bash, the tests and the benches share, and its CLI only says ready (0) or not (1).
OWN_MAPPING_ALLOWED = {"utils/runtime.py", "emulator/launch.py"}


@pytest.mark.parametrize(("exc", "code"), [
    (UsageError("x"), EXIT_USAGE), (ConfigError("x"), EXIT_USAGE), (CorruptObject("k", "r"), EXIT_USAGE),
    (RunFailed("x"), EXIT_FAILED), (StoreError("x"), EXIT_FAILED), (ObjectNotFound("k"), EXIT_FAILED),
    (Interrupted("SIGTERM"), EXIT_FAILED), (KeyboardInterrupt(), EXIT_FAILED), (ValueError("x"), EXIT_FAILED),
])  # fmt: skip
def test_each_exception_has_one_exit_code(exc: BaseException, code: int) -> None:
    assert exit_code_for(exc) == code


def test_a_scripts_own_codes_come_first_in_their_order() -> None:
    codes = ((LeaseHeld, EXIT_FAILED), (RunFailed, 3))
    assert exit_code_for(LeaseHeld("held"), codes) == EXIT_FAILED
    assert exit_code_for(StoreError("denied"), codes) == 3
    assert exit_code_for(UsageError("bad"), codes) == EXIT_USAGE


def test_run_mapped_returns_the_bodys_code_or_reports_a_caught_exception_with_its_code() -> None:
    reported: list[tuple[str, int]] = []

    def report(exc: BaseException, code: int) -> None:
        reported.append((str(exc), code))

    def fail(exc: BaseException):
        def body() -> int:
            raise exc

        return body

    assert run_mapped(lambda: None, report) == EXIT_OK
    assert run_mapped(lambda: 5, report) == 5
    assert run_mapped(fail(UsageError("bad input")), report) == EXIT_USAGE
    assert run_mapped(fail(StoreError("denied")), report, codes=((RunFailed, 3),)) == 3
    assert reported == [("bad input", EXIT_USAGE), ("denied", 3)]
    with pytest.raises(ObjectNotFound):  # not in ``catch``: it propagates (a traceback, exit 1)
        run_mapped(fail(ObjectNotFound("k")), report, catch=(UsageError, RunFailed))
    assert len(reported) == 2


def _own_mappings(source: str) -> list[int]:
    """Lines where an ``except`` block returns a failure exit code or calls sys.exit."""
    lines = []
    for handler in ast.walk(ast.parse(source)):
        if not isinstance(handler, ast.ExceptHandler):
            continue
        for node in ast.walk(handler):
            value = node.value if isinstance(node, ast.Return) else None
            literal = isinstance(value, ast.Constant) and type(value.value) is int and value.value != EXIT_OK
            named = isinstance(value, ast.Name) and value.id.startswith("EXIT_") and value.id != "EXIT_OK"
            exits = isinstance(node, ast.Call) and ast.unparse(node.func) in {"sys.exit", "exit", "os._exit"}
            if literal or named or exits:
                lines.append(node.lineno)
    return lines


def test_no_entry_point_maps_an_exception_to_an_exit_code_itself() -> None:
    names = subprocess.run(["git", "ls-files", "--", "*.py"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()  # fmt: skip
    found = [f"{name}:{line}" for name in names
             if not name.startswith(("tests/", "bench/")) and name not in OWN_MAPPING_ALLOWED
             and (REPO / name).exists()
             for line in _own_mappings((REPO / name).read_text())]  # fmt: skip
    assert found == []


def test_the_guard_sees_an_own_mapping() -> None:
    source = "try:\n    f()\nexcept ValueError:\n    return 2\nexcept OSError:\n    sys.exit(EXIT_USAGE)\n"
    assert _own_mappings(source) == [4, 6]
    assert _own_mappings("try:\n    f()\nexcept KeyError:\n    return EXIT_OK\n") == []
