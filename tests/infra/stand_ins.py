"""Stand-in `aws`, `docker` and `terraform` executables for running the deploy scripts for real.

Each stand-in is a tiny bash script placed first on PATH. It appends one record per call to the log file named
by ``STAND_IN_LOG`` (fields separated by \\x1f: tool, then ``env:`` flags, then argv) and prints plausible output.
Behaviour switches (environment): ``STAND_IN_ECR_MISSING=1`` (describe-repositories says
RepositoryNotFoundException), ``STAND_IN_ECR_DENIED=1`` (describe-repositories fails otherwise),
``STAND_IN_NO_BUILDER=1`` (buildx inspect fails), ``STAND_IN_DELETE_FAILS=1`` (batch-delete-image reports a
failure), ``STAND_IN_TF_RC`` (terraform exit code).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ECR_PASSWORD = "stand-in-ecr-login-password"
ACCOUNT = "123456789012"

_RECORD = r"""
record() {
  local tool="$1"; shift
  local flags="env:"
  [[ -z "${AWS_ACCESS_KEY_ID:-}" ]] || flags+="AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID},"
  [[ -z "${AWS_SECRET_ACCESS_KEY:-}" ]] || flags+="AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY},"
  [[ -z "${AWS_PROFILE:-}" ]] || flags+="AWS_PROFILE=${AWS_PROFILE},"
  [[ -z "${AWS_SHARED_CREDENTIALS_FILE:-}" ]] || flags+="AWS_SHARED_CREDENTIALS_FILE=${AWS_SHARED_CREDENTIALS_FILE},"
  flags+="AWS_REGION=${AWS_REGION:-}"
  { printf '%s\x1f%s' "${tool}" "${flags}"; printf '\x1f%s' "$@"; printf '\n'; } >>"${STAND_IN_LOG}"
}
"""

AWS = (
    "#!/usr/bin/env bash\nset -o errexit -o nounset -o pipefail\n"
    + _RECORD
    + r"""
record aws "$@"
case "$1 $2" in
  "ecr describe-repositories")
    if [[ "${STAND_IN_ECR_MISSING:-0}" == 1 ]]; then
      echo "An error occurred (RepositoryNotFoundException) when calling the DescribeRepositories operation" >&2
      exit 254
    fi
    if [[ "${STAND_IN_ECR_DENIED:-0}" == 1 ]]; then
      echo "An error occurred (AccessDeniedException) when calling the DescribeRepositories operation" >&2
      exit 254
    fi
    echo "123456789012.dkr.ecr.${AWS_REGION}.amazonaws.com/$4" ;;
  "ecr create-repository")
    echo "123456789012.dkr.ecr.${AWS_REGION}.amazonaws.com/$4" ;;
  "ecr get-login-password")
    echo "stand-in-ecr-login-password" ;;
  "ecr batch-delete-image")
    if [[ "${STAND_IN_DELETE_FAILS:-0}" == 1 ]]; then
      printf 'ImageNotFound\tRequested image not found\n'
    fi ;;
  "ssm put-parameter")
    # Keep a copy of the request file (file://PATH) so the test can check what would reach SSM.
    for arg in "$@"; do
      [[ "${arg}" != file://* ]] || cp "${arg#file://}" "$(dirname "${STAND_IN_LOG}")/ssm-request.json"
    done
    echo '{"Version": 1, "Tier": "Standard"}' ;;
  *) echo "stand-in aws: unexpected call: $*" >&2; exit 99 ;;
esac
"""
)

DOCKER = (
    "#!/usr/bin/env bash\nset -o errexit -o nounset -o pipefail\n"
    + _RECORD
    + r"""
record docker "$@"
case "$1" in
  login)
    printf '%s' "$(cat)" >"$(dirname "${STAND_IN_LOG}")/docker-login-stdin"
    echo "Login Succeeded" ;;
  buildx)
    case "$2" in
      inspect) [[ "${STAND_IN_NO_BUILDER:-0}" != 1 ]] || { echo "no builder" >&2; exit 1; } ;;
      create) echo "$4" ;;
      build) echo "#1 pushing manifest list done" >&2 ;;
      *) echo "stand-in docker: unexpected buildx call" >&2; exit 99 ;;
    esac ;;
  *) echo "stand-in docker: unexpected call: $*" >&2; exit 99 ;;
esac
"""
)

TERRAFORM = (
    "#!/usr/bin/env bash\nset -o errexit -o nounset -o pipefail\n"
    + _RECORD
    + r"""
record terraform "$@"
case "$2" in
  init) echo "Terraform has been successfully initialized!" ;;
  apply) echo "Apply complete! Resources: 23 added, 0 changed, 0 destroyed." ;;
  destroy) echo "Destroy complete! Resources: 23 destroyed." ;;
esac
exit "${STAND_IN_TF_RC:-0}"
"""
)


@dataclass(frozen=True)
class Call:
    """One recorded invocation of a stand-in."""

    tool: str
    env: dict[str, str]
    argv: list[str]


@dataclass(frozen=True)
class Run:
    """Result of one script run with the stand-ins."""

    returncode: int
    stdout: str
    stderr: str
    calls: list[Call]
    log_dir: Path

    def of(self, tool: str) -> list[Call]:
        return [call for call in self.calls if call.tool == tool]


def install(bin_dir: Path) -> None:
    """Write the three stand-ins into ``bin_dir`` (created if needed)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, text in (("aws", AWS), ("docker", DOCKER), ("terraform", TERRAFORM)):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(0o755)


def read_calls(log: Path) -> list[Call]:
    """Parse the stand-in log into calls, in order."""
    if not log.exists():
        return []
    calls = []
    for line in log.read_text().splitlines():
        tool, flags, *argv = line.split("\x1f")
        pairs = [p.split("=", 1) for p in flags.removeprefix("env:").split(",") if p]
        calls.append(Call(tool=tool, env={k: v for k, v in pairs}, argv=argv))
    return calls


def run_script(
    script: Path, args: list[str], work: Path, extra_env: dict[str, str] | None = None, stdin: str = ""
) -> Run:
    """Run ``script`` with ``args`` (and ``stdin``) under a minimal environment whose PATH starts with the
    stand-ins."""
    bin_dir = work / "bin"
    install(bin_dir)
    log_dir = work / "log"
    log_dir.mkdir(exist_ok=True)
    log = log_dir / "calls.log"
    log.unlink(missing_ok=True)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(work),
        "STAND_IN_LOG": str(log),
        "TMPDIR": str(work / "tmp"),
        "LC_ALL": "C.UTF-8",
    }
    (work / "tmp").mkdir(exist_ok=True)
    env.update(extra_env or {})
    result = subprocess.run(
        ["bash", str(script), *args], env=env, input=stdin, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    return Run(result.returncode, result.stdout, result.stderr, read_calls(log), log_dir)
