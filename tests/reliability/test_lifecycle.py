"""Lifecycle cells (issues 13.3, 14.1-14.3) end to end through the real scripts/run_collection.sh: a subset
within `make test`'s budget — SIGTERM to PID 1 while the merge holds its lease, a Batch retry after kill -9
while the SPS collector holds its lease. Every cell (SIGTERM
at each phase, kill -9 at each phase) is in `bench/fault_matrix.py`, which prints the matrix; see
bench/reliability/lifecycle.py for what each cell requires."""

from __future__ import annotations

import pytest

from bench.reliability.harness import World
from bench.reliability.lifecycle import lifecycle_cells, run_lifecycle_cell
from bench.reliability.matrix import References

# A cell makes two or three full runs (the faulted one, a refused one, the rerun): more than the suite's
# per-test 300 s when the machine is loaded (each run has its own 300 s limit in the harness).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("fault_world")]  # one world

CELLS = {cell.id: cell for cell in lifecycle_cells()}
# The read-only store cells are covered by tests/scripts/test_run_collection_lease.py (a store that fails
# before and during the run: exit 1, one alert naming the store error, leases released), and every
# lifecycle cell runs end to end in bench/fault_matrix.py.
SUBSET = (
    "SIGTERM to PID 1-merge-signal",
    "kill -9 + Batch retry-collect-crash",
)


def test_the_subset_names_existing_cells() -> None:
    assert set(SUBSET) <= set(CELLS)


@pytest.mark.parametrize("cell_id", SUBSET)
def test_a_stopped_killed_or_storeless_run_releases_what_it_holds_and_the_next_run_converges(
    cell_id: str, fault_world: World, references: References
) -> None:
    result = run_lifecycle_cell(fault_world, references, CELLS[cell_id])
    log_tail = result.faulted.stderr[-4000:] if result.faulted else ""
    assert result.problems == [], f"{cell_id}: {result.outcome}: {result.problems}\n{log_tail}"
