"""Per-frame feature streams in Parquet feature files, and the reader API the models use.

    from mafrg import features
    clip = features.load_clip("results/features/train/Synth/session000/P1/1.parquet", ["au", "mfcc"])
    clip["au"].shape            # (frames, 25088)
    for c in features.iter_clips(paths, streams=["va"]):   # lazily, one feature file at a time
        ...
    ds = features.open_dataset(paths)   # a pyarrow dataset: column projection, filters, batches

Only the requested stream columns are read from disk (Parquet column projection).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from mafrg.features.config import AUDIO_STREAMS, STREAMS, VIDEO_STREAMS, FeatureConfig
from mafrg.features.parquet import read_meta, to_numpy

__all__ = ["STREAMS", "VIDEO_STREAMS", "AUDIO_STREAMS", "FeatureConfig", "load_clip", "iter_clips",
           "open_dataset", "file_metadata", "FeatureFileError"]


class FeatureFileError(ValueError):
    pass


def file_metadata(path: str | Path) -> dict[str, Any]:
    meta = read_meta(path)
    if meta is None:
        raise FeatureFileError(f"{path}: not a mafrg feature file")
    return meta


def load_clip(path: str | Path, streams: Sequence[str] | None = None, frames: int | None = None,
              dtype: Any = np.float32) -> dict[str, Any]:
    """One feature file's streams as (frames, dim) arrays (cast to ``dtype``; None keeps the stored dtype),
    plus 'frame', 'timestamp' and the feature file metadata under 'meta'."""
    import pyarrow.parquet as pq

    meta = file_metadata(path)
    names = list(streams) if streams is not None else list(meta["streams"])
    missing = [s for s in names if s not in meta["streams"]]
    if missing:
        raise FeatureFileError(f"{path}: no stream(s) {missing}; it has {sorted(meta['streams'])}")
    table = pq.read_table(path, columns=["frame", "timestamp", *names])
    n = table.num_rows if frames is None else min(frames, table.num_rows)
    out: dict[str, Any] = {
        "frame": table.column("frame").to_numpy()[:n],
        "timestamp": table.column("timestamp").to_numpy()[:n],
        "meta": meta,
    }
    for s in names:
        arr = to_numpy(table.column(s))[:n]
        out[s] = arr if dtype is None else arr.astype(dtype, copy=False)
    return out


def iter_clips(paths: Iterable[str | Path], streams: Sequence[str] | None = None,
               frames: int | None = None) -> Iterator[dict[str, Any]]:
    """Load feature files one at a time (never all at once): memory stays at one clip."""
    for p in paths:
        yield load_clip(p, streams, frames)


def open_dataset(paths: Sequence[str | Path]):
    """A ``pyarrow.dataset.Dataset`` over many feature files, for projections/filters/batches across clips."""
    import pyarrow.dataset as pads

    return pads.dataset([str(p) for p in paths], format="parquet")
