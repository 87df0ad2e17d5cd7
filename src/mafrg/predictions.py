"""The on-disk format of generated reactions; nothing else in mafrg writes it.

One row shard of one run is three files side by side:

* ``<shard>.npy``       emotion, (rows, alpha, T, 25) float32, rows in the split's mirrored order;
* ``<shard>_3dmm.npy``  3DMM coefficients, (rows, alpha, T, 58) float32;
* ``<shard>.json``      which rows (range and each row's speaker/listener clip), method, variant, seed,
                        the checkpoints' sha256, settings and provenance.

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
    """alpha reactions for each of ``len(emotion)`` rows."""

    emotion: np.ndarray  # (rows, alpha, T, 25)
    tdmm: np.ndarray  # (rows, alpha, T, 58)

    def check(self, rows: int | None = None, alpha: int | None = None, frames: int | None = None,
              what: str = "reactions") -> None:
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
    write_json(meta_path(path), meta)


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
