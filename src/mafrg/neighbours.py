"""Appropriate-reaction (neighbour) matrices over a split's evaluation rows: ``m[i, j] = 1`` when row j's listener
reaction is appropriate for row i's speaker.

Three sources:

* **official** -- REACT 2024: the organisers' ``neighbour_emotion_{split}.npy``. MARS (REACT 2025/2026): the
  official ground-truth sets, drawn as the REACT 2026 metric script draws them (:func:`official_draws`): the
  paired listener plus ``size - 1`` others of the same role and session, ``random.Random(seed)`` over the rows
  in the script's order. The drawn sets (with their repeats) are recorded beside the matrix. Repeats do not
  change any metric: FRCorr takes the maximum and FRDist the minimum over the set.
* **session** -- every listener of the same role and session (:func:`session_sets`).
* **build** -- when no official source exists (or asked for), mafrg builds a matrix with this documented rule, following the challenge's idea that a listener reaction is appropriate for a speaker
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


def speaker_descriptors(speaker_emotion: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """Per row: the z-scored (mean, std) over time of each channel; rows may differ in length (a list)."""
    if isinstance(speaker_emotion, np.ndarray):
        x = np.asarray(speaker_emotion, dtype=np.float64)
        d = np.concatenate([x.mean(axis=1), x.std(axis=1)], axis=1)
    else:
        d = np.stack([np.concatenate([np.asarray(s, np.float64).mean(0), np.asarray(s, np.float64).std(0)])
                      for s in speaker_emotion])
    sd = d.std(axis=0)
    keep = sd > 1e-12
    return (d[:, keep] - d[:, keep].mean(axis=0)) / sd[keep]


def build_neighbours(speaker_emotion: np.ndarray, quantile: float) -> np.ndarray:
    """Neighbour matrix (R, R) uint8 from speaker-behaviour similarity (rule in the module docstring)."""
    if not 0.0 <= quantile <= 1.0:
        raise NeighbourError(f"neighbours.quantile must be in [0, 1], got {quantile}")
    r = len(speaker_emotion)
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


def official_draws(rows, group_of, pool: dict, size: int, seed: int) -> list[list[str]]:
    """The ground-truth sets of the REACT 2026 metric script (``_build_samples``), one per row in row order.

    ``rows``: the evaluation rows (speaker -> listener, then the swapped rows when bidirectional), in the script's
    order; ``group_of(clip)``: the (role, session) of a clip; ``pool[group]``: that group's clips in the script's
    order (file names sorted). For each row, with one ``random.Random(seed)`` over all rows: the others are the
    pool without the paired listener; ``size - 1`` of them are drawn without replacement
    (``rng.sample``) when there are enough, with replacement (``rng.choices``) when there are fewer, and the paired
    listener is repeated when it is alone."""
    import random

    rng = random.Random(seed)
    k = max(size - 1, 0)
    out = []
    for r in rows:
        others = [c for c in pool[group_of(r.listener)] if c != r.listener]
        if k == 0:
            extra = []
        elif len(others) >= k:
            extra = rng.sample(others, k)
        elif others:
            extra = rng.choices(others, k=k)
        else:
            extra = [r.listener] * k
        out.append([r.listener] + extra)
    return out


def session_sets(rows, group_of, pool: dict) -> list[list[str]]:
    """Every listener of the paired listener's role and session (the paired one first)."""
    return [[r.listener] + [c for c in pool[group_of(r.listener)] if c != r.listener] for r in rows]


def sets_matrix(rows, sets: list[list[str]]) -> np.ndarray:
    """The 0/1 matrix of ground-truth sets: ``m[i, j] = 1`` when row j's listener is in row i's set. Each listener
    clip is the listener of exactly one row (its pair, in the row's direction), which is what makes the sets
    expressible as a matrix over rows."""
    index: dict[str, int] = {}
    for j, r in enumerate(rows):
        if r.listener in index:
            raise NeighbourError(f"clip {r.listener} is the listener of rows {index[r.listener]} and {j}")
        index[r.listener] = j
    m = np.zeros((len(rows), len(rows)), np.uint8)
    for i, s in enumerate(sets):
        missing = [c for c in s if c not in index]
        if missing:
            raise NeighbourError(f"row {i}: ground truth(s) {missing[:3]} are no row's listener")
        m[i, [index[c] for c in s]] = 1
    return m


def obtain(root: str | Path, split: str, speaker_emotion: np.ndarray, source: str, quantile: float) -> tuple[np.ndarray, dict]:
    """The split's matrix and where it came from: the official file (``source`` official, or auto when the
    file exists), else the built one."""
    from mafrg.provenance import file_sha256

    official = official_path(root, split)
    n_rows = len(speaker_emotion)
    if source == "official" or (source == "auto" and official.exists()):
        if not official.exists():
            raise NeighbourError(f"{official}: neighbours.source is 'official' but the file is missing")
        return load_official(official, n_rows), {"source": "official", "file": str(official),
                                                 "sha256": file_sha256(official)}
    m = build_neighbours(speaker_emotion, quantile)
    return m, {"source": "built", "rule": "speaker mean/std descriptor, z-scored, Euclidean, quantile threshold",
               "quantile": quantile}


def for_layout(layout, split: str, rows, speaker_emotion: np.ndarray | None, source: str, quantile: float, size: int,
               seed: int) -> tuple[np.ndarray, dict]:
    """The split's matrix from the source the config names (module doc), for the layout's kind of official
    appropriateness (``layout.appropriate``: ``matrix`` file or seeded ``draws``)."""
    if source == "session" or (source in ("auto", "official") and layout.appropriate == "draws"):
        pool: dict = {}
        for c in sorted({r.listener for r in rows}, key=layout.sort_key):
            pool.setdefault(layout.group_of(c), []).append(c)
        if source == "session":
            sets, origin = session_sets(rows, layout.group_of, pool), {"source": "session"}
        else:
            sets = official_draws(rows, layout.group_of, pool, size, seed)
            origin = {"source": "official", "rule": "REACT 2026 metric script: paired listener + seeded draws "
                      "of the same role and session (random.Random)", "seed": seed, "size": size}
        return sets_matrix(rows, sets), {**origin, "sets": sets}
    if speaker_emotion is None:
        raise NeighbourError(f"neighbours.source {source!r} needs the speakers' emotion sequences")
    if source == "official" and layout.appropriate != "matrix":
        raise NeighbourError(f"layout {layout.name} has no official neighbour matrix")
    return obtain(layout.root, split, speaker_emotion, source, quantile)


def official_path(root: str | Path, split: str) -> Path:
    from mafrg.data.layouts import dataset_file

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
