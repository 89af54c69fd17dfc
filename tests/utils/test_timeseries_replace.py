"""A write replaces the slot's records (issue 14 item 5): SQLite deletes the slot's rows first, and for
Timestream, which cannot delete, ``with_restatements`` rewrites every key an earlier attempt wrote."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from tests.utils.sink_records import SLOT, change_records
from utils.store import LocalStore
from utils.store_io import read_json
from utils.timeseries import (
    ParquetSink,
    SqliteSink,
    TimestreamSink,
    restatements,
    series_keys,
    timeseries_written_key,
    with_restatements,
)


def _count(path: Path, slot_text: str) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM azure_timeseries WHERE time = ?", (slot_text,)).fetchone()[0]


def test_sqlite_a_rerun_with_fewer_records_leaves_none_of_the_earlier_attempt(tmp_path: Path) -> None:
    sink = SqliteSink(tmp_path / "ts.db")
    other = SLOT + timedelta(minutes=10)
    sink.write(change_records(3), other)
    sink.write(change_records(3), SLOT)
    sink.write(change_records(1, spot_offset=1.0), SLOT)
    assert _count(tmp_path / "ts.db", "2025-12-13 13:00:00") == 1
    assert _count(tmp_path / "ts.db", "2025-12-13 13:10:00") == 3  # other slots untouched
    sink.write(change_records(0), SLOT)
    assert _count(tmp_path / "ts.db", "2025-12-13 13:00:00") == 0


def test_restatements_pick_the_baseline_rows_of_keys_written_before_and_not_now() -> None:
    earlier = series_keys(change_records(3))
    now = change_records(1)
    baseline = change_records(3, spot_offset=0.5)
    picked = restatements(earlier, now, baseline)
    assert picked["InstanceType"].tolist() == ["E4s_v5", "NC24ads_A100_v4"]
    assert restatements(series_keys(now), now, baseline).empty


def test_a_sink_that_replaces_by_slot_gets_the_records_unchanged_and_no_ledger(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    records = change_records(2)
    for sink in (SqliteSink(tmp_path / "ts.db"), ParquetSink(store)):
        assert with_restatements(sink, store, SLOT, records, change_records(3)) is records
    assert not store.exists(timeseries_written_key(SLOT))


def test_timestream_the_ledger_grows_before_the_write_and_a_rerun_restates_what_it_lacks(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    sink = TimestreamSink(client=None, database="d", table="t")
    first = with_restatements(sink, store, SLOT, change_records(3), change_records(3))
    assert len(first) == 3
    assert len(read_json(store, timeseries_written_key(SLOT))) == 3
    rerun = with_restatements(sink, store, SLOT, change_records(1, spot_offset=1.0), change_records(3, spot_offset=1.0))
    assert rerun["InstanceType"].tolist() == ["D2s_v3", "E4s_v5", "NC24ads_A100_v4"]
    assert rerun["SpotPrice"].tolist()[1] == change_records(3, spot_offset=1.0)["SpotPrice"][1]
    assert len(read_json(store, timeseries_written_key(SLOT))) == 3


def test_timestream_ledgers_older_than_the_retention_are_removed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    sink = TimestreamSink(client=None, database="d", table="t")
    with_restatements(sink, store, SLOT, change_records(1), None)
    with_restatements(sink, store, SLOT + timedelta(hours=49), change_records(1), None)
    assert not store.exists(timeseries_written_key(SLOT))
    assert store.exists(timeseries_written_key(SLOT + timedelta(hours=49)))
