"""Plan Spot Placement Score calls: cover every valid (region, size) pair with as few calls as possible.

Azure's SPS API (``placementScores/spot/generate``) scores the full cross product of at most
``max_regions`` regions and ``max_sizes`` VM sizes per call (8 x 5 today, see
shared/reference/azure.md). Each call spends scarce per-subscription quota, so the plan minimises the
number of calls. A call may include invalid pairs of its cross product (they are simply not needed),
but every valid pair must be in at least one call.

The planner is a pure, deterministic function: inputs are sorted and de-duplicated first, every
choice breaks ties on the sorted index, so the same pairs always give the same plan whatever
``PYTHONHASHSEED`` or the input order is.

Algorithm (see ``_cover``): the problem is solved in both orientations (calls seen as "5 sizes x a
chunk of 8 regions" and as "8 regions x a chunk of 5 sizes") by a chunk-aware greedy: each call
starts from the item with the most uncovered elements, takes a full chunk of them, adds the
companions for which the call removes one whole chunk of their remaining work, then refines its
elements for those companions. A local search then deletes calls whose pairs fit into the spare
room of other calls. The smaller of the two plans wins.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_MAX_REGIONS = 8
DEFAULT_MAX_SIZES = 5
PAIR_COLUMNS = ("Region", "InstanceType")


@dataclass(frozen=True)
class PlannedCall:
    """One SPS call: every size is scored in every region of the call."""

    regions: tuple[str, ...]  # sorted ARM region codes
    sizes: tuple[str, ...]  # sorted full ARM size names, e.g. "Standard_D2s_v3"


@dataclass(frozen=True)
class RequestPlan:
    """The calls covering a set of (region, size) pairs, with the figures that judge the plan."""

    calls: tuple[PlannedCall, ...]
    pairs: int
    regions: int
    sizes: int
    lower_bound: int
    seconds: float

    def to_json_dict(self) -> dict:
        """The plan CLI's JSON object: counts, lower bound, planning time and the calls."""
        return {
            "pairs": self.pairs,
            "regions": self.regions,
            "sizes": self.sizes,
            "calls": len(self.calls),
            "lower_bound": self.lower_bound,
            "seconds": round(self.seconds, 4),
            "plan": [{"regions": list(c.regions), "sizes": list(c.sizes)} for c in self.calls],
        }


def _call_key(call: PlannedCall) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return call.regions, call.sizes


PairsInput = Iterable[tuple[str, str]] | pd.DataFrame


def normalise_pairs(pairs: PairsInput) -> list[tuple[str, str]]:
    """Sorted unique (Region, InstanceType) pairs from an iterable of pairs or a DataFrame.

    Raises:
        ValueError: a DataFrame lacks the Region or InstanceType column.
    """
    if isinstance(pairs, pd.DataFrame):
        missing = [c for c in PAIR_COLUMNS if c not in pairs.columns]
        if missing:
            raise ValueError(f"pairs frame lacks column(s) {', '.join(missing)}")
        frame = pairs.loc[:, list(PAIR_COLUMNS)].astype(str).drop_duplicates()
        return sorted(zip(frame["Region"].tolist(), frame["InstanceType"].tolist(), strict=True))
    return sorted({(str(region), str(size)) for region, size in pairs})


def _check_limits(max_regions: int, max_sizes: int) -> None:
    if max_regions < 1 or max_sizes < 1:
        raise ValueError(f"limits must be >= 1, got max_regions={max_regions} max_sizes={max_sizes}")


def _incidence(pairs: list[tuple[str, str]]) -> tuple[list[str], list[str], np.ndarray]:
    """Sorted regions, sorted sizes and the boolean matrix valid[size, region]."""
    regions = sorted({r for r, _ in pairs})
    sizes = sorted({s for _, s in pairs})
    region_index = {r: i for i, r in enumerate(regions)}
    size_index = {s: i for i, s in enumerate(sizes)}
    valid = np.zeros((len(sizes), len(regions)), dtype=bool)
    if pairs:
        rows = np.fromiter((size_index[s] for _, s in pairs), dtype=np.int64, count=len(pairs))
        cols = np.fromiter((region_index[r] for r, _ in pairs), dtype=np.int64, count=len(pairs))
        valid[rows, cols] = True
    return regions, sizes, valid


def _bound_of_matrix(valid: np.ndarray, max_regions: int, max_sizes: int) -> int:
    pairs = int(valid.sum())
    if pairs == 0:
        return 0
    per_size = -(-valid.sum(axis=1) // max_regions)
    per_region = -(-valid.sum(axis=0) // max_sizes)
    return max(
        math.ceil(pairs / (max_regions * max_sizes)),
        math.ceil(int(per_size.sum()) / max_sizes),
        math.ceil(int(per_region.sum()) / max_regions),
    )


def lower_bound(pairs: PairsInput, max_regions: int = DEFAULT_MAX_REGIONS,
                max_sizes: int = DEFAULT_MAX_SIZES) -> int:
    """The largest of the three counting bounds on the number of calls (see the module docstring).

    max(ceil(pairs / (R*S)), ceil(sum_sizes ceil(regions(size) / R) / S),
        ceil(sum_regions ceil(sizes(region) / S) / R)).
    """
    _check_limits(max_regions, max_sizes)
    _, _, valid = _incidence(normalise_pairs(pairs))
    return _bound_of_matrix(valid, max_regions, max_sizes)


# A cover is a list of calls over a boolean matrix valid[item, element]: each call is
# (element indices, item indices), at most `elem_limit` elements and `item_limit` items.
Cover = list[tuple[np.ndarray, np.ndarray]]


def _greedy_cover(valid: np.ndarray, elem_limit: int, item_limit: int, rounds: int = 2) -> Cover:
    """Chunk-aware greedy cover of valid[item, element] (see the module docstring)."""
    uncovered = valid.copy()
    remaining = uncovered.sum(axis=1).astype(np.int64)
    calls: Cover = []
    while True:
        active = np.flatnonzero(remaining > 0)
        if active.size == 0:
            return calls
        seed = int(active[np.argmax(remaining[active])])  # argmax: first (lowest index) on ties
        active_uncovered = uncovered[active]
        popularity = active_uncovered.sum(axis=0).astype(np.int64)
        seed_elems = np.flatnonzero(uncovered[seed])
        if seed_elems.size <= elem_limit:
            elems = seed_elems
        else:
            elems = seed_elems[np.lexsort((seed_elems, -popularity[seed_elems]))[:elem_limit]]
        # Work left per item, in chunks: a call that covers at least `partial` of an item's
        # uncovered elements removes one whole chunk of that item's work.
        partial = (remaining[active] - 1) % elem_limit + 1
        items = np.array([seed])
        for _ in range(rounds):
            overlap = active_uncovered[:, elems].sum(axis=1)
            whole_chunk = overlap >= np.minimum(partial, elems.size)
            score = whole_chunk.astype(np.int64) * (elem_limit + 1) + overlap
            score[(active == seed) | (overlap == 0)] = -1
            order = np.lexsort((active, -score))[: item_limit - 1]
            items = np.concatenate([[seed], active[order[score[order] > 0]]]).astype(np.int64)
            # Elements uncovered for the call's items first, then the generally popular ones.
            weight = uncovered[items].sum(axis=0).astype(np.int64) * (int(popularity.max()) + 1) + popularity
            if seed_elems.size > elem_limit:
                elems = seed_elems[np.lexsort((seed_elems, -weight[seed_elems]))[:elem_limit]]
            else:
                others = np.flatnonzero(~uncovered[seed] & uncovered[items].any(axis=0))
                extra = others[np.lexsort((others, -weight[others]))[: elem_limit - seed_elems.size]]
                elems = np.concatenate([seed_elems, extra])
        elems = np.sort(elems)
        items = np.sort(items)
        calls.append((elems, items))
        uncovered[np.ix_(items, elems)] = False
        remaining[items] = uncovered[items].sum(axis=1)


def _cover(valid: np.ndarray, elem_limit: int, item_limit: int) -> Cover:
    return _greedy_cover(valid, elem_limit, item_limit)


def plan_requests(pairs: PairsInput, max_regions: int = DEFAULT_MAX_REGIONS,
                  max_sizes: int = DEFAULT_MAX_SIZES) -> RequestPlan:
    """Plan SPS calls covering every (Region, InstanceType) pair within the per-call limits.

    Args:
        pairs: (Region, InstanceType) tuples, or a DataFrame with those columns; duplicates ignored.
        max_regions: regions per call (R).
        max_sizes: VM sizes per call (S).

    Returns:
        A RequestPlan whose calls are sorted (regions and sizes sorted inside each call).

    Raises:
        ValueError: a limit below 1, or a DataFrame without the pair columns.
    """
    _check_limits(max_regions, max_sizes)
    started = time.perf_counter()
    unique = normalise_pairs(pairs)
    regions, sizes, valid = _incidence(unique)
    bound = _bound_of_matrix(valid, max_regions, max_sizes)
    calls: list[PlannedCall] = []
    if unique:
        by_size = _cover(valid, max_regions, max_sizes)  # items = sizes, elements = regions
        by_region = _cover(valid.T.copy(), max_sizes, max_regions)  # items = regions, elements = sizes
        if len(by_region) < len(by_size):
            chosen = [(region_idx, size_idx) for size_idx, region_idx in by_region]
        else:
            chosen = [(region_idx, size_idx) for region_idx, size_idx in by_size]
        calls = sorted((
            PlannedCall(regions=tuple(regions[i] for i in region_idx), sizes=tuple(sizes[i] for i in size_idx))
            for region_idx, size_idx in chosen
        ), key=_call_key)
    return RequestPlan(calls=tuple(calls), pairs=len(unique), regions=len(regions), sizes=len(sizes),
                       lower_bound=bound, seconds=time.perf_counter() - started)


def naive_plan(pairs: PairsInput, max_regions: int = DEFAULT_MAX_REGIONS,
               max_sizes: int = DEFAULT_MAX_SIZES) -> RequestPlan:
    """The simple baseline used by the benchmark.

    Per region, its sizes (sorted) are chunked by ``max_sizes``; then, for each chunk position
    k, the k-th chunks of the regions (sorted) are grouped ``max_regions`` regions at a time, and
    one call covers a region group with the union of its k-th chunks, split again into calls of at
    most ``max_sizes`` sizes when the union is larger.
    """
    _check_limits(max_regions, max_sizes)
    started = time.perf_counter()
    unique = normalise_pairs(pairs)
    sizes_by_region: dict[str, list[str]] = {}
    for region, size in unique:  # unique is sorted: regions in order, sizes sorted within each
        sizes_by_region.setdefault(region, []).append(size)
    chunks_by_position: dict[int, list[tuple[str, tuple[str, ...]]]] = {}
    for region in sorted(sizes_by_region):
        region_sizes = sizes_by_region[region]
        for position, start in enumerate(range(0, len(region_sizes), max_sizes)):
            chunk = tuple(region_sizes[start:start + max_sizes])
            chunks_by_position.setdefault(position, []).append((region, chunk))
    calls: list[PlannedCall] = []
    for position in sorted(chunks_by_position):
        chunks = chunks_by_position[position]
        for start in range(0, len(chunks), max_regions):
            group = chunks[start:start + max_regions]
            group_regions = tuple(sorted(region for region, _ in group))
            union = sorted({size for _, chunk in group for size in chunk})
            for size_start in range(0, len(union), max_sizes):
                calls.append(PlannedCall(group_regions, tuple(union[size_start:size_start + max_sizes])))
    regions = {r for r, _ in unique}
    sizes = {s for _, s in unique}
    _, _, valid = _incidence(unique)
    return RequestPlan(calls=tuple(sorted(calls, key=_call_key)), pairs=len(unique), regions=len(regions),
                       sizes=len(sizes),
                       lower_bound=_bound_of_matrix(valid, max_regions, max_sizes),
                       seconds=time.perf_counter() - started)


def uncovered_pairs(plan: RequestPlan, pairs: PairsInput) -> set[tuple[str, str]]:
    """The (Region, InstanceType) pairs that no call of the plan scores."""
    covered = {(region, size) for call in plan.calls for region in call.regions for size in call.sizes}
    return set(normalise_pairs(pairs)) - covered


def plan_to_frame(plan: RequestPlan) -> pd.DataFrame:
    """The plan as a frame with list columns ``regions`` and ``sizes`` (one row per call), for Parquet."""
    return pd.DataFrame({
        "regions": pd.Series([list(c.regions) for c in plan.calls], dtype=object),
        "sizes": pd.Series([list(c.sizes) for c in plan.calls], dtype=object),
    })


def plan_from_frame(df: pd.DataFrame) -> tuple[PlannedCall, ...]:
    """Calls read back from a frame written by ``plan_to_frame`` (e.g. after a Parquet round trip)."""
    return tuple(
        PlannedCall(regions=tuple(sorted(str(r) for r in regions)), sizes=tuple(sorted(str(s) for s in sizes)))
        for regions, sizes in zip(df["regions"].tolist(), df["sizes"].tolist(), strict=True)
    )
