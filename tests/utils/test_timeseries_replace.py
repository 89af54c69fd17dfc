"""A write replaces the slot's records (issue 14 item 5): SQLite deletes the slot's rows first, and for
Timestream, which cannot delete, ``with_restatements`` rewrites every key an earlier attempt wrote. Every sink
but ``none`` records the keys it writes in the slot's ledger first, and ledgers are pruned only once no merge
can need them (docs/contract.md 8, orphan slots)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.utils.sink_records import SLOT, change_records
from utils.errors import CorruptObject
from utils.store import LocalStore
from utils.store_io import read_json
from utils.timeseries import (
    NoneSink,
    ParquetSink,
    SqliteSink,
    TimestreamSink,
    ledgers_to_prune,
    list_written_ledgers,
    prune_ledgers,
    read_written_keys,
    restatements,
    series_keys,
    timeseries_written_key,
    timeseries_written_slot,
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


@pytest.mark.parametrize("kind", ["sqlite", "parquet"])
def test_a_sink_that_replaces_by_slot_gets_the_records_unchanged_and_a_ledger_of_them(
    kind: str, tmp_path: Path
) -> None:
    # The ledger is what a later merge needs to find this slot's keys if the merge dies before its commit.
    store = LocalStore(tmp_path / "store")
    sink = SqliteSink(tmp_path / "ts.db") if kind == "sqlite" else ParquetSink(store)
    records = change_records(2)
    assert with_restatements(sink, store, SLOT, records, change_records(3)) is records
    assert read_written_keys(store, SLOT) == series_keys(records)
    # A rerun with fewer records keeps the earlier keys: the ledger is written before the write it describes,
    # so if that write failed the sink would still hold the earlier attempt's points.
    assert with_restatements(sink, store, SLOT, change_records(1), change_records(3)) is not None
    assert read_written_keys(store, SLOT) == series_keys(records)


def test_the_none_sink_keeps_no_ledger(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    records = change_records(2)
    assert with_restatements(NoneSink(), store, SLOT, records, change_records(3)) is records
    assert not store.exists(timeseries_written_key(SLOT))


def test_an_unreadable_ledger_is_corrupt_and_a_write_records_every_row_it_knows(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.put_bytes(timeseries_written_key(SLOT), b'{"not": "a list"}')
    with pytest.raises(CorruptObject):
        read_written_keys(store, SLOT)
    with_restatements(SqliteSink(tmp_path / "ts.db"), store, SLOT, change_records(1), change_records(3))
    assert read_written_keys(store, SLOT) == series_keys(change_records(3))


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


def _at(minutes: int) -> datetime:
    return SLOT + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("ledger_minutes", "slot_minutes", "base_minutes", "pruned"),
    [
        ([0, 10, 20], 20, 10, [0, 10]),  # the normal path: the base's and older ledgers go, the slot's stays
        ([0, 10, 20, 30], 30, 0, [0]),  # 10 and 20 are this slot's orphans: kept for a committed rerun of 30
        ([0, 10], 20, None, []),  # no base slot: only the horizon prunes
        ([0, 49 * 60], 49 * 60, None, [0]),  # older than 48 h before the slot
        ([0, 49 * 60], 49 * 60, 10, [0]),
        ([20], 20, 10, []),  # never the slot's own ledger
    ],
)
def test_ledgers_to_prune_keep_every_possible_orphan(
    ledger_minutes: list[int], slot_minutes: int, base_minutes: int | None, pruned: list[int]
) -> None:
    ledgers = [(_at(m), timeseries_written_key(_at(m))) for m in ledger_minutes]
    base = None if base_minutes is None else _at(base_minutes)
    assert ledgers_to_prune(ledgers, _at(slot_minutes), base) == [timeseries_written_key(_at(m)) for m in pruned]


def test_prune_ledgers_deletes_what_ledgers_to_prune_names_and_nothing_else(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    sink = TimestreamSink(client=None, database="d", table="t")
    for minutes in (0, 10, 20):
        with_restatements(sink, store, _at(minutes), change_records(1), None)
    store.put_bytes("latest_data/azure/timeseries_written/notes.txt", b"x")  # not a ledger: never listed
    assert [at for at, _key in list_written_ledgers(store)] == [_at(0), _at(10), _at(20)]
    assert prune_ledgers(store, _at(20), _at(10)) == 2
    assert [at for at, _key in list_written_ledgers(store)] == [_at(20)]
    assert store.exists("latest_data/azure/timeseries_written/notes.txt")
    assert timeseries_written_slot(timeseries_written_key(_at(20))) == _at(20)
