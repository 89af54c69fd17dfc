"""The benchmark's world and its row-wise baseline are sound: on a small world both implementations build
the same merged dataset, and only the vectorised one writes just the real changes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.baseline_merge import baseline_merge
from bench.bench_merge import SLOT, generate
from merge.compare_data import compare
from merge.join import build_merged, normalise_merged
from merge.state import split_state
from utils.constants import MERGED_COLUMNS, ROW_KEY_COLUMNS


def test_baseline_and_vectorised_merge_agree_and_only_the_vectorised_one_skips_unchanged_rows(tmp_path: Path) -> None:
    world = generate(tmp_path, regions=4, sizes=40, change_rate=0.05)
    sps, price, ifs = (pd.read_parquet(tmp_path / f"{name}.parquet") for name in ("sps", "price", "if"))
    previous, observations = split_state(pd.read_parquet(tmp_path / "state.parquet"), "state")
    joined = build_merged(sps, price, ifs, previous, SLOT)
    report = compare(observations, joined.merged)
    merged, changes, records = baseline_merge(sps, price, ifs, previous, SLOT)

    ours = joined.merged[MERGED_COLUMNS].sort_values(ROW_KEY_COLUMNS).reset_index(drop=True)  # baseline: no specs
    theirs = normalise_merged(merged).sort_values(ROW_KEY_COLUMNS).reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, theirs)
    # Time and DesiredCount make every probed row look changed (only rows keeping their last probe do not).
    assert len(changes) == len(records) >= 0.95 * world["rows"]
    assert report.changed_rows == 3 * world["moved_pairs"]  # exactly the rows whose spot price moved
    assert report.field_changes["SpotPrice"] == report.changed_rows
