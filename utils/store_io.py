"""Typed reads and writes on top of a ``Store``: Parquet, JSON, YAML, CSV.gz. Never pickle.

Writers are deterministic (same frame -> same bytes; gzip with mtime 0) so a rerun of a slot produces
identical objects. Readers turn unparsable content into ``CorruptObject`` naming the key.
"""

from __future__ import annotations

import gzip
import io
import json
from typing import TYPE_CHECKING, Any

import yaml

from utils.errors import CorruptObject
from utils.store import Store

if TYPE_CHECKING:  # pandas is imported where a frame is read: the helpers that only read JSON/YAML stay light
    import pandas as pd


def frame_to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, engine="pyarrow", compression="zstd")
    return buffer.getvalue()


def write_parquet(store: Store, key: str, frame: pd.DataFrame) -> None:
    store.put_bytes(key, frame_to_parquet_bytes(frame), content_type="application/vnd.apache.parquet")


def read_parquet(store: Store, key: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet object; ``columns`` (if given) must all be present. ObjectNotFound propagates."""
    import pandas as pd

    data = store.get_bytes(key)
    try:
        frame = pd.read_parquet(io.BytesIO(data), engine="pyarrow")
    except Exception as exc:  # pyarrow raises several types (ArrowInvalid, OSError) for bad bytes
        raise CorruptObject(key, f"not a readable Parquet file ({type(exc).__name__}: {exc})") from exc
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise CorruptObject(key, f"missing columns {missing}")
    return frame


def write_json(store: Store, key: str, value: Any, *, public: bool = False) -> None:
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    store.put_bytes(key, data, content_type="application/json", public=public)


def read_json(store: Store, key: str) -> Any:
    data = store.get_bytes(key)
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptObject(key, f"invalid JSON ({exc})") from exc


def write_yaml(store: Store, key: str, value: Any) -> None:
    store.put_bytes(key, yaml.safe_dump(value, sort_keys=True).encode(), content_type="application/yaml")


def read_yaml(store: Store, key: str) -> Any:
    data = store.get_bytes(key)
    try:
        return yaml.safe_load(data)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CorruptObject(key, f"invalid YAML ({exc})") from exc


def frame_to_csv_gz_bytes(frame: pd.DataFrame) -> bytes:
    """CSV with a header and "\n" line ends, gzip level 6 with mtime 0 (deterministic bytes).

    Level 6 compresses a 150k-row archive ~3x faster than the default 9 for a 0.5% larger object.
    """
    text = frame.to_csv(index=False, lineterminator="\n").encode()
    return gzip.compress(text, compresslevel=6, mtime=0)


def write_csv_gz(store: Store, key: str, frame: pd.DataFrame, *, public: bool = False) -> None:
    store.put_bytes(key, frame_to_csv_gz_bytes(frame), content_type="application/gzip", public=public)


def read_csv_gz(store: Store, key: str) -> pd.DataFrame:
    import pandas as pd

    data = store.get_bytes(key)
    try:
        return pd.read_csv(io.BytesIO(gzip.decompress(data)))
    except Exception as exc:  # gzip.BadGzipFile, EOFError, pandas ParserError
        raise CorruptObject(key, f"not a readable CSV.gz ({type(exc).__name__}: {exc})") from exc
