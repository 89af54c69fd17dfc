"""The fault matrix, end to end through the real scripts/run_collection.sh (issue 8 item 2): a representative
subset — one cell per outcome a collector fault gives the run (see API_SUBSET; every API x kind x mode runs
against the collectors in their own suites) and one storage / sink step of each kind (see STORAGE_SUBSET). The
full matrix (every API x kind x mode and both modes of every step) is `bench/fault_matrix.py`, which prints it.

Each cell restores the clean state after slot S0, runs S1 with the fault, and must end in an allowed outcome
(recovered, failed-clean, fallback, failed-at-commit, failed-after-commit, partial; see
bench/reliability/matrix.py) and then converge on a clean rerun."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.reliability.harness import World
from bench.reliability.matrix import SLOT_ORDER, Cell, References, all_cells, run_cell

# One xdist group for every test of the fault world (this module, lifecycle, data cells): one worker builds
# the world and its clean reference slots once instead of each worker building its own.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fault_world")]
REPO = Path(__file__).resolve().parents[2]

# End to end, one cell per outcome a collector fault gives the run: recovered (429 with Retry-After), a price
# or IF collector failing for good (the merge falls back to the earlier raw data, exit 1), the SPS collector
# failing for good (merge skipped, exit 1). Every API x fault kind x mode is run against the collector
# itself by the collector suites (COLLECTOR_FAULT_SUITES), and every cell end to end by bench/fault_matrix.py.
API_SUBSET = ("prices-429-recoverable", "resource_graph-5xx-persistent", "sps-malformed-persistent")
COLLECTOR_FAULT_SUITES = {
    "prices": "tests/price/test_collect_price.py (FAULT_KINDS, recoverable and persistent)",
    "resource_graph": "tests/if_collector/test_collect_if.py (FAULT_KINDS, recoverable and persistent)",
    "skus": "tests/if_collector/test_collect_if.py (FAULT_KINDS, recoverable and persistent)",
    "sps": "tests/sps/test_collect_emulator.py (retried faults; faults that outlive the retries)",
    "token": "tests/sps/test_collect_emulator.py (token 500/503 retried, 500 for good; refused secret and expiry in "
             "tests/azure/test_auth.py)",
}
# One step of each kind end to end (a collector's raw object, SPS state, a merge publish step, the commit,
# monitoring, each sink) to keep `make test` within its time budget; the other merge publish steps (archive,
# query selector, summary, snapshot) fail the same code path and are each crash-tested in process by
# tests/merge/test_crash_injection.py, and every step runs end to end in bench/fault_matrix.py.
STORAGE_SUBSET = (
    "S3 put raw price-403 always-persistent", "S3 put SPS metadata-403 always-persistent",
    "S3 put latest state-403 always-persistent", "S3 put monitoring-403 always-persistent",
    "Timestream-rejected-persistent", "CloudWatch Logs-500-persistent",
    "slot order-late slot-persistent",
)  # fmt: skip
# Steps whose failure takes a code path another cell or test already takes; every one of them still runs end
# to end in bench/fault_matrix.py. The replayed slot is refused by the same check as the late slot
# (merge/slot_order.py), tested in process by tests/merge/test_slot_order.py.
MERGE_PUBLISH_STEPS_CRASH_TESTED_IN_PROCESS = {
    "S3 put archive", "S3 put query selector", "S3 put summary", "S3 put snapshot", "S3 put latest JSON",
    "S3 put raw IF", "S3 put raw SPS",  # the same collector store-write path as raw price
}
CELLS = {cell.id: cell for cell in all_cells()}
ALLOWED = {
    "recovered", "failed-clean", "fallback", "failed-at-commit", "failed-after-commit", "partial",
    "refused", "refused/re-published",
}  # fmt: skip


def test_the_subset_names_existing_cells_and_every_api_and_step_is_covered_here_or_in_its_suite() -> None:
    chosen = [CELLS[name] for name in (*API_SUBSET, *STORAGE_SUBSET)]
    api = [c for c in chosen if not c.aws and c.target != SLOT_ORDER]
    assert {c.mode for c in api} == {"recoverable", "persistent"}
    assert {c.target for c in api} == {"prices", "resource_graph", "sps"}  # recovered, fallback, merge skipped
    every_api = {c.target for c in CELLS.values() if not c.aws and c.target != SLOT_ORDER}
    assert every_api == set(COLLECTOR_FAULT_SUITES)
    for suite in COLLECTOR_FAULT_SUITES.values():
        assert (REPO / suite.split(" ", 1)[0]).is_file(), suite
    steps = {c.target for c in CELLS.values() if c.aws}
    assert steps <= {c.target for c in chosen} | MERGE_PUBLISH_STEPS_CRASH_TESTED_IN_PROCESS


@pytest.mark.parametrize("cell_id", [*API_SUBSET, *STORAGE_SUBSET])
def test_a_faulted_run_recovers_or_fails_cleanly_and_a_clean_rerun_converges(
    cell_id: str, fault_world: World, references: References
) -> None:
    cell: Cell = CELLS[cell_id]
    result = run_cell(fault_world, references, cell)
    log_tail = result.faulted.stderr[-3000:] if result.faulted else ""
    assert result.outcome in ALLOWED, f"{cell_id}: {result.outcome}: {result.problems}\n{log_tail}"
    assert result.problems == [], f"{cell_id}: {result.outcome}: {result.problems}\n{log_tail}"
