"""Parquet feature files: one file per (clip, person), one row per frame, one fixed-size-list column per stream.

Key/value metadata (``b"mafrg"``, JSON) records per stream its dimension, dtype, extractor identity (weights
hash or ``untrained``), value-affecting settings and their hash, and the checksum of the source it was computed
from; plus clip, person, frame count, source video/audio checksums, config hash and code version. That record is
what lets a rerun keep a stream column whose inputs have not changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mafrg.atomic import atomic_path
from mafrg.io import arrow_numeric, arrow_repeated, arrow_table

FORMAT = "mafrg-features/1"
KEY_COLUMNS = ("clip", "person", "frame", "timestamp")
_PA_DTYPE = {"float32": pa.float32(), "float16": pa.float16()}


def read_meta(path: str | Path) -> dict[str, Any] | None:
    """The feature file's mafrg metadata, or None if the file is absent or not a mafrg feature file."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        md = pq.read_schema(path).metadata or {}
    except Exception:  # noqa: BLE001 - unreadable old feature file: treat as absent, it will be rewritten
        return None
    raw = md.get(b"mafrg")
    if not raw:
        return None
    meta = json.loads(raw)
    return meta if meta.get("format") == FORMAT else None


def stream_array(values: np.ndarray, dtype: str) -> pa.FixedSizeListArray:
    values = np.ascontiguousarray(values, dtype=np.float16 if dtype == "float16" else np.float32)
    n, dim = values.shape
    return pa.FixedSizeListArray.from_arrays(arrow_numeric(values, _PA_DTYPE[dtype]), dim)


def write_features(path: str | Path, clip: str, person: str, fps: int, streams: dict[str, pa.Array],
                meta: dict[str, Any]) -> None:
    n = len(next(iter(streams.values())))
    frames = np.arange(n, dtype=np.int32)
    cols = {
        "clip": arrow_repeated(clip, n),
        "person": arrow_repeated(person, n),
        "frame": arrow_numeric(frames),
        "timestamp": arrow_numeric(frames / float(fps)),
        **streams,
    }
    table = arrow_table(cols)
    table = table.replace_schema_metadata({b"mafrg": json.dumps(meta | {"format": FORMAT}).encode()})
    float_cols = [k for k in streams]
    with atomic_path(path, suffix=".parquet") as tmp:
        # byte-stream-split + zstd suits float features; one row group per stream read keeps projection cheap
        pq.write_table(table, tmp, compression="zstd", compression_level=1,
                       use_byte_stream_split=[f"{c}.list.element" for c in float_cols] or False,
                       use_dictionary=["clip", "person"])


def read_stream_columns(path: str | Path, names: list[str]) -> dict[str, pa.Array]:
    t = pq.read_table(path, columns=names)
    return {n: t.column(n).combine_chunks() for n in names}


def to_numpy(col: pa.Array) -> np.ndarray:
    """FixedSizeList column -> (frames, dim) float array (float16 stays float16)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    dim = col.type.list_size
    return col.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
