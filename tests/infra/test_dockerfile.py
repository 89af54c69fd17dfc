"""The collector image, checked for what its Dockerfile is for, without a Docker engine (tests/infra/image_model.py
builds its file tree from the COPY instructions and the build context, and models the RUN lines' permissions).

The entrypoint is run from that tree, under the image's ENV and WORKDIR, with this project's interpreter as the
image's ``python3``: a bad timestamp gets the orchestrator's usage error, and a whole emulator-mode slot
succeeds running only files of the tree. Everything a copied module imports is copied or installed from
requirements.txt; the runtime user is not root and can write every path the run writes; nothing secret or
stateful is in the tree; the base image is pinned to a digest of a Python the code supports.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import re
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.reliability.script_runner import VERDICT_RE, closed_port
from tests.infra.image_model import REPO, Image, Tree, allows, build_tree, dockerignore_patterns, ignored, parse
from tests.infra.terraform_model import load_stack
from tests.infra.test_no_credentials import CREDENTIAL_PATTERNS
from tests.scripts.support import write_tiny_catalog
from utils.runtime import MIN_VERSION
from utils.settings import load_settings

VENV_PYTHON = Path(sys.executable)
IMAGE_PATH = "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"  # python:*-slim's PATH
SECRET_NAME = re.compile(r"SECRET|TOKEN|KEY|PASSWORD|CREDENTIAL", re.IGNORECASE)


@pytest.fixture(scope="module")
def image() -> Image:
    return parse()


@pytest.fixture(scope="module")
def tree(image: Image, tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return build_tree(tmp_path_factory.mktemp("image") / "rootfs", image)


def python_bin(directory: Path, log: Path | None = None) -> Path:
    """A directory whose ``python3`` (and ``python``) is this project's interpreter, as python3 is in the
    image; with ``log``, each call appends its script argument there first."""
    directory.mkdir(parents=True, exist_ok=True)
    record = f'printf "%s\\n" "$1" >>"{log}"\n' if log else ""
    for name in ("python3", "python"):
        wrapper = directory / name
        wrapper.write_text(f'#!/bin/sh\n{record}exec "{VENV_PYTHON}" "$@"\n')
        wrapper.chmod(0o755)
    return directory


def image_env(image: Image, bin_dir: Path, **extra: str) -> dict[str, str]:
    """The image's ENV over the base image's PATH (with this interpreter as python3), nothing inherited.
    PYTHONDONTWRITEBYTECODE: in the image the runtime user cannot write /app, so no bytecode lands there;
    the tree must stay as built. TMPDIR (``extra``) keeps this host's /tmp clean."""
    return {"PATH": f"{bin_dir}:{IMAGE_PATH}", "HOME": str(bin_dir.parent), "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1", **image.env, **extra}  # fmt: skip


def entrypoint(tree: Tree, *args: str) -> list[str]:
    """The ENTRYPOINT with its image paths mapped into the tree, then ``args`` (Batch's command)."""
    mapped = [str(tree.host(a)) if a.startswith("/") and tree.host(a).exists() else a for a in tree.image.entrypoint]
    return [*mapped, *args]


def run_entrypoint(tree: Tree, env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    workdir = tree.host(tree.image.workdir)
    assert workdir.is_dir(), f"WORKDIR {tree.image.workdir} is not in the image"
    return subprocess.run(entrypoint(tree, *args), cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip


# --- the entrypoint -----------------------------------------------------------------------------------------------
def test_the_entrypoint_is_the_orchestrator_and_takes_batch_s_command_as_the_timestamp(
    image: Image, tree: Tree, tmp_path: Path
) -> None:
    assert image.entrypoint, "no ENTRYPOINT"
    assert image.cmd is None  # no default arguments: Batch's command ["Ref::scheduled_time"] is the only one
    env = image_env(image, python_bin(tmp_path / "bin"), TMPDIR=str(tmp_path))
    run = run_entrypoint(tree, env, "not-a-timestamp", timeout=120)
    assert run.returncode == 2, run.stderr
    assert "error:" in run.stderr and "Usage: run_collection.sh [TIMESTAMP]" in run.stderr
    assert "not-a-timestamp" in run.stderr  # the argument reached the slot parser
    assert not VERDICT_RE.search(run.stdout)  # refused before anything ran
    assert list(tmp_path.glob("spotlake-run.*")) == []  # its scratch directory was removed


def batch_command(scheduled_time: str) -> list[str]:
    """The container command of a scheduled job, as the stack defines it: the job definition's command with its
    ``Ref::`` parameters set from the schedule's ``Parameters``, where Scheduler puts ``scheduled_time`` (ISO 8601
    UTC, e.g. ``2025-12-13T13:00:00Z``) for ``<aws.scheduler.scheduled-time>``."""
    stack = load_stack()
    props = stack.resource("aws_batch_job_definition", "collector")["container_properties"]
    command = json.loads(re.search(r"\bcommand = (\[[^\]]*\])", props).group(1))  # type: ignore[union-attr]
    [target] = stack.resource("aws_scheduler_schedule", "collector")["target"]
    block = re.search(r"Parameters = \{([^}]*)\}", target["input"]).group(1)  # type: ignore[union-attr]
    values = {name: value.replace("<aws.scheduler.scheduled-time>", scheduled_time)
              for name, value in re.findall(r'(\w+) = "([^"]*)"', block)}  # fmt: skip
    return [values[word[len("Ref::"):]] if word.startswith("Ref::") else word for word in command]


def test_batch_s_command_is_the_scheduled_time_alone() -> None:
    assert batch_command("2025-12-13T13:00:00Z") == ["2025-12-13T13:00:00Z"]


@pytest.mark.slow
def test_a_whole_emulator_mode_slot_runs_from_the_image_tree_alone(image: Image, tree: Tree, tmp_path: Path) -> None:
    calls = tmp_path / "python-calls.log"
    env = image_env(image, python_bin(tmp_path / "bin", calls), TMPDIR=str(tmp_path),
                    SPOTLAKE_STORE=str(tmp_path / "store"), SPS_KEY_FILE=str(tmp_path / "sps_key.txt"),
                    SPOTLAKE_EMULATOR_CATALOG=str(write_tiny_catalog(tmp_path)),
                    SPOTLAKE_IMDS_URL=f"http://127.0.0.1:{closed_port()}",
                    error_notification_slack_webhook_url=f"http://127.0.0.1:{closed_port()}/hook")  # fmt: skip
    run = run_entrypoint(tree, env, *batch_command("2025-12-13T13:00:00Z"), timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    assert VERDICT_RE.findall(run.stdout) == ["OK"]
    scripts = [Path(line) for line in calls.read_text().splitlines() if line.endswith(".py")]
    assert len(scripts) >= 10  # the helpers, the emulator, the three collectors, the merge, the monitoring
    outside = [str(s) for s in scripts if not s.resolve().is_relative_to(tree.root.resolve())]
    assert outside == []  # every Python script the run started is a file of the image


# --- what the entrypoint needs at run time --------------------------------------------------------------------
def _unguarded_imports(path: Path) -> Iterator[str]:
    """Absolute import names of a module, except those under ``try: ... except ImportError`` (optional)."""
    def walk(node: ast.AST, guarded: bool) -> Iterator[str]:
        if isinstance(node, ast.Try):
            handles = {ast.unparse(h.type) if h.type else "" for h in node.handlers}
            optional = guarded or any(re.search(r"ImportError|ModuleNotFoundError|^$", h) for h in handles)
            for child in node.body:
                yield from walk(child, optional)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                yield from walk(child, guarded)
            return
        if not guarded and isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif not guarded and isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
        for child in ast.iter_child_nodes(node):
            yield from walk(child, guarded)

    yield from walk(ast.parse(path.read_text(), str(path)), False)


def _copied_modules(tree: Tree) -> list[Path]:
    return sorted(p for p in tree.root.rglob("*.py") if p.is_file())


def _first_party_names() -> set[str]:
    """Top-level names that can only come from this repository (directories and modules at its root)."""
    return {p.name for p in REPO.iterdir() if p.is_dir() and not p.name.startswith(".")} | {
        p.stem for p in REPO.glob("*.py")}


def _resolves_in(base: Path, name: str) -> bool:
    target = base.joinpath(*name.split("."))
    return target.with_suffix(".py").is_file() or (target / "__init__.py").is_file() or (
        target.is_dir() and any(target.iterdir()))  # a namespace package


def test_every_first_party_module_a_copied_module_imports_is_copied(tree: Tree) -> None:
    app = tree.host(tree.image.workdir)
    first_party = _first_party_names()
    missing = []
    for module in _copied_modules(tree):
        for name in _unguarded_imports(module):
            top = name.split(".")[0]
            if (module.parent / f"{top}.py").is_file():  # run by path: its own directory comes first
                continue
            if top in first_party and not _resolves_in(app, name):
                missing.append(f"{module.relative_to(tree.root)} imports {name}")
    assert missing == []


def _requirement_closure() -> set[str]:
    """Normalised distribution names requirements.txt installs, with their dependencies (as installed here)."""
    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    lines = (REPO / "requirements.txt").read_text().splitlines()
    pending = [re.split(r"[<>=!~\[; ]", line.strip())[0] for line in lines if line.strip() and not line.startswith("#")]
    closure: set[str] = set()
    while pending:
        name = norm(pending.pop())
        if name in closure:
            continue
        closure.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        pending += [re.split(r"[<>=!~\[; (]", r)[0] for r in requires if "extra ==" not in r]
    return closure


def _distribution_of(module: str, files: dict[Path, str]) -> str | None:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        return None
    return files.get(Path(spec.origin).resolve())


def test_every_third_party_module_a_copied_module_imports_is_installed_by_requirements_txt(tree: Tree) -> None:
    first_party = _first_party_names()
    files = {Path(str(dist.locate_file(f))).resolve(): re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
             for dist in importlib.metadata.distributions() for f in (dist.files or []) if str(f).endswith(".py")
             or ".so" in str(f)}  # fmt: skip
    closure = _requirement_closure()
    names = {name for module in _copied_modules(tree) for name in _unguarded_imports(module)}
    third_party = sorted(n for n in names if n.split(".")[0] not in sys.stdlib_module_names | first_party
                         and not any((m.parent / f"{n.split('.')[0]}.py").is_file() for m in _copied_modules(tree)))
    assert third_party  # the check sees pandas, boto3, azure.*, ...
    unprovided = [f"{n} (from {_distribution_of(n, files)})" for n in third_party
                  if _distribution_of(n, files) not in closure]
    assert unprovided == []


def test_requirements_are_installed_before_the_source_is_copied_and_without_a_pip_cache(image: Image) -> None:
    """The dependency layer is rebuilt only when requirements.txt changes, and carries no pip cache."""
    steps = image.steps
    installs = [i for i, (kind, args) in enumerate(steps) if kind == "RUN" and "pip install" in args]
    assert len(installs) == 1
    words = steps[installs[0]][1].split()
    requirement = words[words.index("-r") + 1]
    assert "--no-cache-dir" in words
    copies = [(i, c) for i, c in zip([i for i, (k, _) in enumerate(steps) if k == "COPY"], image.copies, strict=True)]
    before = [c for i, c in copies if i < installs[0]]
    # Only requirements.txt is copied before the install, and the file installed is the one copied.
    assert [c.sources for c in before] == [["requirements.txt"]]
    assert image.image_path(requirement) in (before[0].dest, f"{before[0].dest.rstrip('/')}/requirements.txt")


# --- the runtime user ---------------------------------------------------------------------------------------------
def test_the_runtime_user_is_not_root_and_exists(image: Image, tree: Tree) -> None:
    assert tree.runtime_uid != 0
    assert tree.runtime_uid in tree.users.values()  # created by a RUN line, so the uid has a passwd entry
    assert all(i < image.user_index for i, _ in image.runs)  # every RUN ran as root, before the switch


def test_the_runtime_user_can_write_every_path_the_run_writes(image: Image, tree: Tree) -> None:
    settings = load_settings({**image.env, "SPOTLAKE_AZURE_EMULATOR": "1"}, cwd=Path(image.workdir),
                             azure_credential=False)  # fmt: skip
    assert settings.store.kind == "local" and settings.store.root is not None
    scratch = image.env.get("TMPDIR", "/tmp")  # run_collection.sh's mktemp and Python's tempfile use it
    written = {"scratch directory": f"{scratch}/spotlake-run.XXXXXX", "store": str(settings.store.root),
               "SPS key handoff": str(settings.sps_key_file)}  # fmt: skip
    if settings.timeseries.sqlite_path:
        written["time series"] = str(settings.timeseries.sqlite_path)
    if settings.metrics.path:
        written["metrics"] = str(settings.metrics.path)
    unwritable = {what: path for what, path in written.items() if not tree.can_create(path, tree.runtime_uid)}
    assert unwritable == {}
    # The model is not trivially true: the image's WORKDIR, where a relative store would go, is not writable
    # for a user other than root (here: nobody).
    assert not tree.can_create(f"{image.workdir}/spotlake-data", 65534)


def test_every_copied_file_is_readable_and_every_directory_searchable_by_the_runtime_user(tree: Tree) -> None:
    # COPY keeps the context's modes and makes root the owner: the runtime user reads through the "other" bits.
    uid = tree.runtime_uid
    unusable = [f"{path} {stat.filemode(node.mode)}" for path, node in tree.nodes.items()
                if not allows(node, uid, 0o5 if node.is_dir else 0o4)]  # fmt: skip
    assert unusable == []


# --- what the image holds -------------------------------------------------------------------------------------------
def test_nothing_secret_stateful_or_test_only_is_in_the_image_tree(image: Image, tmp_path: Path) -> None:
    tree = build_tree(tmp_path / "rootfs", image)  # as built, whatever other tests ran from the shared tree
    findings = []
    for path in tree.root.rglob("*"):
        rel = path.relative_to(tree.root)
        if re.search(r"(^|/)(tests|\.venv[^/]*|\.git|__pycache__|spotlake-data|\.terraform)(/|$)", str(rel)) or (
                re.search(r"\.(pyc|pem|key|tfstate)$|(^|/)\.env$", str(rel))):
            findings.append(f"{rel}: should not be in the image")
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="ignore")
            findings += [f"{rel}: {what}" for what, pattern in CREDENTIAL_PATTERNS.items() if pattern.search(text)]
    assert findings == []
    assert any(tree.root.rglob("*.py"))  # the walk saw the copied source


def test_no_secret_is_set_in_the_image_environment_or_as_a_build_argument(image: Image) -> None:
    assert image.env  # the check sees the ENV
    assert not [name for name in image.env if SECRET_NAME.search(name)]
    assert not [args for kind, args in image.steps if kind == "ARG" and SECRET_NAME.search(args)]


def test_a_python_log_line_reaches_the_job_log_before_the_process_ends(image: Image, tmp_path: Path) -> None:
    """awslogs reads the container's stdout pipe: the image's ENV must make Python write lines at once."""
    env = image_env(image, python_bin(tmp_path / "bin"))
    child = subprocess.Popen(["python3", "-c", "import time; print('started'); time.sleep(15)"], env=env,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        started = time.monotonic()
        assert child.stdout is not None and child.stdout.readline() == "started\n"
        assert time.monotonic() - started < 10 and child.poll() is None  # buffered, it would come at exit
    finally:
        child.kill()
        child.wait()


# --- the base image and the build -------------------------------------------------------------------------------
def test_the_base_image_is_pinned_to_a_digest_of_a_python_the_code_supports(image: Image) -> None:
    match = re.fullmatch(r"(?P<repo>[\w./-]+):(?P<tag>[\w.-]+)@sha256:(?P<digest>[0-9a-f]{64})", image.base)
    assert match, f"FROM {image.base}: expected name:tag@sha256:<digest> (the tag for readers, the digest pins)"
    version = tuple(int(v) for v in re.match(r"(\d+)\.(\d+)", match["tag"]).groups())  # type: ignore[union-attr]
    assert version >= MIN_VERSION  # utils/runtime.py refuses older interpreters
    target = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["target-version"]  # "py311"
    assert version >= (int(target[2]), int(target[3:]))  # the syntax the code is written for
    # How to move the pin is written beside it, for the very image it pins.
    assert f"docker buildx imagetools inspect {match['repo']}:{match['tag']}" in (REPO / "Dockerfile").read_text()


def test_the_build_is_the_same_for_both_spot_architectures(image: Image) -> None:
    """One Dockerfile builds the amd64 and arm64 images: no build arguments, nothing per architecture."""
    assert not [args for kind, args in image.steps if kind == "ARG"]
    for kind, args in image.steps:
        assert not re.search(r"amd64|x86_64|aarch64|arm64|--platform", args), (kind, args)


# --- .dockerignore -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", [".git", ".venv", ".venv-checkov", "tests", "bench/results", "spotlake-data", "terraform.tfstate",
             "infrastructure/.terraform", "x/__pycache__/m.pyc", ".venv-checkov/bin/checkov", ".env", "deploy.pem"],
)  # fmt: skip
def test_dockerignore_keeps_state_tests_venvs_and_keys_out_of_the_build_context(path: str) -> None:
    assert ignored(path)


def test_dockerignore_keeps_everything_the_image_copies(image: Image) -> None:
    sources = [source for copy in image.copies for source in copy.sources]
    assert sources
    assert [s for s in sources if ignored(s) or ignored(f"{s.rstrip('/')}/module.py")] == []


def test_dockerignore_negation_and_parent_rules_follow_docker() -> None:
    patterns = ["docs", "!docs/keep.md", "**/*.log"]
    assert ignored("docs/a.md", patterns) and not ignored("docs/keep.md", patterns)
    assert ignored("a/b/c.log", patterns) and not ignored("a/b/c.txt", patterns)
    assert dockerignore_patterns()  # the real file is read


def test_the_tree_model_reads_owners_and_modes_from_the_run_lines(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.12-slim@sha256:" + "0" * 64 + "\nWORKDIR /srv\nCOPY data/ /srv/data/\n"
                          "RUN useradd --uid 2000 worker && mkdir -p /var/out && chown worker /var/out\nUSER worker\n"
                          'ENTRYPOINT ["true"]\n')  # fmt: skip
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.txt").write_text("x")
    (tmp_path / "data" / "skip.log").write_text("x")
    (tmp_path / ".dockerignore").write_text("*.log\n**/*.log\n")
    model = build_tree(tmp_path / "rootfs", parse(dockerfile), context=tmp_path)
    assert (model.root / "srv/data/x.txt").read_text() == "x" and not (model.root / "srv/data/skip.log").exists()
    assert model.runtime_uid == 2000
    assert model.can_create("/var/out/result.csv", 2000) and not model.can_create("/srv/result.csv", 2000)
    assert not model.can_create("/tmp/x", 2000)  # nothing made /tmp writable in this Dockerfile
    assert os.path.isdir(model.host("/srv"))
