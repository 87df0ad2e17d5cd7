"""The naive baselines of the REACT 2024 challenge, and GT as the reference row: the arrays.

Each returns predictions of shape (R, n_pred, T, 25) float32 in the split's row order:
- GT: the true listener repeated;       - B_Random: uniform [0, 1) in all 25 channels (as the official code);
- B_Mime: the speaker's own emotion;    - B_MeanSeq: per-frame mean over all training clips;
- B_MeanFr: the global mean frame repeated.
The training means use speaker and listener sequences of the training split, as the official code does.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

BASELINES: tuple[str, ...] = ("GT", "B_Random", "B_Mime", "B_MeanSeq", "B_MeanFr")
# Which baselines read the training split: the mean ones for their means, B_Random for its 3DMM range.
NEEDS_TRAIN: tuple[str, ...] = ("B_Random", "B_MeanSeq", "B_MeanFr")


def training_means(train_speaker: np.ndarray, train_listener: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 25) per-frame mean and (25,) global mean over all training speaker and listener sequences."""
    allseq = np.concatenate([train_speaker, train_listener], axis=0).astype(np.float64)
    per_frame = allseq.mean(axis=0)
    return per_frame.astype(np.float32), per_frame.mean(axis=0).astype(np.float32)


def make_baseline(
    method: str,
    speaker: np.ndarray,
    listener: np.ndarray,
    n_pred: int = 10,
    seed: int = 0,
    train_means: tuple[np.ndarray, np.ndarray] | None = None,
    start: int = 0,
) -> np.ndarray:
    """Predictions for the given rows; ``start`` is the split index of the first one (B_Random draws each
    row from its own (seed, row) stream, so a shard's values do not depend on how the split is sharded)."""
    r, t, c = speaker.shape

    def needs_means() -> tuple[np.ndarray, np.ndarray]:
        if train_means is None:
            raise ValueError(f"{method} needs training means (pass train_means)")
        seq, fr = train_means
        if seq.shape[0] < t:
            raise ValueError(f"{method}: training clips have {seq.shape[0]} frames, evaluation needs {t}")
        return seq[:t], fr

    makers: dict[str, Callable[[], np.ndarray]] = {
        "GT": lambda: _repeat(listener, n_pred),
        "B_Mime": lambda: _repeat(speaker, n_pred),
        "B_Random": lambda: _row_uniform((r, n_pred, t, c), seed, start),
        "B_MeanSeq": lambda: _repeat(np.broadcast_to(needs_means()[0], (r, t, c)), n_pred),
        "B_MeanFr": lambda: _repeat(np.broadcast_to(needs_means()[1], (r, t, c)), n_pred),
    }
    if method not in makers:
        raise ValueError(f"unknown baseline {method!r}; choose from {', '.join(BASELINES)}")
    return makers[method]()


def training_3dmm_stats(train_speaker: np.ndarray, train_listener: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame mean (T, 58), global mean, min and max (58,) of the training 3DMM sequences."""
    allseq = np.concatenate([train_speaker, train_listener], axis=0).astype(np.float64)
    flat = allseq.reshape(-1, allseq.shape[-1])
    return {"seq": allseq.mean(axis=0).astype(np.float32), "frame": flat.mean(axis=0).astype(np.float32),
            "min": flat.min(axis=0).astype(np.float32), "max": flat.max(axis=0).astype(np.float32)}


def make_baseline_3dmm(method: str, speaker: np.ndarray, listener: np.ndarray, stats: dict[str, np.ndarray] | None,
                       n_pred: int = 10, seed: int = 0, start: int = 0) -> np.ndarray:
    """The 3DMM counterpart of :func:`make_baseline` (for rendering, FRRea and the listener metrics):
    GT and B_Mime copy the listener / speaker coefficients, the mean baselines use training means, and
    B_Random draws each coefficient uniformly within its training range (the challenge defines no 3DMM
    random baseline; this is the 3DMM analogue of its uniform emotion one)."""
    r, t, c = speaker.shape
    if method == "B_Random":
        lo, hi = stats["min"], stats["max"]
        return lo + _row_uniform((r, n_pred, t, c), seed, start, stream=3) * (hi - lo)
    src: dict[str, Callable[[], np.ndarray]] = {
        "GT": lambda: listener, "B_Mime": lambda: speaker,
        "B_MeanSeq": lambda: np.broadcast_to(stats["seq"][:t], (r, t, c)),
        "B_MeanFr": lambda: np.broadcast_to(stats["frame"], (r, t, c))}
    if method not in src:
        raise ValueError(f"unknown baseline {method!r}; choose from {', '.join(BASELINES)}")
    return _repeat(src[method](), n_pred)


def clip_means(flat: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clips of any length (frames end to end, clip c at ``offsets[c]:offsets[c + 1]``): the per-frame mean over
    the clips that have that frame (up to the longest clip) and the mean frame over all frames."""
    lengths = np.diff(offsets)
    pos = np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths)
    counts = np.bincount(pos, minlength=int(lengths.max()))
    sums = np.stack([np.bincount(pos, weights=flat[:, c].astype(np.float64), minlength=len(counts))
                     for c in range(flat.shape[1])], axis=1)
    return (sums / counts[:, None]).astype(np.float32), flat.astype(np.float64).mean(axis=0).astype(np.float32)


def ragged_baseline(method: str, speaker: np.ndarray, listener: np.ndarray, n_pred: int, seed: int, row: int,
                    means: tuple[np.ndarray, np.ndarray] | None, stream: int | None = None,
                    bounds: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """One row of a split of clips of any length: (n_pred, T, C) at the speaker's length T. GT is the row's
    listener resampled to T (unchanged at the same length; :func:`mafrg.metrics.ragged.resample` for emotion,
    linear for 3DMM); the per-frame mean repeats the mean frame past the longest training clip."""
    t, c = speaker.shape
    if method == "GT":
        if len(listener) == t:
            seq = listener
        elif c == 25:
            from mafrg.metrics.ragged import resample

            seq = resample(listener, t)
        else:
            pos = np.linspace(0, len(listener) - 1, t)
            seq = np.stack([np.interp(pos, np.arange(len(listener)), listener[:, j]) for j in range(c)], axis=1)
        return _repeat(np.asarray(seq)[None], n_pred)[0]
    if method == "B_Mime":
        return _repeat(speaker[None], n_pred)[0]
    if method == "B_Random":
        x = _row_uniform((1, n_pred, t, c), seed, row, stream)[0]
        return x if bounds is None else bounds[0] + x * (bounds[1] - bounds[0])
    if means is None:
        raise ValueError(f"{method} needs training means")
    if method == "B_MeanFr":
        return _repeat(np.broadcast_to(means[1], (1, t, c)), n_pred)[0]
    if method == "B_MeanSeq":
        seq = means[0][:t]
        if len(seq) < t:
            seq = np.concatenate([seq, np.broadcast_to(means[1], (t - len(seq), c))])
        return _repeat(seq[None], n_pred)[0]
    raise ValueError(f"unknown baseline {method!r}; choose from {', '.join(BASELINES)}")


def _repeat(x: np.ndarray, n_pred: int) -> np.ndarray:
    """(R, T, C) -> (R, n_pred, T, C) float32: the same sequence as every prediction."""
    r, t, c = x.shape
    return np.ascontiguousarray(np.broadcast_to(x[:, None], (r, n_pred, t, c)), dtype=np.float32)


def _row_uniform(shape: tuple[int, int, int, int], seed: int, start: int, stream: int | None = None) -> np.ndarray:
    """Uniform [0, 1) float32 of ``shape`` (rows first), row i drawn from its own stream (seed, start + i[,
    stream]), so a shard's values do not depend on how the split is sharded."""
    out = np.empty(shape, np.float32)
    for i in range(shape[0]):
        key = [seed, start + i] if stream is None else [seed, start + i, stream]
        out[i] = np.random.default_rng(key).random(shape[1:], dtype=np.float32)
    return out
