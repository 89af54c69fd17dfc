"""Imports point one way: tests -> bench -> product. Product code (every tracked .py file outside tests/ and
bench/) imports neither tests nor bench, and bench imports nothing from tests (what the fault-matrix bench and
the tests share lives in bench/). Checked on the syntax tree of every tracked .py file."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Top-level package of a file -> the top-level packages it must not import.
FORBIDDEN = {"tests": set(), "bench": {"tests"}}
PRODUCT_FORBIDDEN = {"tests", "bench"}
# Calls that import a module named by a constant string (dotted name or repository-relative path).
IMPORTING_CALLS = {"import_module", "__import__", "load_module", "spec_from_file_location"}


def _layer(relative: str) -> str:
    top = relative.split("/", 1)[0]
    return top if top in FORBIDDEN else "product"


def _top(name: str) -> str:
    return name.replace("/", ".").split(".", 1)[0]


def imported_tops(source: str, relative: str) -> list[tuple[int, str]]:
    """(line, top-level package) of every import in ``source`` (a file at repository path ``relative``):
    ``import a.b``, ``from a.b import c``, relative imports resolved against the file's package, and
    importing calls with a constant module name or path."""
    package = relative.split("/")[:-1]
    found = []
    for node in ast.walk(ast.parse(source, filename=relative)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, _top(alias.name)) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                top = base[0] if base else _top(node.module or "")
            else:
                top = _top(node.module or "")
            found.append((node.lineno, top))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in IMPORTING_CALLS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((node.lineno, _top(first.value)))
    return found


def violations(source: str, relative: str) -> list[str]:
    layer = _layer(relative)
    forbidden = PRODUCT_FORBIDDEN if layer == "product" else FORBIDDEN[layer]
    return [f"{relative}:{line}: {layer} code imports {top}"
            for line, top in imported_tops(source, relative) if top in forbidden]


def tracked_python_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--", "*.py"], cwd=REPO, capture_output=True, check=True).stdout
    return [name for name in out.decode().split("\0") if name]


def test_product_imports_neither_tests_nor_bench_and_bench_imports_no_tests():
    files = tracked_python_files()
    assert any(name.startswith("bench/") for name in files) and any(name.startswith("utils/") for name in files)
    problems = []
    for name in files:
        path = REPO / name
        if path.exists():  # a file deleted in the work tree but still tracked is not code any more
            problems += violations(path.read_text(encoding="utf-8"), name)
    assert problems == []


@pytest.mark.parametrize(("relative", "source", "expected"), [
    ("utils/x.py", "import tests.scripts.support\n", ["utils/x.py:1: product code imports tests"]),
    ("merge/x.py", "from bench.reliability import harness\n", ["merge/x.py:1: product code imports bench"]),
    ("if/x.py", "def f():\n    from tests import conftest\n", ["if/x.py:2: product code imports tests"]),
    ("bench/x.py", "from tests.sps.helpers import a\n", ["bench/x.py:1: bench code imports tests"]),
    ("utils/x.py", "from . import store\n", []),  # utils.store
    ("bench/reliability/x.py", "from .matrix import run_cell\n", []),
    ("sps/x.py", "importlib.import_module('bench.soak')\n", ["sps/x.py:1: product code imports bench"]),
    ("utils/x.py", "load_module('tests/conftest.py')\n", ["utils/x.py:1: product code imports tests"]),
    ("bench/x.py", "from utils.store import S3Store\nimport sps_module.request_planner\n", []),
    ("tests/x.py", "from bench.reliability.harness import world\nfrom tests.conftest import REPO_ROOT\n", []),
    ("utils/tests_helpers.py", "import testsuite\nimport benchmark\n", []),
])
def test_the_check_names_each_forbidden_import(relative, source, expected):
    assert violations(source, relative) == expected


# --- the import table of docs/architecture.md -------------------------------------------------------------

ARCHITECTURE = REPO / "docs" / "architecture.md"
WING = "utils/azure_api"


def import_rules(text: str) -> dict[str, set[str]]:
    """part -> the parts it may import, from the table between the ``import-rules`` markers."""
    body = text.split("<!-- import-rules:", 1)[1].split("<!-- /import-rules -->", 1)[0]
    rules = {}
    for line in body.splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("part", "") or set(cells[0]) <= {"-", " "}:
            continue
        rules[cells[0]] = {c.strip().strip("`") for c in cells[1].split(",")} - {"—", ""}
    return rules


def part_of_file(relative: str) -> str:
    return WING if relative.startswith(WING + "/") else relative.split("/", 1)[0]


def part_of_module(name: str) -> str:
    return WING if name.replace("/", ".").startswith("utils.azure_api") else _top(name)


def imported_modules(source: str, relative: str) -> list[tuple[int, str]]:
    """(line, module) of every absolute import and importing call in ``source`` (relative imports stay in
    their part)."""
    found = []
    for node in ast.walk(ast.parse(source, filename=relative)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in IMPORTING_CALLS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((node.lineno, first.value))
    return found


def rule_violations(source: str, relative: str, rules: dict[str, set[str]]) -> list[str]:
    product = {part for part in rules if part not in ("bench", "tests")}
    part = part_of_file(relative)
    allowed = set().union(*(product if name == "product" else {name} for name in rules.get(part, set())))
    return [f"{relative}:{line}: {part} imports {name} ({target} is not in its row of docs/architecture.md)"
            for line, name in imported_modules(source, relative)
            if (target := part_of_module(name)) in rules and target != part and target not in allowed]


def test_every_import_follows_the_table_of_docs_architecture():
    rules = import_rules(ARCHITECTURE.read_text(encoding="utf-8"))
    files = [name for name in tracked_python_files() if (REPO / name).exists()]
    assert {part_of_file(name) for name in files if "/" in name} <= set(rules)  # every part has a row
    problems = []
    for name in files:
        problems += rule_violations((REPO / name).read_text(encoding="utf-8"), name, rules)
    assert problems == []


ENTRY_SCRIPTS = {"price.collect_price", "if.collect_if", "sps.collect_sps", "merge.merge_data"}


def test_no_product_code_imports_a_collector_or_merge_entry_script():
    # The entry scripts are shells; what another part needs of them lives in a module (price.price_dataset).
    files = [name for name in tracked_python_files() if (REPO / name).exists() and _layer(name) == "product"]
    problems = [f"{name}:{line}: imports the entry script {module}" for name in files
                for line, module in imported_modules((REPO / name).read_text(encoding="utf-8"), name)
                if module.replace("/", ".").removesuffix(".py") in ENTRY_SCRIPTS]
    assert problems == []


def test_the_table_check_names_an_import_against_the_table():
    rules = import_rules(ARCHITECTURE.read_text(encoding="utf-8"))
    assert rules[WING] == {"utils"} and rules["tests"] == {"product", "bench"}
    assert rule_violations("from merge.state import x\n", "utils/azure_api/skus.py", rules) == [
        "utils/azure_api/skus.py:1: utils/azure_api imports merge.state (merge is not in its row of "
        "docs/architecture.md)"]
    assert rule_violations("from utils.azure_api.sps import x\n", "merge/join.py", rules) != []
    assert rule_violations("from utils.azure_api.sps import x\nfrom sps_module import sweep\n",
                           "sps/load_sps.py", rules) == []
    assert rule_violations("from price.normalise import x\n", "bench/b.py", rules) == []
    assert rule_violations("import pandas\nfrom utils.store import S3Store\n", "emulator/x.py", rules) == []
