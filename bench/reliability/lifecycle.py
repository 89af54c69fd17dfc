"""Lifecycle cells of the reliability matrix (issues 13.3 and 14.1-14.3): what happens to a run that is
stopped, killed or loses its store, through the real ``scripts/run_collection.sh`` in the fault-matrix world
(S3 on moto behind the fault proxy, Timestream, CloudWatch Logs, the emulator; bench/reliability/harness.py).

Each cell restores the clean state after slot S0 and runs S1:

- ``SIGTERM to PID 1`` at a phase (``lease``: just after the run lease; ``collect``: the SPS collector holds
  ``sps-state`` and is stuck on slow SPS calls; ``merge``: the merge holds ``merge`` and is stuck on a slow
  archive PUT; ``monitoring``: after the commit, on a slow monitoring PUT). SIGTERM goes to the orchestrator
  only, as ``docker stop`` / a Batch timeout does to PID 1. Required: exit 1 within Batch's 30 s SIGKILL grace,
  exactly one alert naming the signal, no process of the run left, **no lease left in the store** (the
  Python children's too), the outputs as after S0 (or complete S1 when the commit had happened), and an
  immediate rerun that succeeds and converges.
- ``kill -9 + Batch retry`` at a phase (``collect``, ``merge``): SIGKILL of the whole process group (host
  loss), as attempt 1 of an AWS Batch job. Required: the leases stay (S3 cannot see the dead host); another job
  for the slot is refused at once naming the holder (the TTL stays on S3); attempt 2 of the same job takes
  the leases over at once, exits 0 and converges to the clean S1.
- ``read-only store`` ``before run`` (every PUT and DELETE AccessDenied) and ``mid run`` (every PUT but the
  leases' AccessDenied): exit 1, exactly one alert that names the store error (never "another run holds the
  lease"), the previous state intact, no lease left, and a clean rerun converges.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.reliability.harness import S1, RunResult, StartedRun, World
from bench.reliability.matrix import (
    S3_STEPS,
    AwsRule,
    Cell,
    CellResult,
    References,
    _failure_lines,
    comparable,
    judge,
)

BATCH_SIGKILL_GRACE = 30.0  # seconds between Batch's SIGTERM and its SIGKILL (AWS Batch job_timeouts docs)
_ACCESS_DENIED = dict(status=403, code="AccessDenied")
STOPPED_OUTCOMES = {"failed-clean", "failed-after-commit", "failed-at-commit"}


@dataclass(frozen=True)
class Hold:
    """How a cell holds the run inside a phase: faults, and what to wait for before acting."""

    azure: str = ""
    aws: tuple[AwsRule, ...] = ()
    text: str = ""  # a log line of the orchestrator
    lock: str = ""  # a lease object that must exist


def _delay(step: str, seconds: float) -> AwsRule:
    return AwsRule("s3", "PutObject", S3_STEPS[step], action="delay", extra=f'{{"seconds": {seconds}}}')


HOLDS: dict[str, Hold] = {
    "lease": Hold(text="took the run lease", lock="run"),
    "collect": Hold(azure="sps:slow(30)", text="started collector sps", lock="sps-state"),
    "merge": Hold(aws=(_delay("archive", 25),), text="merging ", lock="merge"),
    "monitoring": Hold(aws=(_delay("monitoring", 8),), text="merge succeeded"),
}
READ_ONLY: dict[str, tuple[AwsRule, ...]] = {
    "before run": (AwsRule("s3", "PutObject", None, **_ACCESS_DENIED), AwsRule("s3", "DeleteObject", None,
                                                                                **_ACCESS_DENIED)),
    # A bucket policy that denies writes of data but not of the lease objects: the run takes its lease and
    # every collector's write fails.
    "mid run": (AwsRule("s3", "PutObject", r"/locks/", calls=()), AwsRule("s3", "PutObject", None, **_ACCESS_DENIED)),
}  # fmt: skip


def lifecycle_cells() -> list[Cell]:
    cells = [Cell("SIGTERM to PID 1", phase, "signal") for phase in HOLDS]
    cells += [Cell("kill -9 + Batch retry", phase, "crash") for phase in ("collect", "merge")]
    cells += [Cell("read-only store", when, "store") for when in READ_ONLY]
    return cells


def _start_held(world: World, hold: Hold, extra_env: dict[str, str] | None = None) -> tuple[StartedRun, bool]:
    run = world.start(S1, hold.azure, [rule.rule() for rule in hold.aws], extra_env=extra_env)
    return run, run.wait_for(hold.text, hold.lock)


def _rerun_converges(world: World, refs: References, result: CellResult, **env: str) -> RunResult:
    clean = world.run(S1, extra_env=env or None)
    result.seconds += clean.seconds
    if clean.returncode != 0 or clean.alerts:
        result.problems.append(f"the immediate rerun exited {clean.returncode} with {len(clean.alerts)} alert(s): "
                               f"{_failure_lines(clean.stderr)}")  # fmt: skip
        return clean
    rest = comparable(world.snapshot()).diff(comparable(refs.after_s1))
    result.problems += [f"not converged: {d}" for d in rest[:6]]
    return clean


def _no_leases(world: World, result: CellResult, when: str) -> None:
    left = world.lock_keys()
    if left:
        result.problems.append(f"lease(s) left {when}: {', '.join(left)}")


def run_sigterm(world: World, refs: References, cell: Cell) -> CellResult:
    hold = HOLDS[cell.kind]
    world.restore(refs.after_s0, refs.raw_records_s0)
    run, reached = _start_held(world, hold)
    signalled = time.monotonic()
    run.signal(signal.SIGTERM)
    faulted = run.finish()
    stop_seconds = time.monotonic() - signalled
    result = judge(cell, faulted, world.snapshot(), refs, world.summary())
    result.seconds = faulted.seconds
    result.detail = f"stopped in {stop_seconds:.1f}s; {result.detail}"
    if not reached:
        result.problems.append(f"the run never reached the {cell.kind} phase ({hold.text!r}, lock {hold.lock!r})")
    if result.outcome not in STOPPED_OUTCOMES:
        result.problems.append(f"outcome {result.outcome}, expected one of {sorted(STOPPED_OUTCOMES)}")
    if stop_seconds >= BATCH_SIGKILL_GRACE:
        result.problems.append(f"took {stop_seconds:.1f}s to stop (Batch sends SIGKILL after 30 s)")
    if not any("interrupted by SIGTERM" in alert.get("text", "") for alert in faulted.alerts):
        result.problems.append("the alert does not say the run was interrupted by SIGTERM")
    if run.group_alive():
        result.problems.append("a process of the run is still alive after it exited")
    _no_leases(world, result, "after the SIGTERM")
    _rerun_converges(world, refs, result)
    return result


def run_batch_retry(world: World, refs: References, cell: Cell) -> CellResult:
    hold = HOLDS[cell.kind]
    job = {"AWS_BATCH_JOB_ID": "job-s1", "AWS_BATCH_JOB_ATTEMPT": "1"}
    world.restore(refs.after_s0, refs.raw_records_s0)
    run, reached = _start_held(world, hold, job)
    run.signal(signal.SIGKILL, group=True)
    killed = run.finish()
    result = CellResult(cell, "recovered", faulted=killed, seconds=killed.seconds)
    if not reached:
        result.problems.append(f"the run never reached the {cell.kind} phase ({hold.text!r}, lock {hold.lock!r})")
    held = world.lock_keys()
    if f"locks/azure/{hold.lock}.json" not in held or "locks/azure/run.json" not in held:
        result.problems.append(f"after kill -9 the leases should still be there, found {held}")
    other = world.run(S1, extra_env={"AWS_BATCH_JOB_ID": "job-other", "AWS_BATCH_JOB_ATTEMPT": "1"})
    result.seconds += other.seconds
    if other.returncode != 1 or len(other.alerts) != 1 or "another run holds the lease 'run'" not in other.stderr:
        result.problems.append(f"another job was not refused at once: exit {other.returncode}, "
                               f"{len(other.alerts)} alert(s), {_failure_lines(other.stderr)}")  # fmt: skip
    retry = _rerun_converges(world, refs, result, AWS_BATCH_JOB_ID="job-s1", AWS_BATCH_JOB_ATTEMPT="2")
    takeovers = re.findall(r"took over lease (\S+) from \S+ at once: it was attempt 1", retry.stderr)
    result.detail = f"attempt 2 took over {', '.join(sorted(set(takeovers))) or 'nothing'} at once"
    if "run" not in takeovers:
        result.problems.append("attempt 2 did not take the run lease over at once")
    _no_leases(world, result, "after attempt 2")
    if result.problems:
        result.outcome = "FAIL"
    return result


def run_read_only(world: World, refs: References, cell: Cell) -> CellResult:
    world.restore(refs.after_s0, refs.raw_records_s0)
    faulted = world.run(S1, aws_rules=[rule.rule() for rule in READ_ONLY[cell.kind]])
    result = judge(cell, faulted, world.snapshot(), refs, world.summary())
    result.seconds = faulted.seconds
    if result.outcome != "failed-clean":
        result.problems.append(f"outcome {result.outcome}, expected failed-clean")
    text = " ".join(alert.get("text", "") for alert in faulted.alerts)
    if "another run holds" in text or "overlapping run" in text:
        result.problems.append("a store failure was reported as a held lease")
    if cell.kind == "before run" and "AccessDenied" not in text:
        result.problems.append("the alert does not name the store error (AccessDenied)")
    if "AccessDenied" not in faulted.stderr:
        result.problems.append("the log does not name the store error (AccessDenied)")
    if "the failure alert could not be sent" in faulted.stderr:
        result.problems.append("the failure alert could not be sent")
    _no_leases(world, result, "after the failed run")
    _rerun_converges(world, refs, result)
    return result


RUNNERS: dict[str, Callable[[World, References, Cell], CellResult]] = {
    "signal": run_sigterm, "crash": run_batch_retry, "store": run_read_only,
}  # fmt: skip


def run_lifecycle_cell(world: World, refs: References, cell: Cell) -> CellResult:
    return RUNNERS[cell.mode](world, refs, cell)


def format_lifecycle(results: list[CellResult]) -> str:
    lines = ["Lifecycle: signals, crashes, store failures (slot S1)",
             f"{'cell':<24}{'phase':<13}{'outcome':<22}{'secs':>6}  detail"]  # fmt: skip
    for result in results:
        text = result.outcome if result.ok else "FAIL " + result.outcome
        lines.append(f"{result.cell.target:<24}{result.cell.kind:<13}{text:<22}{result.seconds:>6.1f}  "
                     f"{result.detail[:110]}")  # fmt: skip
    failures = [r for r in results if not r.ok]
    lines.append(f"{len(results)} lifecycle cells run, {len(failures)} failing")
    for result in failures:
        lines.append(f"  FAIL {result.cell.id}: {result.outcome}: {'; '.join(result.problems)[:400]}")
    return "\n".join(lines)
