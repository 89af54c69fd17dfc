"""The naive SPS call packing, written only as the planner benchmark's point of comparison (bench/bench_planner.py,
its ``naive_calls`` column). Not used by the collector, which plans with ``sps_module.request_planner.plan_requests``.
"""

from __future__ import annotations

import time

from sps_module.request_planner import (
    DEFAULT_MAX_REGIONS,
    DEFAULT_MAX_SIZES,
    PairsInput,
    PlannedCall,
    RequestPlan,
    lower_bound,
    normalise_pairs,
)


def naive_plan(pairs: PairsInput, max_regions: int = DEFAULT_MAX_REGIONS,
               max_sizes: int = DEFAULT_MAX_SIZES) -> RequestPlan:
    """The simple baseline used by the benchmark.

    Per region, its sizes (sorted) are chunked by ``max_sizes``; then, for each chunk position
    k, the k-th chunks of the regions (sorted) are grouped ``max_regions`` regions at a time, and
    one call covers a region group with the union of its k-th chunks, split again into calls of at
    most ``max_sizes`` sizes when the union is larger.
    """
    started = time.perf_counter()
    unique = normalise_pairs(pairs)
    bound = lower_bound(unique, max_regions, max_sizes)  # also refuses limits below 1 (ValueError)
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
    return RequestPlan(calls=tuple(sorted(calls, key=lambda call: (call.regions, call.sizes))), pairs=len(unique),
                       regions=len(regions), sizes=len(sizes), lower_bound=bound,
                       seconds=time.perf_counter() - started)
