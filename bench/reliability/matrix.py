"""The fault matrix (issue 8 item 2): cells, how one cell is run, and how its outcome is judged.

A cell = one fault on one API or one publish step, recoverable (a few calls) or persistent (every call).
For each cell: the store and Timestream hold the clean state after slot S0; slot S1 runs with the fault;
then the outcome must be one of

- ``recovered``: exit 0 and the same outputs as the clean run of S1 (every object except monitoring, and
  the time-series points);
- ``failed-clean``: exit 1, exactly one alert, ``latest_state.parquet`` and ``latest_azure.json``
  byte-identical to after S0;
- ``fallback``: exit 1, one alert, the merge published S1 with the newest earlier raw price or IF dataset
  (docs/contract.md 8 allows it; ``last_merge_summary.json`` records the slot it used);
- ``failed-at-commit``: exit 1, one alert, the commit (``latest_state.parquet``) itself failed: the state
  is as after S0 but ``latest_azure.json``, written just before the commit, already holds S1;
- ``failed-after-commit``: exit 1, one alert, every data output equal to the clean S1 run: only the run's
  monitoring objects are missing (docs/contract.md 2 stores them after the merge, so they cannot precede the commit);
- ``refused`` (slot-order cells, issue 14 item 6): a late or replayed slot exits 2 without an alert and
  changes no output; the last committed slot replayed re-publishes the same bytes (``refused/re-published``);
- ``partial``: exit 0, the SPS quota was refused (docs/contract.md 8: keep what was collected, record the calls not
  made; rows not probed keep their T2/T3), recorded as ``partial`` in ``last_run.json``;

and, after any outcome but ``recovered`` (whose outputs already equal the clean run, and a clean rerun is
idempotent — checked once per session), a clean rerun of S1 must exit 0 and converge to the clean outputs
(after ``fallback``, which committed S1, to the same outputs again: a committed slot is re-published, never
rewritten with new data).
Anything else is a violation, listed in the cell's ``problems``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta

from bench.reliability.aws_fault_proxy import FaultRule
from bench.reliability.harness import LATEST_KEYS, S0, S1, SECRETS, RunResult, Snapshot, World
from merge.report import REPORT_KEY
from merge.snapshot_keys import snapshot_key
from utils.constants import (
    LATEST_JSON_KEY,
    LATEST_STATE_KEY,
    QUERY_SELECTOR_KEY,
    SPS_METADATA_KEY,
    archive_key,
    if_key,
    price_key,
    sps_saved_key,
)
from utils.timestamps import slot_iso

APIS = ("prices", "resource_graph", "skus", "sps", "token")
PAGED_APIS = frozenset({"prices", "resource_graph", "skus"})
KINDS = ("429", "5xx", "reset", "slow", "malformed", "truncated", "empty")
KIND_TITLES = {"429": "429 storm", "5xx": "5xx burst", "reset": "conn reset", "slow": "timeout",
               "malformed": "malformed JSON", "truncated": "truncated JSON", "empty": "empty page"}  # fmt: skip
MODES = ("recoverable", "persistent")

# SPS bookkeeping that records the calls a run made (call times, the round-robin cursor, the buckets benched
# after a 429): a faulted run legitimately leaves a different history, and clean runs' call times differ by
# milliseconds, so these are compared only on the fields that carry data (last_run.json) or not at all.
_CALL_HISTORY = sps_saved_key("call_history.json")
_LAST_SUB = sps_saved_key("last_subscription_location.json")
_OVER_LIMIT = sps_saved_key("over_limit_locations.json")
_LAST_RUN = sps_saved_key("last_run.json")
S0_ISO, S1_ISO = slot_iso(S0), slot_iso(S1)
_LAST_RUN_DATA_FIELDS = ("slot", "desired_count", "key", "pairs_planned", "pairs_scored", "partial", "rows")


def comparable(snapshot: Snapshot) -> Snapshot:
    """The snapshot with SPS call bookkeeping reduced to its data fields (see above) and without the HTML
    report (``merge.report``: a view that shows run statistics, retries and durations, by design)."""
    objects = {k: v for k, v in snapshot.objects.items()
               if k not in (_CALL_HISTORY, _LAST_SUB, _OVER_LIMIT, REPORT_KEY)}  # fmt: skip
    if _LAST_RUN in objects:
        last = json.loads(objects[_LAST_RUN])
        objects[_LAST_RUN] = json.dumps({f: last.get(f) for f in _LAST_RUN_DATA_FIELDS}, sort_keys=True).encode()
    return Snapshot(objects, snapshot.records, snapshot.raw_record_count, snapshot.conflicts)


# --- cells ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AwsRule:
    """A frozen fault-proxy rule; ``rule()`` makes the fresh FaultRule (its counters) for one run."""

    service: str
    operation: str | None = None
    key: str | None = None
    status: int = 500
    code: str = "InternalError"
    action: str = "error"
    calls: tuple[int, ...] | None = None
    extra: str = ""  # JSON object merged into a JSON error body

    def rule(self) -> FaultRule:
        return FaultRule(service=self.service, operation=self.operation, key=self.key, status=self.status,
                         code=self.code, action=self.action, calls=self.calls,
                         extra=json.loads(self.extra) if self.extra else {})  # fmt: skip


@dataclass(frozen=True)
class Cell:
    target: str  # API name, or storage step
    kind: str
    mode: str
    azure: str = ""
    aws: tuple[AwsRule, ...] = ()
    skip: str = ""

    @property
    def id(self) -> str:
        return f"{self.target}-{self.kind}-{self.mode}"


def _azure_spec(api: str, kind: str, mode: str) -> str:
    """The emulator fault spec of one API cell (emulator/README.md syntax)."""
    recoverable = mode == "recoverable"
    if kind == "429":
        return f"{api}:429(1)@calls=1,2,3" if recoverable else f"{api}:429(1)"
    if kind == "5xx":
        return f"{api}:500@calls=1;{api}:502@calls=2;{api}:503@calls=3" if recoverable else f"{api}:503"
    if kind == "slow":
        return f"{api}:slow(3)@calls=2" if recoverable else f"{api}:slow(3)"
    if kind == "empty":
        return f"{api}:empty@calls=2" if recoverable else f"{api}:empty@rate=1.0"
    return f"{api}:{kind}@calls=2,3" if recoverable else f"{api}:{kind}"


def api_cells() -> list[Cell]:
    cells = []
    for api in APIS:
        for kind in KINDS:
            for mode in MODES:
                if kind == "empty" and api not in PAGED_APIS:
                    cells.append(Cell(api, kind, mode, skip="not a paged API: no page can be empty"))
                    continue
                cells.append(Cell(api, kind, mode, azure=_azure_spec(api, kind, mode)))
    return cells


def _put(key_regex: str, mode: str) -> tuple[AwsRule, ...]:
    """S3 PutObject of a key fails: once with 500 (botocore retries it), or always with 403 AccessDenied
    (a bucket policy / KMS refusal: not retried, so the persistent cell fails fast)."""
    if mode == "recoverable":
        return (AwsRule("s3", "PutObject", key_regex, 500, "InternalError", calls=(1,)),)
    return (AwsRule("s3", "PutObject", key_regex, 403, "AccessDenied"),)


S3_STEPS: dict[str, str] = {
    "raw price": re.escape(price_key(S1)) + "$",
    "raw IF": re.escape(if_key(S1)) + "$",
    "raw SPS": r"rawdata/azure/sps/2025/12/13/13-10_sps_\d+\.parquet$",
    "SPS metadata": re.escape(SPS_METADATA_KEY) + "$",
    "archive": re.escape(archive_key(S1)) + "$",
    "latest JSON": re.escape(LATEST_JSON_KEY) + "$",
    "query selector": re.escape(QUERY_SELECTOR_KEY) + "$",
    "summary": r"latest_data/azure/last_merge_summary\.json$",
    "snapshot": re.escape(snapshot_key(S1)) + "$",
    "latest state": re.escape(LATEST_STATE_KEY) + "$",
    "monitoring": r"rawdata/azure/monitoring/executionTime/",
}
_REJECTED = json.dumps({"RejectedRecords": [{"RecordIndex": 0, "Reason": "The record timestamp is outside the "
                                             "time range of the data ingestion window."}]})  # fmt: skip


def _reject(calls: tuple[int, ...] | None) -> AwsRule:
    """WriteRecords rejects record 0 of the batch (status 419, as Timestream) and writes the others."""
    return AwsRule("timestream", "WriteRecords", status=419, code="RejectedRecordsException",
                   action="reject_records", calls=calls, extra=_REJECTED)  # fmt: skip


def storage_cells() -> list[Cell]:
    cells = []
    for step, regex in S3_STEPS.items():
        for mode in MODES:
            kind = "500 once" if mode == "recoverable" else "403 always"
            cells.append(Cell(f"S3 put {step}", kind, mode, aws=_put(regex, mode)))
    ts = ("timestream", "WriteRecords")
    cells += [
        Cell("Timestream", "rejected", "recoverable", aws=(_reject((1,)),)),
        Cell("Timestream", "rejected", "persistent", aws=(_reject(None),)),
        Cell("Timestream", "500", "recoverable",
             aws=(AwsRule(*ts, status=500, code="InternalServerException", calls=(1, 2)),)),
        Cell("Timestream", "500", "persistent", aws=(AwsRule(*ts, status=500, code="InternalServerException"),)),
        # The matrix's slots (2025) are older than CloudWatch Logs accepts events (14 days), so the sink skips
        # PutLogEvents for them (utils/metrics.py) but still makes sure of its stream: the recoverable fault
        # hits that call. PutLogEvents itself runs with recent slots in tests/compat/test_pipeline_outputs.py
        # and tests/utils/test_metrics.py.
        Cell("CloudWatch Logs", "500", "recoverable",
             aws=(AwsRule("logs", "CreateLogStream", status=500, code="ServiceUnavailableException", calls=(1,)),)),
        Cell("CloudWatch Logs", "500", "persistent",
             aws=(AwsRule("logs", None, status=500, code="ServiceUnavailableException"),)),
        Cell("CloudWatch Logs", "conn refused", "persistent", aws=(AwsRule("logs", None, action="drop"),)),
    ]  # fmt: skip
    return cells


# Slot order (issue 14 item 6), run as scenarios rather than one faulted S1 (see run_slot_order_cell).
SLOT_ORDER = "slot order"


def slot_order_cells() -> list[Cell]:
    return [Cell(SLOT_ORDER, "late slot", "persistent"), Cell(SLOT_ORDER, "replayed slot", "persistent")]


def all_cells() -> list[Cell]:
    return api_cells() + storage_cells() + slot_order_cells()


# --- running and judging -------------------------------------------------------------------------------
@dataclass
class References:
    """The clean runs every cell is compared with (computed once per process)."""

    after_s0: Snapshot
    raw_records_s0: list[dict]
    after_s1: Snapshot
    seconds: float


@dataclass
class CellResult:
    cell: Cell
    outcome: str
    problems: list[str] = field(default_factory=list)
    faulted: RunResult | None = None
    seconds: float = 0.0
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def compute_references(world: World) -> References:
    world.reset_aws()
    first = world.run(S0)
    if first.returncode != 0:
        raise RuntimeError(f"the clean reference run of S0 failed ({first.returncode}):\n{first.stderr[-6000:]}")
    after_s0 = world.snapshot()
    raw = world.raw_records()
    second = world.run(S1)
    if second.returncode != 0:
        raise RuntimeError(f"the clean reference run of S1 failed ({second.returncode}):\n{second.stderr[-6000:]}")
    return References(after_s0, raw, world.snapshot(), first.seconds + second.seconds)


def _latest_unchanged(before: Snapshot, after: Snapshot) -> bool:
    return all(before.objects.get(key) == after.objects.get(key) for key in LATEST_KEYS)


def _failure_lines(stderr: str, limit: int = 3) -> str:
    lines = [line for line in stderr.splitlines() if " ERROR " in line]
    return " | ".join(line.split(": ", 1)[-1][:160] for line in lines[:limit])


def judge(cell: Cell, run: RunResult, after: Snapshot, refs: References, summary: dict | None) -> CellResult:
    """The outcome of the faulted run (before the convergence run)."""
    problems: list[str] = []
    diffs = comparable(after).diff(comparable(refs.after_s1))
    leaked = [name for name, secret in SECRETS.items() if secret in run.stderr or secret in json.dumps(run.alerts)]
    if leaked:
        problems.append(f"a secret in the log or the alert: {', '.join(leaked)}")
    if run.returncode == 0:
        if run.alerts:
            problems.append(f"exit 0 but {len(run.alerts)} alert(s)")
        if not diffs:
            return CellResult(cell, "recovered", problems, run)
        last_run = json.loads(after.objects.get(_LAST_RUN, b"{}"))
        if last_run.get("partial") and last_run.get("slot") == S1_ISO:
            detail = f"SPS partial: {last_run.get('pairs_scored')}/{last_run.get('pairs_planned')} pairs scored"
            return CellResult(cell, "partial", problems, run, detail=detail)
        return CellResult(cell, "exit 0, outputs differ", [*problems, *diffs[:6]], run)
    if run.returncode != 1:
        return CellResult(cell, f"exit {run.returncode}", [*problems, f"exit {run.returncode}, expected 0 or 1"], run)
    if len(run.alerts) != 1:
        problems.append(f"exit 1 with {len(run.alerts)} alerts, expected exactly one")
    detail = _failure_lines(run.stderr)
    if "Traceback" in run.stderr:
        detail = "(traceback logged) " + detail
    if _latest_unchanged(refs.after_s0, after):
        return CellResult(cell, "failed-clean", problems, run, detail=detail)
    if after.objects.get(LATEST_STATE_KEY) == refs.after_s0.objects.get(LATEST_STATE_KEY) and (
        after.objects.get(LATEST_JSON_KEY) == refs.after_s1.objects.get(LATEST_JSON_KEY)
    ):
        # Only the commit itself failed: the public JSON, written just before it, already holds S1.
        return CellResult(cell, "failed-at-commit", problems, run, detail="latest_azure.json ahead; " + detail)
    if not diffs:
        return CellResult(cell, "failed-after-commit", problems, run, detail=detail)
    used = summary or {}
    if used.get("slot") == S1_ISO and S0_ISO in (used.get("price_slot"), used.get("if_slot")):
        which = [name for name in ("price", "if") if used.get(f"{name}_slot") == S0_ISO]
        return CellResult(cell, "fallback", problems, run, detail=f"merged with the S0 {'+'.join(which)} data")
    return CellResult(cell, "exit 1, state changed", [*problems, *diffs[:6]], run, detail=detail)


def _refused(run: RunResult, before: Snapshot, after: Snapshot, what: str) -> list[str]:
    """Problems of a run that must be refused: exit 2, no alert, the message, every output unchanged."""
    problems = []
    if run.returncode != 2 or run.alerts:
        problems.append(f"{what}: exit {run.returncode} with {len(run.alerts)} alert(s), expected exit 2 and none")
    if "late and replayed slots are refused" not in run.stderr:
        problems.append(f"{what}: no refusal message in the log")
    problems += [f"{what} changed outputs: {d}" for d in comparable(after).diff(comparable(before))[:6]]
    return problems


def run_slot_order_cell(world: World, refs: References, cell: Cell) -> CellResult:
    """``late slot``: after S0, slot S0+20 runs, then S1 (late) must be refused and change nothing (every
    object and point byte for byte, so what follows is a clean S0, S0+20 history by construction), and S0+30
    then runs clean against S0+20 as its base (not an older one).
    ``replayed slot``: after S0 and S1, S0 replayed a day later must be refused and change nothing; S1 (the
    last committed slot) replayed a day later exits 0 and re-publishes the same bytes and points."""
    started = time.monotonic()
    day = timedelta(days=1)
    problems: list[str] = []
    world.restore(refs.after_s0, refs.raw_records_s0)
    if cell.kind == "late slot":
        s2, s3 = S1 + timedelta(minutes=10), S1 + timedelta(minutes=20)
        first = world.run(s2)
        before = world.snapshot()
        late = world.run(S1)
        problems += _refused(late, before, world.snapshot(), "the late slot")
        after = world.run(s3)
        runs = [first, after]
        summary = world.summary() or {}
        merged_on = (summary.get("slot"), summary.get("base_state"))
        if after.returncode != 0 or merged_on != (slot_iso(s3), snapshot_key(s2)):
            problems.append(f"S0+30 after the refused late slot: exit {after.returncode}, merged "
                            f"{summary.get('slot')} on base {summary.get('base_state')}, expected "
                            f"{slot_iso(s3)} on {snapshot_key(s2)}")  # fmt: skip
        detail = "late slot exit 2, nothing written; the next slot merges on the last committed one"
    else:
        runs = [world.run(S1)]
        before = world.snapshot()
        replay_old = world.run(S0, now=S0 + day)
        problems += _refused(replay_old, before, world.snapshot(), "the replayed older slot")
        replay_last = world.run(S1, now=S1 + day)
        runs += [replay_old, replay_last]
        if replay_last.returncode != 0 or replay_last.alerts:
            problems.append(f"the replayed last slot exited {replay_last.returncode} with {len(replay_last.alerts)} "
                            "alert(s), expected 0 and none")  # fmt: skip
        if "re-publishing it from its stored raw data" not in replay_last.stderr:
            problems.append("the replayed last slot was collected again")
        problems += [f"the replayed last slot changed outputs: {d}"
                     for d in comparable(world.snapshot()).diff(comparable(before))[:6]]  # fmt: skip
        detail = "older slot exit 2, nothing written; the last slot re-published from its raw data, same bytes"
    if any(r.returncode == 0 and r.alerts for r in runs):
        problems.append("a successful run sent an alert")
    leaked = [name for name, secret in SECRETS.items() if any(secret in r.stderr for r in runs)]
    if leaked:
        problems.append(f"a secret in the log: {', '.join(leaked)}")
    outcome = "refused" if cell.kind == "late slot" else "refused/re-published"
    return CellResult(cell, outcome, problems, runs[-1], time.monotonic() - started, detail)


def run_cell(world: World, refs: References, cell: Cell) -> CellResult:
    """Restore the S0 state, run S1 with the cell's fault, judge it, then check convergence."""
    if cell.target == SLOT_ORDER:
        return run_slot_order_cell(world, refs, cell)
    world.restore(refs.after_s0, refs.raw_records_s0)
    faulted = world.run(S1, cell.azure, [rule.rule() for rule in cell.aws])
    faulted_snapshot = world.snapshot()
    result = judge(cell, faulted, faulted_snapshot, refs, world.summary())
    result.seconds = faulted.seconds
    if cell.aws and faulted.aws_faults_injected == 0:
        result.problems.append("the fault was never injected (no matching request)")
    if result.outcome != "recovered":
        clean = world.run(S1)
        result.seconds += clean.seconds
        after = world.snapshot()
        if clean.returncode != 0 or clean.alerts:
            result.problems.append(f"the clean rerun exited {clean.returncode} with {len(clean.alerts)} alert(s): "
                                   f"{_failure_lines(clean.stderr)}")  # fmt: skip
        elif result.outcome == "partial" and json.loads(after.objects.get(_LAST_RUN, b"{}")).get("partial"):
            # The 429'd (subscription, location) buckets stay benched for the whole quota window
            # (sps_module/quota_ledger.py mark_over_limit), so a rerun inside it is partial again by design.
            result.detail += "; rerun in the quota window partial too (benched buckets)"
        else:
            # A fallback run committed S1 (with the earlier price/IF data, recorded): a committed slot is never
            # rewritten with new data (README "Reading the time series"), so its rerun re-publishes the same
            # outputs; every other outcome left S1 uncommitted and its rerun converges to the clean run.
            target = faulted_snapshot if result.outcome == "fallback" else refs.after_s1
            rest = comparable(after).diff(comparable(target))
            result.problems += [f"not converged: {d}" for d in rest[:6]]
    return result


def format_matrix(results: list[CellResult], skipped: list[Cell]) -> str:
    """The printed matrix: API x kind x mode (and storage steps) -> outcome, with failures explained."""
    by_id = {r.cell.id: r for r in results}
    lines = []
    width = max(len(KIND_TITLES[k]) for k in KINDS)
    header = f"{'API':<15}" + "".join(f"{KIND_TITLES[k]:<{width + 2}}" for k in KINDS)
    for mode in MODES:
        lines.append(f"Azure APIs, {mode} faults")
        lines.append(header)
        for api in APIS:
            row = f"{api:<15}"
            for kind in KINDS:
                cell_id = f"{api}-{kind}-{mode}"
                result = by_id.get(cell_id)
                text = "n/a" if any(c.id == cell_id for c in skipped) else (
                    "-" if result is None else (result.outcome if result.ok else "FAIL " + result.outcome))
                row += f"{text:<{width + 2}}"
            lines.append(row.rstrip())
        lines.append("")
    lines.append("Storage and sinks (S1 publish steps)")
    lines.append(f"{'step':<26}{'fault':<14}{'mode':<13}{'outcome':<22}{'secs':>6}  detail")
    for result in results:
        if result.cell.target in APIS:
            continue
        cell = result.cell
        text = result.outcome if result.ok else "FAIL " + result.outcome
        lines.append(f"{cell.target:<26}{cell.kind:<14}{cell.mode:<13}{text:<22}{result.seconds:>6.1f}  "
                     f"{result.detail[:110]}")  # fmt: skip
    reasons = sorted({c.skip for c in skipped})
    if reasons:
        lines.append("")
        lines.append("n/a: " + "; ".join(f"{', '.join(sorted({c.target for c in skipped if c.skip == r}))} x "
                                       f"{', '.join(sorted({c.kind for c in skipped if c.skip == r}))}: {r}"
                                       for r in reasons))  # fmt: skip
    failures = [r for r in results if not r.ok]
    lines.append("")
    lines.append(f"{len(results)} cells run, {len(skipped)} n/a, {len(failures)} failing")
    for result in failures:
        lines.append(f"  FAIL {result.cell.id}: {result.outcome}: {'; '.join(result.problems)[:400]}")
    return "\n".join(lines)
