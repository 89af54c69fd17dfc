"""A corrupt newest state snapshot is skipped for the one before it; with none usable the merge refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from merge.compare_data import empty_observations
from merge.join import empty_merged
from merge.snapshot_keys import snapshot_key
from merge.state import load_base_state, state_bytes
from utils.errors import CorruptObject
from utils.store import LocalStore

S0 = datetime(2025, 12, 13, 13, 0, tzinfo=UTC)
S1 = S0 + timedelta(minutes=10)
S2 = S1 + timedelta(minutes=10)


def test_a_corrupt_newest_snapshot_falls_back_to_the_one_before_it(tmp_path, caplog) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes(snapshot_key(S0), state_bytes(empty_merged(), empty_observations()))
    store.put_bytes(snapshot_key(S1), b"PAR1 truncated")
    base = load_base_state(store, S2)
    assert (base.key, base.slot) == (snapshot_key(S0), S0)
    assert "skipping a corrupt state snapshot" in caplog.text


def test_when_every_earlier_snapshot_is_corrupt_the_merge_refuses_to_start_empty(tmp_path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes(snapshot_key(S0), b"garbage")
    store.put_bytes(snapshot_key(S1), b"PAR1 truncated")
    with pytest.raises(CorruptObject, match=r"13-10\.parquet"):
        load_base_state(store, S2)
