"""Appropriate-reaction (neighbour) matrices for the 2N mirrored rows of a split.

Official matrices (``neighbour_emotion_{split}.npy``) are used when present. Otherwise mafrg builds one with
this documented rule, following the challenge's idea that a listener reaction is appropriate for a speaker
behaviour when it was the real reaction to a *similar* speaker behaviour:

1. describe each row's speaker emotion sequence (T, 25) by its per-channel mean and standard deviation over
   time (a 50-d, time-shift-invariant summary);
2. z-score each descriptor dimension across the rows (dimensions with zero spread are dropped);
3. rows j and k are neighbours when the Euclidean distance of their descriptors is at most the
   ``quantile``-th quantile of all off-diagonal distances; every row is its own neighbour.

The result is symmetric, 0/1, and saved as an artefact next to its settings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.distance import pdist, squareform


class NeighbourError(ValueError):
    pass


def speaker_descriptors(speaker_emotion: np.ndarray) -> np.ndarray:
    x = np.asarray(speaker_emotion, dtype=np.float64)
    d = np.concatenate([x.mean(axis=1), x.std(axis=1)], axis=1)
    sd = d.std(axis=0)
    keep = sd > 1e-12
    return (d[:, keep] - d[:, keep].mean(axis=0)) / sd[keep]


def build_neighbours(speaker_emotion: np.ndarray, quantile: float) -> np.ndarray:
    """Neighbour matrix (R, R) uint8 from speaker-behaviour similarity (rule in the module docstring)."""
    if not 0.0 <= quantile <= 1.0:
        raise NeighbourError(f"neighbours.quantile must be in [0, 1], got {quantile}")
    r = speaker_emotion.shape[0]
    m = np.eye(r, dtype=np.uint8)
    if r < 2:
        return m
    desc = speaker_descriptors(speaker_emotion)
    if desc.shape[1] == 0:
        return np.ones((r, r), np.uint8)  # all speakers identical: every reaction is appropriate
    dist = pdist(desc)
    tau = np.quantile(dist, quantile)
    m |= (squareform(dist) <= tau).astype(np.uint8)
    return m


def obtain(root: str | Path, split: str, speaker_emotion: np.ndarray, source: str, quantile: float) -> tuple[np.ndarray, dict]:
    """The split's matrix and where it came from: the official file (``source`` official, or auto when the
    file exists), else the built one."""
    from mafrg.provenance import file_sha256

    official = official_path(root, split)
    n_rows = speaker_emotion.shape[0]
    if source == "official" or (source == "auto" and official.exists()):
        if not official.exists():
            raise NeighbourError(f"{official}: neighbours.source is 'official' but the file is missing")
        return load_official(official, n_rows), {"source": "official", "file": str(official),
                                                 "sha256": file_sha256(official)}
    m = build_neighbours(speaker_emotion, quantile)
    return m, {"source": "built", "rule": "speaker mean/std descriptor, z-scored, Euclidean, quantile threshold",
               "quantile": quantile}


def official_path(root: str | Path, split: str) -> Path:
    from mafrg.data.layout import dataset_file

    return dataset_file(root, f"neighbour_emotion_{split}.npy")


def load_official(path: str | Path, n_rows: int) -> np.ndarray:
    from mafrg.io import FileFormatError, load_npy

    path = Path(path)
    try:
        m = load_npy(path)
    except FileFormatError as exc:
        raise NeighbourError(str(exc)) from exc
    check_neighbours(m, n_rows, str(path))
    return (m != 0).astype(np.uint8)


def check_neighbours(m: np.ndarray, n_rows: int, name: str = "neighbour matrix") -> None:
    if m.shape != (n_rows, n_rows):
        raise NeighbourError(f"{name}: expected shape ({n_rows}, {n_rows}) for {n_rows} mirrored rows, found {m.shape}")
    vals = np.unique(m)
    if not np.all(np.isin(vals, [0, 1])):
        raise NeighbourError(f"{name}: values must be 0/1, found {vals[:10]}")
    empty = np.flatnonzero(m.sum(axis=1) == 0)
    if len(empty):
        raise NeighbourError(f"{name}: row(s) {empty[:10].tolist()} have no appropriate reaction")
