"""The on-disk format of generated reactions; nothing else in mafrg writes it.

One row shard of one run is three files side by side:

* ``<shard>.npy``       emotion, (rows, alpha, T, 25) float32, rows in the split's row order;
* ``<shard>_3dmm.npy``  3DMM coefficients, (rows, alpha, T, 58) float32;
* ``<shard>.json``      which rows (range and each row's speaker/listener clip), method, variant, seed,
                        the checkpoints' sha256, settings and provenance.

On clips of any length (MARS) each row's reactions have its speaker's length T_k and the rows are laid end to end:
emotion (sum_k T_k, alpha, 25), 3DMM (sum_k T_k, alpha, 58), and the JSON's ``lengths`` lists each T_k. Nothing
is padded.

The three are checked against each other (shapes, finiteness) before anything is written, and each is written
atomically, the JSON last, so a shard whose JSON exists is complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mafrg.atomic import write_json, write_npy
from mafrg.constants import N_3DMM, N_EMOTION


class PredictionError(ValueError):
    """Generated reactions do not have the shape or values the format requires."""


@dataclass
class Reactions:
    """alpha reactions for each row: dense (rows, alpha, T, C), or rows of their own lengths end to end
    (``lengths`` given: (sum of lengths, alpha, C))."""

    emotion: np.ndarray  # (rows, alpha, T, 25) | (N, alpha, 25)
    tdmm: np.ndarray  # (rows, alpha, T, 58) | (N, alpha, 58)
    lengths: np.ndarray | None = None  # (rows,) frames of each row, when rows differ in length

    @classmethod
    def from_rows(cls, emotion: list[np.ndarray], tdmm: list[np.ndarray]) -> "Reactions":
        """Rows of their own lengths, each (alpha, T_k, C), laid end to end."""
        lengths = np.array([e.shape[1] for e in emotion], np.int64)
        cat = lambda xs: np.ascontiguousarray(np.concatenate([x.transpose(1, 0, 2) for x in xs]), np.float32)  # noqa: E731
        return cls(cat(emotion), cat(tdmm), lengths)

    @property
    def n_rows(self) -> int:
        return len(self.lengths) if self.lengths is not None else self.emotion.shape[0]

    def row(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Row k's (alpha, T_k, 25) emotion and (alpha, T_k, 58) 3DMM."""
        if self.lengths is None:
            return self.emotion[k], self.tdmm[k]
        off = np.concatenate([[0], np.cumsum(self.lengths)])
        a, b = int(off[k]), int(off[k + 1])
        return self.emotion[a:b].transpose(1, 0, 2), self.tdmm[a:b].transpose(1, 0, 2)

    def check(self, rows: int | None = None, alpha: int | None = None, frames: int | None = None,
              what: str = "reactions", lengths: np.ndarray | None = None) -> None:
        if self.lengths is not None or lengths is not None:
            return self._check_ragged(rows, alpha, lengths, what)
        e, t = self.emotion, self.tdmm
        if e.ndim != 4 or e.shape[-1] != N_EMOTION:
            raise PredictionError(f"{what}: emotion must be (rows, alpha, T, {N_EMOTION}), got {e.shape}")
        if t.ndim != 4 or t.shape[-1] != N_3DMM or t.shape[:3] != e.shape[:3]:
            raise PredictionError(f"{what}: 3DMM must be (rows, alpha, T, {N_3DMM}) matching emotion {e.shape}, "
                                  f"got {t.shape}")
        for name, want, got in (("rows", rows, e.shape[0]), ("alpha", alpha, e.shape[1]), ("frames", frames, e.shape[2])):
            if want is not None and want != got:
                raise PredictionError(f"{what}: expected {want} {name}, got {got} (shape {e.shape})")
        for name, x in (("emotion", e), ("3DMM", t)):
            bad = ~np.isfinite(x.reshape(x.shape[0], -1)).all(axis=1)
            if bad.any():
                raise PredictionError(f"{what}: {name} has NaN or inf in row {int(np.flatnonzero(bad)[0])} of the shard")


    def _check_ragged(self, rows, alpha, lengths, what) -> None:
        e, t, n = self.emotion, self.tdmm, self.lengths
        if n is None:
            raise PredictionError(f"{what}: rows of their own lengths expected (lengths {list(lengths)[:5]}...), "
                                  f"got dense reactions {e.shape}")
        if e.ndim != 3 or e.shape[-1] != N_EMOTION or t.ndim != 3 or t.shape[-1] != N_3DMM or t.shape[:2] != e.shape[:2]:
            raise PredictionError(f"{what}: expected emotion (frames, alpha, {N_EMOTION}) and 3DMM (frames, alpha, "
                                  f"{N_3DMM}), got {e.shape} and {t.shape}")
        if int(np.sum(n)) != e.shape[0]:
            raise PredictionError(f"{what}: {e.shape[0]} frames, the row lengths sum to {int(np.sum(n))}")
        if lengths is not None and not np.array_equal(np.asarray(lengths), n):
            bad = int(np.flatnonzero(np.asarray(lengths) != n)[0]) if len(lengths) == len(n) else None
            raise PredictionError(f"{what}: row lengths {n.tolist()[:8]} differ from the speakers' "
                                  f"{np.asarray(lengths).tolist()[:8]}" + (f" (first at row {bad})" if bad is not None else ""))
        for name, want, got in (("rows", rows, len(n)), ("alpha", alpha, e.shape[1])):
            if want is not None and want != got:
                raise PredictionError(f"{what}: expected {want} {name}, got {got}")
        off = np.concatenate([[0], np.cumsum(n)])
        for name, x in (("emotion", e), ("3DMM", t)):
            bad = ~np.isfinite(x.reshape(x.shape[0], -1)).all(axis=1)
            if bad.any():
                k = int(np.searchsorted(off, int(np.flatnonzero(bad)[0]), side="right") - 1)
                raise PredictionError(f"{what}: {name} has NaN or inf in row {k} of the shard")


def tdmm_path(pred_path: str | Path) -> Path:
    """The 3DMM companion of an emotion prediction file: ``x.npy`` -> ``x_3dmm.npy``."""
    p = Path(pred_path)
    return p.with_name(p.stem + "_3dmm.npy")


def meta_path(pred_path: str | Path) -> Path:
    return Path(pred_path).with_suffix(".json")


def write(path: str | Path, reactions: Reactions, meta: dict[str, Any]) -> None:
    """Check and write one prediction shard (emotion, 3DMM, then the JSON that marks it complete)."""
    reactions.check(what=str(path))
    write_npy(path, np.ascontiguousarray(reactions.emotion, np.float32))
    write_npy(tdmm_path(path), np.ascontiguousarray(reactions.tdmm, np.float32))
    if reactions.lengths is not None:
        meta = {**meta, "lengths": [int(x) for x in reactions.lengths]}
    write_json(meta_path(path), meta)


def load(path: str | Path, mmap: bool = True) -> Reactions:
    """A shard of either form (its JSON says whether rows have their own lengths), both files checked."""
    import json

    from mafrg.io import load_npy

    mp = meta_path(path)
    lengths = None
    if mp.is_file():
        raw = json.loads(mp.read_text()).get("lengths")
        lengths = np.asarray(raw, np.int64) if raw is not None else None
    e = load_npy(path, mmap=mmap)
    tp = tdmm_path(path)
    if not tp.is_file():
        raise PredictionError(f"{tp}: no 3DMM predictions beside {path}")
    r = Reactions(e, load_npy(tp, mmap=mmap), lengths)
    if lengths is not None:
        r._check_ragged(None, None, None, str(path))
    return r


def row_order(data, lo: int, hi: int) -> list[dict[str, Any]]:
    """Each row's speaker and listener clip, as recorded in a shard's JSON."""
    return [{"row": r.index, "speaker": r.speaker, "listener": r.listener, "mirrored": r.mirrored}
            for r in data.rows[lo:hi]]


def load_emotion(path: str | Path, mmap: bool = True) -> np.ndarray:
    from mafrg.io import load_npy

    return load_npy(path, mmap=mmap)


def load_3dmm(path: str | Path, mmap: bool = True) -> np.ndarray:
    """The 3DMM companion of a prediction shard, checked against its emotion file."""
    from mafrg.io import load_npy

    tp = tdmm_path(path)
    if not tp.is_file():
        raise PredictionError(f"{tp}: no 3DMM predictions beside {path}")
    t = load_npy(tp, mmap=mmap)
    e = load_npy(path, mmap=True)
    if t.ndim != 4 or t.shape[:3] != e.shape[:3] or t.shape[-1] != N_3DMM:
        raise PredictionError(f"{tp}: shape {t.shape} does not match {path} {e.shape} with {N_3DMM} coefficients")
    return t
