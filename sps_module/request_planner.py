"""Plan Spot Placement Score calls: cover every valid (region, size) pair with as few calls as possible.

Azure's SPS API (``placementScores/spot/generate``) scores the full cross product of at most
``max_regions`` regions and ``max_sizes`` VM sizes per call (8 x 5 today, see
docs/azure-facts.md). Each call spends scarce per-subscription quota, so the plan minimises the
number of calls. A call may include invalid pairs of its cross product (they are simply not needed),
but every valid pair must be in at least one call.

The planner is a pure, deterministic function: inputs are sorted and de-duplicated first, every
choice breaks ties on the sorted index, so the same pairs always give the same plan whatever
``PYTHONHASHSEED`` or the input order is.

Algorithm (see ``_cover``), in the orientation of the dominant counting bound (both orientations for
small inputs): items are VM sizes and elements regions (or the reverse), at most ``elem_limit``
elements and ``item_limit`` items per call.

1. Grouping (``_group_calls``): items are grouped ``item_limit`` at a time by similar element sets
   (fewest union chunks they leave unfilled, then smallest union). A group's union is ordered by depth
   (how many members offer the element) and cut into chunks of ``elem_limit``: with nested sets, as
   in real catalogs where a family's larger sizes drop regions, every member's set is a prefix of
   that order. The chunks that hold all
   ``item_limit`` members, each of them in no more calls than its own chunk count, are kept: they meet
   the per-item counting bound exactly (a flavour tolerates 1 or 2 extra pieces per kept call).
2. Residue: a chunk-aware greedy covers what the grouped calls leave: each call starts from the item
   with the most uncovered elements, takes a full chunk of them, adds the companions for which the
   call removes one whole chunk of their remaining work, then refines its elements.
3. Clean-up: drop items and elements a call does not need, merge calls that fit together.

The best of three grouping flavours (``GROUPING_FLAVOURS``) and, for small inputs or catalogs without
shared element sets, the plain greedy wins. Typical results: the real US catalog at the bound,
family-structured world catalogs (~26k pairs) 2-4.1% over it in ~0.2 s.
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


@dataclass(frozen=True)
class _GreedyVariant:
    """One deterministic flavour of the greedy; the planner keeps the best plan of a few."""

    seed: str  # "largest_chunk": item whose next (partial) chunk is largest; "smallest": fewest left
    finish_bonus: int  # score bonus for a companion the call finishes
    partial_penalty: int  # score penalty for a companion the call does not relieve of a whole chunk


GREEDY_VARIANTS = (
    _GreedyVariant(seed="largest_chunk", finish_bonus=4, partial_penalty=0),
    _GreedyVariant(seed="smallest", finish_bonus=40, partial_penalty=4),
    _GreedyVariant(seed="largest_chunk", finish_bonus=0, partial_penalty=4),
)
# Above this many pairs only the orientation of the dominant counting bound is planned (speed).
BOTH_ORIENTATIONS_MAX_PAIRS = 5_000
# Grouping flavours tried: (largest item first, companions by unfilled union chunks first, tolerance).
# Smallest-first with chunk-waste-first companions was the best single flavour on 17 family-structured
# world catalogs; tolerances 0, 1 and 2 each win on some of them (best of the three: 1.9-4.1% over the
# bound, against 2.5-4.1% for tolerance 0 alone).
GROUPING_FLAVOURS = ((False, True, 0), (False, True, 1), (False, True, 2))
# Up to this many pairs the plain greedy (no grouping) also competes (country-scale catalogs, ~6k pairs).
PLAIN_GREEDY_MAX_PAIRS = 12_000


def _greedy_cover(valid: np.ndarray, elem_limit: int, item_limit: int, variant: _GreedyVariant,
                  rounds: int = 2) -> Cover:
    """Chunk-aware greedy cover of valid[item, element].

    Each step makes one call: a seed item, up to ``elem_limit`` of its uncovered elements (rarest
    first: rare elements are the hard ones to share), then the companions that gain most from those
    elements, then the elements re-chosen for the seed and its companions. An item's remaining work
    is counted in chunks of ``elem_limit`` elements; its "partial" chunk is what is left over the full
    chunks, and a call relieves it of a whole chunk when it covers at least that many elements.
    Ties always break on the lower index, so the result is deterministic.
    """
    uncovered = valid.copy()
    remaining = uncovered.sum(axis=1).astype(np.int64)
    calls: Cover = []
    while True:
        active = np.flatnonzero(remaining > 0)
        if active.size == 0:
            return calls
        partial = (remaining[active] - 1) % elem_limit + 1
        if variant.seed == "smallest":
            seed = int(active[np.argmin(remaining[active])])  # argmin: first (lowest index) on ties
        else:
            seed = int(active[np.lexsort((active, -remaining[active], -partial))[0]])
        active_uncovered = uncovered[active]
        rarity = -active_uncovered.sum(axis=0).astype(np.int64)
        seed_elems = np.flatnonzero(uncovered[seed])
        if seed_elems.size <= elem_limit:
            elems = seed_elems
        else:
            elems = seed_elems[np.lexsort((seed_elems, -rarity[seed_elems]))[:elem_limit]]
        items = np.array([seed], dtype=np.int64)
        for _ in range(rounds):
            overlap = active_uncovered[:, elems].sum(axis=1)
            score = (overlap * 4 + (overlap >= remaining[active]) * variant.finish_bonus
                     - (overlap < np.minimum(partial, elems.size)) * variant.partial_penalty)
            excluded = (active == seed) | (overlap == 0)
            order = np.lexsort((active, -score, excluded))[: item_limit - 1]
            items = np.concatenate([[seed], active[order[~excluded[order]]]]).astype(np.int64)
            # Elements uncovered for the call's items first, then the rare ones.
            weight = uncovered[items].sum(axis=0).astype(np.int64) * (2 * len(active) + 2) + rarity
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


def _bits(indices: np.ndarray) -> int:
    mask = 0
    for i in indices.tolist():
        mask |= 1 << i
    return mask


def _indices(mask: int) -> np.ndarray:
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return np.array(out, dtype=np.int64)


def _trim_and_merge(valid: np.ndarray, calls: Cover, elem_limit: int, item_limit: int) -> Cover:
    """Drop items and elements a call does not need (covered elsewhere), then merge calls that fit together.

    Trimming only removes cells covered by another call, so coverage is kept; a merge keeps every cell.
    """
    count = np.zeros(valid.shape, dtype=np.int32)
    for elems, items in calls:
        count[np.ix_(items, elems)] += 1
    count *= valid
    trimmed: list[tuple[int, int]] = []
    for elems, items in calls:
        block = count[np.ix_(items, elems)]
        needed_items = (block == 1).any(axis=1)
        if not needed_items.any():
            count[np.ix_(items, elems)] -= valid[np.ix_(items, elems)]
            continue
        keep_items, dropped = items[needed_items], items[~needed_items]
        if dropped.size:
            count[np.ix_(dropped, elems)] -= valid[np.ix_(dropped, elems)]
        block = block[needed_items]
        needed_elems = (block == 1).any(axis=0)
        keep_elems, dropped_elems = elems[needed_elems], elems[~needed_elems]
        if dropped_elems.size:
            count[np.ix_(keep_items, dropped_elems)] -= valid[np.ix_(keep_items, dropped_elems)]
        trimmed.append((_bits(keep_elems), _bits(keep_items)))
    # Merge: only calls with room on some side can absorb another call.
    merged = True
    while merged:
        merged = False
        room = [i for i, (e, it) in enumerate(trimmed)
                if e.bit_count() < elem_limit or it.bit_count() < item_limit]
        alive = [True] * len(trimmed)
        for a_pos, a in enumerate(room):
            if not alive[a]:
                continue
            for b in room[a_pos + 1:]:
                if not alive[b]:
                    continue
                elems = trimmed[a][0] | trimmed[b][0]
                items = trimmed[a][1] | trimmed[b][1]
                if elems.bit_count() <= elem_limit and items.bit_count() <= item_limit:
                    trimmed[a] = (elems, items)
                    alive[b] = False
                    merged = True
        trimmed = [c for c, keep in zip(trimmed, alive, strict=True) if keep]
    return [(_indices(e), _indices(it)) for e, it in trimmed]


def _group_calls(valid: np.ndarray, elem_limit: int, item_limit: int, *, largest_first: bool = True,
                 chunk_waste_first: bool = False, tolerance: int = 0) -> Cover:
    """Calls of ``item_limit`` items that waste nothing, found by grouping items with similar element sets.

    Items are taken largest (or smallest) first; each seeds a group to which the items are added, one
    at a time, that keep the group's element union smallest (then those with the most chunks of their
    own: an item with fewer chunks than the union leaves empty slots). With ``chunk_waste_first`` the
    first criterion is the number of union chunks the candidate would not fill (union chunks minus its
    own chunks), then the union size. The union is ordered by depth (how many
    members offer the element, most first: nested sets, common in real catalogs where a family's
    larger sizes drop regions, become prefixes) and cut into chunks; each chunk is one call for the
    members it concerns. Only the calls of a group where every member is in exactly as many calls as
    its own chunk count (no extra piece) and that have ``item_limit`` members are kept: they meet the
    per-item counting bound exactly. With a ``tolerance``, a chunk is kept when its members are together
    in at most that many calls beyond their own chunk counts. Everything else is left to the greedy.
    """
    counts = valid.sum(axis=1).astype(np.int64)
    chunks = -(-counts // elem_limit)
    frequency = valid.sum(axis=0).astype(np.int64)
    free = counts > 0
    as_float = valid.astype(np.float32)  # |A | U| = |A| + |U| - A.U, one BLAS product per step
    n_items = valid.shape[0]
    # Companion key: smallest union, then most chunks of its own, then lowest index (exact integers).
    tie_key = (int(chunks.max(initial=0)) - chunks) * n_items + np.arange(n_items)
    union_weight = (int(chunks.max(initial=0)) + 1) * n_items
    seed_order = np.lexsort((np.arange(n_items), -counts if largest_first else counts))
    seed_order = seed_order[free[seed_order]].tolist()
    calls: Cover = []
    next_seed = 0
    while free.sum() >= item_limit:
        while not free[seed_order[next_seed]]:
            next_seed += 1
        seed = seed_order[next_seed]
        members = [seed]
        free[seed] = False
        union = valid[seed].copy()
        while len(members) < item_limit:
            union_size = counts + int(union.sum()) - np.rint(as_float @ union.astype(np.float32)).astype(np.int64)
            key = union_size * union_weight + tie_key
            if chunk_waste_first:  # first: chunks of the union the candidate would not fill
                key = key + (-(-union_size // elem_limit) - chunks) * (union_weight * (valid.shape[1] + 1))
            key = np.where(free, key, np.iinfo(np.int64).max)
            best = int(np.argmin(key))
            members.append(best)
            free[best] = False
            union |= valid[best]
        group = np.array(sorted(members), dtype=np.int64)
        depth = valid[group].sum(axis=0)
        elems = np.flatnonzero(union)
        elems = elems[np.lexsort((elems, frequency[elems], -depth[elems]))]
        blocks = [np.sort(elems[start:start + elem_limit]) for start in range(0, elems.size, elem_limit)]
        used = np.stack([valid[np.ix_(group, block)].any(axis=1) for block in blocks], axis=1)
        extra_pieces = np.maximum(used.sum(axis=1) - chunks[group], 0)
        for position, block in enumerate(blocks):
            block_items = used[:, position]
            if block_items.sum() == item_limit and extra_pieces[block_items].sum() <= tolerance:
                calls.append((block, group[block_items]))
    return calls


def _residue_cover(valid: np.ndarray, fixed: Cover, elem_limit: int, item_limit: int,
                   variants: tuple[_GreedyVariant, ...]) -> Cover:
    """``fixed`` calls plus the best greedy cover of what they leave, trimmed and merged."""
    residue = valid.copy()
    for elems, items in fixed:
        residue[np.ix_(items, elems)] = False
    best: Cover = []
    for position, variant in enumerate(variants):
        calls = _trim_and_merge(residue, _greedy_cover(residue, elem_limit, item_limit, variant),
                                elem_limit, item_limit)
        if position == 0 or len(calls) < len(best):
            best = calls
    if not fixed:
        return best
    return _trim_and_merge(valid, fixed + best, elem_limit, item_limit)


def _cover(valid: np.ndarray, elem_limit: int, item_limit: int) -> Cover:
    """The smallest of a few covers: grouped calls (``GROUPING_FLAVOURS``) plus greedy, and the plain greedy.

    When grouping finds waste-free calls the greedy on their residue runs only its best variant (the
    first: it won on nearly every realistic residue measured) to keep world-scale planning fast; the
    plain greedy (all variants) is the fallback for catalogs without shared region sets.
    """
    best: Cover | None = None
    found_groups = False
    for largest_first, chunk_waste_first, tolerance in GROUPING_FLAVOURS:
        fixed = _group_calls(valid, elem_limit, item_limit, largest_first=largest_first,
                             chunk_waste_first=chunk_waste_first, tolerance=tolerance)
        if not fixed:
            continue
        found_groups = True
        calls = _residue_cover(valid, fixed, elem_limit, item_limit, GREEDY_VARIANTS[:1])
        if best is None or len(calls) < len(best):
            best = calls
    if not found_groups or valid.sum() <= PLAIN_GREEDY_MAX_PAIRS:
        calls = _residue_cover(valid, [], elem_limit, item_limit, GREEDY_VARIANTS)
        if best is None or len(calls) < len(best):
            best = calls
    return best or []


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
        size_term = int((-(-valid.sum(axis=1) // max_regions)).sum()) * max_regions
        region_term = int((-(-valid.sum(axis=0) // max_sizes)).sum()) * max_sizes
        small = len(unique) <= BOTH_ORIENTATIONS_MAX_PAIRS
        chosen: list[tuple[np.ndarray, np.ndarray]] = []
        if small or size_term >= region_term:  # items = sizes, elements = regions
            chosen = list(_cover(valid, max_regions, max_sizes))
        if small or region_term > size_term:  # items = regions, elements = sizes
            by_region = _cover(valid.T.copy(), max_sizes, max_regions)
            if not chosen or len(by_region) < len(chosen):
                chosen = [(region_idx, size_idx) for size_idx, region_idx in by_region]
        calls = sorted((
            PlannedCall(regions=tuple(regions[i] for i in region_idx), sizes=tuple(sizes[i] for i in size_idx))
            for region_idx, size_idx in chosen
        ), key=_call_key)
    return RequestPlan(calls=tuple(calls), pairs=len(unique), regions=len(regions), sizes=len(sizes),
                       lower_bound=bound, seconds=time.perf_counter() - started)


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
