"""The naive baselines of the REACT 2024 challenge, and GT as the reference row.

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
) -> np.ndarray:
    r, t, c = speaker.shape

    def repeat(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(x[:, None], (r, n_pred, t, c)), dtype=np.float32)

    def needs_means() -> tuple[np.ndarray, np.ndarray]:
        if train_means is None:
            raise ValueError(f"{method} needs training means (pass train_means)")
        seq, fr = train_means
        if seq.shape[0] < t:
            raise ValueError(f"{method}: training clips have {seq.shape[0]} frames, evaluation needs {t}")
        return seq[:t], fr

    makers: dict[str, Callable[[], np.ndarray]] = {
        "GT": lambda: repeat(listener),
        "B_Mime": lambda: repeat(speaker),
        "B_Random": lambda: np.random.default_rng(seed).random((r, n_pred, t, c), dtype=np.float32),
        "B_MeanSeq": lambda: repeat(np.broadcast_to(needs_means()[0], (r, t, c))),
        "B_MeanFr": lambda: repeat(np.broadcast_to(needs_means()[1], (r, t, c))),
    }
    if method not in makers:
        raise ValueError(f"unknown baseline {method!r}; choose from {', '.join(BASELINES)}")
    return makers[method]()
