"""A realistic synthetic world-scale (Region, InstanceType) catalog for planner tests and the benchmark.

Shape taken from the public Azure catalogs: VM sizes come in families of 4-12 sizes; old families
are offered in nearly every region, newer families in a handful of (mostly large) regions; within a
family the largest sizes, GPU and memory-optimised ones drop some regions; some regions have quirks
(a family missing there, or one extra size offered only there).
"""

from __future__ import annotations

import numpy as np

WORLD_REGION_COUNT = 58


def synthetic_world_pairs(seed: int = 7, families: int = 100, region_count: int = WORLD_REGION_COUNT
                          ) -> list[tuple[str, str]]:
    """Return sorted unique (Region, InstanceType) pairs of a synthetic world catalog.

    With the defaults: 58 regions, about 800 sizes, about 28k pairs. Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    regions = [f"region{i:02d}" for i in range(region_count)]
    # Region "size": big regions get new families first. Recent regions (the last third) are smaller.
    region_weight = np.linspace(1.0, 0.25, region_count) * rng.uniform(0.8, 1.2, region_count)
    recent = np.arange(region_count) >= (2 * region_count) // 3
    pairs: set[tuple[str, str]] = set()
    for family in range(families):
        age = rng.uniform()  # 0 = newest, 1 = oldest
        if age > 0.38:
            # Old family: nearly everywhere, recent regions less often.
            p_region = np.where(recent, 0.6 + 0.35 * age, 0.9 + 0.1 * age)
            family_regions = rng.uniform(size=region_count) < p_region
        else:
            # New family: a few regions, the biggest first.
            count = int(rng.integers(3, max(4, int(region_count * (0.15 + age)))))
            order = np.argsort(-(region_weight * rng.uniform(0.5, 1.5, region_count)), kind="stable")
            family_regions = np.zeros(region_count, dtype=bool)
            family_regions[order[:count]] = True
        n_sizes = int(rng.integers(4, 13))
        # Per region, the largest size of the family offered there: most regions offer the whole
        # family, some stop at a smaller size (nested availability, as in the real catalogs).
        capped = rng.uniform(size=region_count) < 0.25
        size_cap = np.where(capped, rng.integers(0, n_sizes, region_count), n_sizes)
        for size in range(n_sizes):
            size_regions = family_regions & (size < size_cap)
            name = f"Standard_F{family:03d}s{size}_v{1 + family % 6}"
            for r in np.flatnonzero(size_regions):
                pairs.add((regions[int(r)], name))
    return sorted(pairs)
