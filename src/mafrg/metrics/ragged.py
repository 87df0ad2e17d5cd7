"""The metrics on clips of any length (MARS, REACT 2025/2026): each row scored at its own length.

Row k's predictions have its speaker's length T_k (the official baselines generate whole clips at the speaker's
length). Its ground-truth set (the appropriate listeners, :mod:`mafrg.neighbours`) holds clips of other lengths,
which the official scripts regenerate at T_k with a learned post-processor whose weights are not public. mafrg
offers two deterministic alignments instead (``evaluation.gt_alignment``), and the report names the one used:

* ``resample``: each ground truth is resampled in time to T_k (linear interpolation at the prediction's frame
  positions); AU occurrences are re-thresholded at 0.5 and expression probabilities renormalised to sum to 1,
  so the aligned sequence is a valid emotion sequence. A ground truth of length T_k is unchanged (as with the
  official post-processor).
* ``prefix``: predictions and ground truths are compared on the common prefix of the prediction and every
  ground truth of its set.

Metrics, as the official 2025/2026 code defines them (``react2025`` protocol), per row then averaged over rows:
FRCorr (sum over predictions of the max CCC over the set; constant channels give CCC 0), FRDist (sum over
predictions of the min weighted DTW over the set, not normalised by length), FRDiv (S-MSE), FRVar (unbiased
variance over time, mean over predictions and channels), FRSyn (|TLCC offset| of prediction 0 only, lags
-49..49: the official code hard-codes 25 fps against 30 fps data). ``corrected`` scores every prediction in
FRSyn with lags of +-2 s at the data's frame rate and constant channels left out. FRDvs compares rows frame by
frame, which clips of different lengths do not allow; the official code does not implement it: NaN here.
"""

from __future__ import annotations

import logging
import warnings
from typing import Callable, Iterable

import numpy as np
from mafrg.progress import tqdm

from mafrg.constants import N_AU, N_EMOTION
from mafrg.metrics import core
from mafrg.metrics.engine import MetricInputError, RowContributions, default_threads
from mafrg.metrics.table import ENGINE_PER_ROW

log = logging.getLogger(__name__)
ALIGNMENTS = ("resample", "prefix")
OFFICIAL_MAX_LAG = 49  # the official TLCC: range(-49, 50) whatever the data's frame rate
SYNC_SECONDS = 2


def max_lag(protocol: str, fps: int) -> int:
    """FRSyn's lag window: the official 49 frames (``react2024``, ``react2025``), or 2 s at the data's rate."""
    return OFFICIAL_MAX_LAG if protocol in ("react2024", "react2025") else SYNC_SECONDS * fps - 1


def resample(x: np.ndarray, length: int) -> np.ndarray:
    """(T, 25) emotion -> (length, 25): linear interpolation in time (end points kept), AUs thresholded at 0.5,
    expression probabilities clipped at 0 and renormalised (uniform where all are 0). Unchanged at its length."""
    x = np.asarray(x, np.float64)
    t = len(x)
    if t == length:
        return x
    pos = np.linspace(0.0, t - 1, length)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo)[:, None]
    y = (1 - w) * x[lo] + w * x[hi]
    y[:, :N_AU] = (y[:, :N_AU] >= 0.5).astype(np.float64)
    ex = np.clip(y[:, N_AU + 2 :], 0.0, None)
    total = ex.sum(axis=1, keepdims=True)
    y[:, N_AU + 2 :] = np.where(total > 0, ex / np.where(total > 0, total, 1.0), 1.0 / ex.shape[1])
    return y


def aligned_set(pred_len: int, gts: list[np.ndarray], alignment: str) -> tuple[int, np.ndarray]:
    """(frames compared, (G, frames, 25) ground truths) for one row (module doc)."""
    if alignment == "resample":
        return pred_len, np.stack([resample(g, pred_len) for g in gts])
    if alignment == "prefix":
        n = min(pred_len, *(len(g) for g in gts))
        return n, np.stack([np.asarray(g[:n], np.float64) for g in gts])
    raise MetricInputError(f"unknown ground-truth alignment {alignment!r}; choose from {ALIGNMENTS}")


def contributions(
    preds: Iterable[np.ndarray],
    speakers: Callable[[int], np.ndarray],
    gt_sets: Callable[[int], list[np.ndarray]],
    start: int,
    n: int,
    protocol: str = "react2025",
    alignment: str = "resample",
    fps: int = 30,
    threads: int | None = None,
    progress: bool = True,
    name: str = "pred",
) -> RowContributions:
    """Per-row contributions of rows ``start .. start + n - 1``: ``preds`` yields each row's (P, T_k, 25)
    reactions, ``speakers(k)`` its speaker's (T_k, 25) emotion, ``gt_sets(k)`` its ground truths (any lengths)."""
    from mafrg.metrics.engine import PROTOCOLS

    if protocol not in PROTOCOLS:
        raise MetricInputError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")
    n_threads = threads or default_threads()
    lag = max_lag(protocol, fps)
    corrected = protocol == "corrected"
    per_row = {k: np.full(n, np.nan) for k in ENGINE_PER_ROW}
    pruning = np.zeros(2, np.int64)
    kernels: set[str] = set()
    pairs = 0
    n_pred = None

    def score(i: int, x: np.ndarray) -> tuple[dict[str, float], np.ndarray, str, int]:
        """Every metric of one row (rows are independent: several are scored side by side, one thread each)."""
        k = start + i
        sp = np.asarray(speakers(k))
        if x.shape[1] != len(sp):
            raise MetricInputError(f"{name}: row {k} has {x.shape[1]} frames, its speaker clip {len(sp)}")
        if not np.isfinite(x).all():
            raise MetricInputError(f"{name}: NaN or inf in row {k}")
        gts = gt_sets(k)
        if not gts:
            raise MetricInputError(f"row {k} has no ground truth")
        t_cmp, stack = aligned_set(x.shape[1], gts, alignment)
        if t_cmp < 2:
            raise MetricInputError(f"row {k}: fewer than 2 frames to compare ({alignment} alignment)")
        xr = x[None, :, :t_cmp]
        lst = core.ListenerStats(stack)
        js = [np.arange(len(stack))]
        dist, work, kernel = core.dtw_min_sum(xr, lst, js, 1)
        frdiv, var_sum = core.diversity_terms(x[None])
        out = {"FRCorr": core.ccc_max_sum(xr, lst, js)[0], "FRDist": dist[0], "FRDiv": frdiv[0],
               "FRVar": var_sum[0] / (x.shape[0] * x.shape[2])}
        if corrected:
            off = core.tlcc_offsets(x[None], sp[None], corrected=True, max_lag=lag)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out["FRSyn"] = np.nanmean(off)
        else:
            out["FRSyn"] = core.tlcc_offsets(x[None, :1], sp[None], max_lag=lag)[0, 0]
        return out, work, kernel, len(stack) * x.shape[0]

    from concurrent.futures import ThreadPoolExecutor

    from mafrg.metrics.native import frdist_library

    # Rows are scored side by side only with the compiled FRDist kernel (built here, once, before any thread
    # asks): the numba fallback is itself parallel and must not be launched from several threads.
    if frdist_library() is None:
        n_threads = 1
    it = iter(enumerate(preds))
    seen = 0
    with ThreadPoolExecutor(max(1, n_threads)) as pool, tqdm(total=n, desc="metrics", unit="row",
                                                            disable=not progress) as bar:
        while True:  # a few rows at a time: never more than 2 per thread in memory
            batch = [(i, np.asarray(x)) for i, x in (next(it, (None, None)) for _ in range(2 * max(1, n_threads)))
                     if i is not None]
            if not batch:
                break
            for i, x in batch:
                if x.ndim != 3 or x.shape[-1] != N_EMOTION:
                    raise MetricInputError(f"{name}: row {start + i}: expected (predictions, T, {N_EMOTION}), "
                                           f"found {x.shape}")
                if n_pred is None:
                    n_pred = x.shape[0]
                elif x.shape[0] != n_pred:
                    raise MetricInputError(f"{name}: row {start + i} has {x.shape[0]} predictions, earlier rows "
                                           f"{n_pred}")
            for (i, _), (vals, work, kernel, n_pairs) in zip(batch, pool.map(lambda b: score(*b), batch)):
                for key, v in vals.items():
                    per_row[key][i] = v
                pruning += work
                kernels.add(kernel)
                pairs += n_pairs
            bar.update(len(batch))
            seen += len(batch)
    if seen != n:
        raise MetricInputError(f"{name}: {seen} rows of reactions for rows {start}..{start + n - 1} ({n} rows)")
    if n_pred is None:
        raise MetricInputError(f"{name}: no rows")
    return RowContributions(start=start, per_row=per_row, dvs=core.FRDvsAccumulator(), pruning=pruning,
                            n_pred=n_pred, n_ch=N_EMOTION, pairs_total=pairs, frames=0,
                            kernel="+".join(sorted(kernels)), ragged=True)
