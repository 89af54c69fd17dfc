"""The Dockerfile, read as text (there is no Docker engine here to build it)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ["if", "price", "sps", "merge", "sps_module", "utils", "emulator", "scripts"]


def instructions(path: Path = REPO / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined]


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions()


def first_index(steps: list[tuple[str, str]], kind: str, contains: str) -> int:
    return next(i for i, (k, args) in enumerate(steps) if k == kind and contains in args)


def test_image_is_based_on_python_3_12_slim_pinned_by_digest_with_the_tag_beside_it(steps):
    froms = [args for kind, args in steps if kind == "FROM"]
    assert len(froms) == 1
    assert re.fullmatch(r"python:3\.12-slim@sha256:[0-9a-f]{64}", froms[0]), froms
    # The comment above says where the digest comes from and how to move it.
    text = (REPO / "Dockerfile").read_text()
    assert "docker buildx imagetools inspect python:3.12-slim" in text
    assert "docker-library/repo-info" in text


def test_python_output_is_unbuffered_so_awslogs_gets_lines_at_once(steps):
    env = " ".join(args for kind, args in steps if kind == "ENV")
    assert "PYTHONUNBUFFERED=1" in env


def test_requirements_are_installed_without_cache_before_the_source_is_copied(steps):
    copy_requirements = first_index(steps, "COPY", "requirements.txt")
    install = first_index(steps, "RUN", "pip install")
    assert "--no-cache-dir" in steps[install][1]
    assert "-r /app/requirements.txt" in steps[install][1]
    first_source = min(first_index(steps, "COPY", f"{d}/") for d in SOURCE_DIRS)
    assert copy_requirements < install < first_source


@pytest.mark.parametrize("directory", SOURCE_DIRS)
def test_each_source_directory_is_copied_into_app(steps, directory: str):
    assert ("COPY", f"{directory}/ /app/{directory}/") in steps


def test_runs_as_the_non_root_uid_10001_after_setup(steps):
    useradd = first_index(steps, "RUN", "useradd")
    assert "--uid 10001" in steps[useradd][1]
    users = [(i, args) for i, (kind, args) in enumerate(steps) if kind == "USER"]
    assert users and users[-1][1] in ("10001", "spotlake")
    assert users[-1][0] > useradd
    assert all(kind != "RUN" for kind, _ in steps[users[-1][0] :])


def test_tmp_stays_writable_for_the_handoff_file(steps):
    assert any(kind == "RUN" and "chmod 1777 /tmp" in args for kind, args in steps)


def test_entrypoint_runs_the_orchestrator_so_batch_command_is_the_timestamp(steps):
    [entrypoint] = [args for kind, args in steps if kind == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["bash", "/app/scripts/run_collection.sh"]
    assert not any(kind == "CMD" for kind, _ in steps)


def test_no_build_arguments_and_no_architecture_specific_steps(steps):
    assert not any(kind == "ARG" for kind, _ in steps)
    for kind, args in steps:
        assert not re.search(r"amd64|x86_64|aarch64|arm64|--platform", args), (kind, args)


def test_no_secret_is_set_in_the_image_environment(steps):
    for kind, args in steps:
        if kind == "ENV":
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args)
            assert names
            assert not [n for n in names if re.search(r"SECRET|TOKEN|KEY|PASSWORD|CREDENTIAL", n, re.I)]


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore matching: ``**/`` any directories, ``*`` within one path segment."""
    out = ""
    i = 0
    pattern = pattern.strip("/")
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def ignored(path: str) -> bool:
    """True when ``path`` or one of its parent directories matches a .dockerignore pattern."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    patterns = [_pattern_regex(p) for p in dockerignore_patterns()]
    return any(rx.match(prefix) for rx in patterns for prefix in prefixes)


@pytest.mark.parametrize(
    "path", [".git", ".venv", ".venv-checkov", "tests", "bench/results", "spotlake-data", "terraform.tfstate",
             "infrastructure/.terraform", "x/__pycache__/m.pyc", ".venv-checkov/bin/checkov"],
)  # fmt: skip
def test_dockerignore_keeps_state_tests_and_venvs_out_of_the_build_context(path: str):
    assert ignored(path)


@pytest.mark.parametrize("path", ["requirements.txt", *SOURCE_DIRS])
def test_dockerignore_keeps_what_the_image_copies(path: str):
    assert not ignored(path)
    assert not ignored(f"{path}/module.py")
