"""Data cells of the fault matrix (issue 14 items 7, 8, 10): Azure data that must not poison a run.

Two kinds of cell, each run through the real ``scripts/run_collection.sh`` in the fault-matrix world:

- answer cells (``sps:casing``, ``sps:unasked``): slot S1 runs with the emulator's SPS answers spelling every
  ARM name in upper case, or carrying scores for pairs the call did not ask. They are ordinary matrix cells
  (``bench/reliability/matrix.py`` ``run_cell``) and must be ``recovered``: outputs identical to the clean S1.
- gone cells: slot S1 runs against a second emulator whose catalog lacks one region (``japaneast``) or one
  size (``Standard_E2s_v5``) -- prices, SKUs and SPS alike, as if Azure did not know it for that slot. S1 must
  exit 0 without an alert and without that region/size (not priced in S1, so not published), and the next
  daily re-plan (the first slot of the next UTC day, S_NEXT) must score it again: its raw SPS object equals
  the one of a clean world that never lost it, and the published rows of that region/size carry a Score.
  (Before issue 14.7 the learned invalid value was kept for good: S_NEXT had no score for it.)
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from bench.reliability.harness import PAGE_SIZE, S1, World, tiny_catalog_text
from bench.reliability.matrix import Cell, References, run_cell
from emulator.testing import running_emulator
from utils.constants import LATEST_JSON_KEY, sps_key

S_NEXT = datetime(2025, 12, 14, 0, 0, tzinfo=UTC)  # the next daily re-plan after S1 (desired count 1)


@dataclass(frozen=True)
class DataCell:
    id: str
    title: str
    azure: str = ""  # answer cells: the emulator fault spec of S1
    gone: tuple[str, str] | None = None  # gone cells: ("region" | "size", name) missing from S1's catalog


DATA_CELLS: tuple[DataCell, ...] = (
    DataCell("data-casing-sps", "casing: SPS answers STANDARD_D2S_V3 / EASTUS", azure="sps:casing"),
    DataCell("data-unasked-sps", "SPS scores for pairs the call did not ask", azure="sps:unasked"),
    DataCell("data-gone-region", "region gone for one slot (japaneast)", gone=("region", "japaneast")),
    DataCell("data-gone-size", "size gone for one slot (Standard_E2s_v5)", gone=("size", "Standard_E2s_v5")),
)


@dataclass
class DataCellResult:
    cell: DataCell
    outcome: str
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def catalog_without(what: str, name: str) -> str:
    """The fault-matrix world's tiny catalog without one region or one size."""
    lines = tiny_catalog_text().splitlines()
    column = 0 if what == "region" else 1
    kept = [lines[0]] + [line for line in lines[1:] if line.split(",")[column] != name]
    return "\n".join(kept) + "\n"


def _has(frame: pd.DataFrame, what: str, name: str) -> pd.Series:
    if what == "region":
        return frame["RegionCode" if "RegionCode" in frame.columns else "Region"] == name
    return (frame["InstanceTier"] + "_" + frame["InstanceType"]).str.lower() == name.lower()


def _raw_sps(world: World, slot: datetime, count: int) -> pd.DataFrame:
    data = world.snapshot().objects.get(sps_key(slot, count))
    if data is None:
        raise AssertionError(f"no raw SPS object for {slot:%Y-%m-%d %H:%M} count {count}")
    return pd.read_parquet(io.BytesIO(data))


_CLEAN_NEXT: dict[int, pd.DataFrame] = {}


def _clean_next_day(world: World, refs: References) -> pd.DataFrame:
    """The raw SPS object of S_NEXT in a world that never lost anything (computed once per world)."""
    if id(world) not in _CLEAN_NEXT:
        world.restore(refs.after_s1, refs.raw_records_s0)
        run = world.run(S_NEXT)
        if run.returncode != 0:
            raise RuntimeError(f"the clean run of the next day failed ({run.returncode}):\n{run.stderr[-4000:]}")
        _CLEAN_NEXT[id(world)] = _raw_sps(world, S_NEXT, 1)
    return _CLEAN_NEXT[id(world)]


def _run_gone(world: World, refs: References, cell: DataCell) -> DataCellResult:
    assert cell.gone is not None
    what, name = cell.gone
    clean_next = _clean_next_day(world, refs)
    problems: list[str] = []
    world.restore(refs.after_s0, refs.raw_records_s0)
    catalog = Path(world.workdir) / f"catalog_without_{name}.csv"
    catalog.write_text(catalog_without(what, name))
    home = world.emulator
    with running_emulator(catalog=catalog, page_size=PAGE_SIZE) as partial:
        world.emulator = partial  # this slot only: every Azure API of S1 answers from the reduced catalog
        try:
            faulted = world.run(S1)
        finally:
            world.emulator = home
    seconds = faulted.seconds
    if faulted.returncode != 0 or faulted.alerts:
        problems.append(f"S1 without {name} exited {faulted.returncode} with {len(faulted.alerts)} alert(s)")
    snapshot = world.snapshot()
    published = pd.DataFrame(json.loads(snapshot.objects.get(LATEST_JSON_KEY, b"[]")))
    if not published.empty and _has(published, what, name).any():
        problems.append(f"S1 published rows of {name}, which had no price in S1")
    nxt = world.run(S_NEXT)
    seconds += nxt.seconds
    if nxt.returncode != 0 or nxt.alerts:
        problems.append(f"the next day's run exited {nxt.returncode} with {len(nxt.alerts)} alert(s)")
        return DataCellResult(cell, "FAIL", problems, seconds)
    raw = _raw_sps(world, S_NEXT, 1)
    if not _has(raw, what, name).any():
        problems.append(f"the next daily re-plan did not score {name} (blacklisted for good)")
    elif not raw.equals(clean_next):
        problems.append("the next day's raw SPS object differs from a clean world's")
    published = pd.DataFrame(json.loads(world.snapshot().objects.get(LATEST_JSON_KEY, b"[]")))
    rows = published[_has(published, what, name)] if not published.empty else published
    scored = int((rows["Score"] != -1).sum()) if not rows.empty else 0
    if scored == 0:
        problems.append(f"no published row of {name} carries a Score on the next day")
    detail = (f"S1: exit {faulted.returncode}, no {name}; next day: {len(rows)} rows, {scored} scored, "
              f"raw SPS {'=' if not problems else '!='} clean world")
    return DataCellResult(cell, "rescored next day" if not problems else "FAIL", problems, seconds, detail)


def run_data_cell(world: World, refs: References, cell: DataCell) -> DataCellResult:
    """Run one data cell (see the module docstring)."""
    if cell.gone is None:
        result = run_cell(world, refs, Cell("sps", cell.id, "persistent", azure=cell.azure))
        problems = list(result.problems)
        if result.outcome != "recovered":
            problems.append(f"expected recovered (outputs identical to the clean S1), got {result.outcome}")
        return DataCellResult(cell, result.outcome, problems, result.seconds, result.detail)
    return _run_gone(world, refs, cell)


def format_data_cells(results: list[DataCellResult]) -> str:
    """The data section of the printed matrix."""
    lines = ["Data that must not poison a run (issue 14.7, 14.8, 14.10)",
             f"{'cell':<18}{'what':<46}{'outcome':<20}{'secs':>6}  detail"]
    for r in results:
        text = r.outcome if r.ok else "FAIL " + r.outcome
        lines.append(f"{r.cell.id:<18}{r.cell.title:<46}{text:<20}{r.seconds:>6.1f}  {r.detail[:110]}")
    failures = [r for r in results if not r.ok]
    lines.append(f"{len(results)} data cells run, {len(failures)} failing")
    lines += [f"  FAIL {r.cell.id}: {'; '.join(r.problems)[:400]}" for r in failures]
    return "\n".join(lines)

