"""The classical baselines of the learning-to-listen protocol (Ng et al. 2022), as Efficient Listener reports them.

* NN motion / NN audio: the listener of the nearest *training* speaker, by facial behaviour (25 emotion channels
  and 58 3DMM coefficients per frame) or by audio (per-frame MFCC), each standardised with training statistics;
  the distance is the mean squared difference over the aligned frames. Reaction k is the listener of the k-th
  nearest training speaker, so the alpha reactions are alpha different real listeners.
* Random listener: a random training listener sequence per reaction (unlike B_Random's uniform noise).
* Median: the per-coefficient median training listener frame, repeated.
* Mirror is the speaker's own behaviour: that is B_Mime (one row in the report, named for both).

Training candidates are both directions of every training row (each person once the speaker).
"""

from __future__ import annotations

import numpy as np


def candidates(train) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(speaker rels, speaker behaviour (N, T, 83), listener emotion (N, T, 25), listener 3DMM (N, T, 58))
    over both directions of the training rows; also the listener rels."""
    sp_rel = [r.speaker for r in train.rows] + [r.listener for r in train.rows]
    li_rel = [r.listener for r in train.rows] + [r.speaker for r in train.rows]
    sp = np.concatenate([np.concatenate([train.speaker_emotion, train.speaker_tdmm], -1),
                         np.concatenate([train.listener_emotion, train.listener_tdmm], -1)])
    le = np.concatenate([train.listener_emotion, train.speaker_emotion])
    lt = np.concatenate([train.listener_tdmm, train.speaker_tdmm])
    return sp_rel, sp.astype(np.float32), le, lt, np.array(li_rel)


def clip_candidates(train) -> tuple[list[str], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """:func:`candidates` for a split of clips of any length (ClipArrays): both directions of every pair (its
    swapped rows, when it has them, are those second directions), each pair cut to its clips' common length;
    lists of (T_c, .) arrays."""
    d = train.directions()
    return ([x[0] for x in d], [np.concatenate([x[1], x[2]], -1).astype(np.float32) for x in d],
            [x[3] for x in d], [x[4] for x in d])


def nearest_clips(query: np.ndarray, cands: list[np.ndarray], k: int) -> np.ndarray:
    """:func:`nearest` over candidates of any length: each compared on its common frames with the query."""
    d = np.array([((c[: min(len(query), len(c))] - query[: min(len(query), len(c))]) ** 2).mean() for c in cands])
    order = np.argsort(d, kind="stable")
    return order[np.arange(k) % len(order)]


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
    return flat.mean(0), np.maximum(flat.std(0), 1e-6)


def nearest(query: np.ndarray, cands: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k nearest candidates (N, T', D) to query (T, D) by mean squared difference over the
    first min(T, T') frames; ties by index. With fewer than k candidates the ranking repeats."""
    t = min(len(query), cands.shape[1])
    d = ((cands[:, :t] - query[None, :t]) ** 2).mean(axis=(1, 2))
    order = np.argsort(d, kind="stable")
    return order[np.arange(k) % len(order)]


def fit_frames(x: np.ndarray, t: int) -> np.ndarray:
    """A training sequence on the evaluated length: cut, or its last frame repeated."""
    if len(x) >= t:
        return x[:t]
    return np.concatenate([x, np.repeat(x[-1:], t - len(x), 0)])


def median_frame(train_listener: np.ndarray) -> np.ndarray:
    """(C,) per-coefficient median of every training listener frame (both directions)."""
    return np.median(train_listener.reshape(-1, train_listener.shape[-1]), axis=0).astype(np.float32)
