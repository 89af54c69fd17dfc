"""infrastructure/README.md: its deploy commands run verbatim (against the stand-in aws/docker/terraform), and
the names its after-deploy commands use are the ones the stack creates."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.infra.stand_ins import install, read_calls
from tests.infra.terraform_model import load_stack
from utils.constants import LATEST_JSON_KEY, QUERY_SELECTOR_KEY

REPO = Path(__file__).resolve().parents[2]
README = REPO / "infrastructure" / "README.md"
WEBHOOK = "https://hooks.slack.com/services/T000/B000/ReadmeWebhookDoNotLeak"


def commands(prefix: str) -> list[str]:
    """Lines of the README's fenced bash blocks that start with ``prefix``."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith(prefix)]


def run_line(line: str, work: Path) -> tuple[subprocess.CompletedProcess[str], list]:
    bin_dir = work / "bin"
    install(bin_dir)
    log = work / "log" / "calls.log"
    log.parent.mkdir(exist_ok=True)
    log.unlink(missing_ok=True)
    (work / "tmp").mkdir(exist_ok=True)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(work), "STAND_IN_LOG": str(log),
           "TMPDIR": str(work / "tmp"), "LC_ALL": "C.UTF-8"}  # fmt: skip
    result = subprocess.run(["bash", "-c", line], cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
                            check=False)  # fmt: skip
    return result, read_calls(log)


def test_the_readme_build_and_deploy_commands_run_as_written(tmp_path: Path):
    build_lines, deploy_lines = commands("scripts/build_and_push.sh"), commands("scripts/deploy_infra.sh")
    assert len(build_lines) == 1 and len(deploy_lines) == 1
    webhook_file = tmp_path / ".config" / "spotlake" / "slack-webhook.txt"
    webhook_file.parent.mkdir(parents=True)
    webhook_file.write_text(WEBHOOK + "\n")

    built, _ = run_line(build_lines[0], tmp_path)
    assert built.returncode == 0, built.stderr
    image = built.stdout.strip().splitlines()[-1]
    # The image the deploy line names is the one the build line prints.
    assert f"-i {image} " in deploy_lines[0]

    deployed, calls = run_line(deploy_lines[0], tmp_path)
    assert deployed.returncode == 0, deployed.stderr
    assert [c.tool for c in calls] == ["aws", "terraform", "terraform"]
    apply = calls[-1].argv
    variables = dict(apply[i + 1].split("=", 1) for i, arg in enumerate(apply) if arg == "-var")
    assert variables["timestream_database"] == ""  # -T parquet
    assert variables["azure_auth_region"] == "us-east-1"
    assert variables["bucket_prefix"] == "collector"
    assert variables["enable_failure_notification"] == "true"
    assert WEBHOOK not in deployed.stdout + deployed.stderr


def test_the_after_deploy_commands_use_the_names_the_stack_creates():
    stack = load_stack()
    prefix = stack.variables["name_prefix"]["default"]
    text = README.read_text()
    [submit] = commands("aws batch submit-job")
    assert f"--job-queue {prefix}-queue" in submit
    assert stack.resource("aws_batch_job_queue", "collector")["name"] == "${var.name_prefix}-queue"
    assert f"--job-definition {prefix}-collector" in submit
    assert stack.locals["job_definition_name"] == "${var.name_prefix}-collector"
    assert stack.locals["job_log_group_name"] == "/aws/batch/${var.name_prefix}-collector"
    assert f"aws logs tail /aws/batch/{prefix}-collector" in text
    assert '"awslogs-stream-prefix" = "collector"' in stack.resource("aws_batch_job_definition",
                                                                      "collector")["container_properties"]  # fmt: skip
    assert f"--name {prefix}-collector" in text
    bucket, store_prefix = stack.variables["bucket_name"]["default"], stack.variables["bucket_prefix"]["default"]
    [summary] = commands("aws s3 cp")
    assert f"s3://{bucket}/{store_prefix}/latest_data/azure/last_merge_summary.json" in summary
    for key in (LATEST_JSON_KEY, QUERY_SELECTOR_KEY):
        assert f"`{key}`" in text


@pytest.mark.parametrize("option", ["-b", "-P", "-T", "-N", "-A", "-I", "-R", "-w"])
def test_every_option_the_readme_names_is_in_the_scripts_usage(option: str):
    usage = subprocess.run(["bash", str(REPO / "scripts" / "deploy_infra.sh"), "-h"], capture_output=True,
                           text=True, timeout=30, check=True).stdout  # fmt: skip
    assert re.search(rf"^\s+{re.escape(option)}\s", usage, flags=re.MULTILINE), usage
    assert f"`{option}" in README.read_text()
