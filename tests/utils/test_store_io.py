"""Typed store I/O: round trips, CorruptObject on damaged objects, deterministic bytes."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from utils.errors import CorruptObject, ObjectNotFound
from utils.store import LocalStore
from utils.store_io import (
    frame_to_csv_gz_bytes,
    frame_to_parquet_bytes,
    read_csv_gz,
    read_json,
    read_parquet,
    read_yaml,
    write_csv_gz,
    write_json,
    write_parquet,
    write_yaml,
)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "InstanceTier": ["Standard", "Basic"],
            "InstanceType": ["NC24ads_A100_v4", "A1"],
            "Region": ["eastus", "westeurope"],
            "SpotPrice": [0.0192, np.nan],
            "DesiredCount": [5, 50],
            "Time": pd.to_datetime(["2025-12-13T13:00:00Z", "2025-12-13T13:10:00Z"], utc=True),
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path)


def test_parquet_round_trip_keeps_values_types_and_timezones(store: LocalStore) -> None:
    write_parquet(store, "raw/x.parquet", _frame())
    back = read_parquet(store, "raw/x.parquet", columns=["InstanceType", "Time"])
    pd.testing.assert_frame_equal(back, _frame(), check_dtype=False)
    assert str(back["Time"].dt.tz) == "UTC"
    assert back.loc[0, "InstanceType"] == "NC24ads_A100_v4"  # ARM casing kept


def test_parquet_missing_required_columns_is_corrupt(store: LocalStore) -> None:
    write_parquet(store, "raw/x.parquet", _frame())
    with pytest.raises(CorruptObject, match=r"missing columns \['Score'\]"):
        read_parquet(store, "raw/x.parquet", columns=["InstanceType", "Score"])


def test_json_yaml_and_csv_gz_round_trip(store: LocalStore) -> None:
    value = {"slot": "2025-12-13T13:00:00Z", "rows": [1, 2], "partial": False, "name": "é"}
    write_json(store, "s/v.json", value)
    assert read_json(store, "s/v.json") == value
    meta = {"desired_count_index": 3, "workload_date": "2025-12-13", "last_desired_count": 15}
    write_yaml(store, "s/m.yaml", meta)
    assert read_yaml(store, "s/m.yaml") == meta
    write_csv_gz(store, "s/a.csv.gz", _frame().drop(columns=["Time"]))
    pd.testing.assert_frame_equal(read_csv_gz(store, "s/a.csv.gz"), _frame().drop(columns=["Time"]))


def test_json_refuses_nan_so_public_outputs_must_encode_missing_values(store: LocalStore) -> None:
    with pytest.raises(ValueError):
        write_json(store, "s/nan.json", {"x": float("nan")})
    assert not store.exists("s/nan.json")


@pytest.mark.parametrize(
    ("writer", "damage", "reader"),
    [
        (lambda s, k: write_parquet(s, k, _frame()), lambda b: b[: len(b) // 2], read_parquet),
        (lambda s, k: write_parquet(s, k, _frame()), lambda b: b"", read_parquet),
        (lambda s, k: write_json(s, k, {"a": 1}), lambda b: b[:-1], read_json),
        (lambda s, k: write_json(s, k, {"a": 1}), lambda b: b"\xff\xfe", read_json),
        (lambda s, k: write_yaml(s, k, {"a": [1]}), lambda b: b"a: [1\nb: {", read_yaml),
        (lambda s, k: write_csv_gz(s, k, _frame()), lambda b: b[:10], read_csv_gz),
        (lambda s, k: write_csv_gz(s, k, _frame()), lambda b: b"plain text, not gzip", read_csv_gz),
    ],
    ids=["truncated-parquet", "empty-parquet", "truncated-json", "undecodable-json", "invalid-yaml",
         "truncated-gzip", "not-gzip"],
)
def test_damaged_objects_raise_corrupt_object_naming_the_key(store: LocalStore, writer, damage, reader) -> None:
    writer(store, "obj")
    store.put_bytes("obj", damage(store.get_bytes("obj")))
    with pytest.raises(CorruptObject) as info:
        reader(store, "obj")
    assert info.value.key == "obj" and "obj" in str(info.value)


def test_missing_objects_raise_object_not_found_not_corrupt(store: LocalStore) -> None:
    for reader in (read_parquet, read_json, read_yaml, read_csv_gz):
        with pytest.raises(ObjectNotFound):
            reader(store, "absent")


def test_same_frame_gives_the_same_bytes(store: LocalStore) -> None:
    assert frame_to_parquet_bytes(_frame()) == frame_to_parquet_bytes(_frame().copy())
    assert frame_to_csv_gz_bytes(_frame()) == frame_to_csv_gz_bytes(_frame().copy())
    assert gzip.decompress(frame_to_csv_gz_bytes(_frame())).startswith(b"InstanceTier,InstanceType")
    write_json(store, "a.json", {"b": 1, "a": 2})
    first = store.get_bytes("a.json")
    write_json(store, "a.json", {"a": 2, "b": 1})
    assert store.get_bytes("a.json") == first == b'{"a":2,"b":1}'


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.text(max_size=12), st.floats(allow_nan=True, allow_infinity=False), st.integers(-(2**40), 2**40)),
        max_size=20,
    )
)
def test_parquet_round_trip_property(store: LocalStore, rows: list[tuple[str, float, int]]) -> None:
    frame = pd.DataFrame(rows, columns=["t", "f", "i"]).astype({"t": object, "f": "float64", "i": "int64"})
    write_parquet(store, "p.parquet", frame)
    back = read_parquet(store, "p.parquet")
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
