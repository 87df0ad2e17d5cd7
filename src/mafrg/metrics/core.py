"""Vectorised per-row kernels of the REACT 2024 metrics (definitions in :mod:`mafrg.metrics.engine`).

All computations run in float64 on inputs first rounded to float32, because the official code feeds
float32 tensors to numpy/tslearn: the float32 rounding of the data is part of the definition.
"""

from __future__ import annotations

import warnings
from functools import cached_property

import numpy as np


_EPS_CCC = 1e-8
MAX_LAG = 49  # lags -49..49 (2 s at 25 fps)


def as_metric_input(x: np.ndarray) -> np.ndarray:
    """Round to float32 (as the official code's tensors are), then widen to float64 for arithmetic."""
    return np.asarray(x, dtype=np.float32).astype(np.float64)


class ListenerStats:
    """Centred listener sequences and their moments, computed once per split."""

    def __init__(self, listener: np.ndarray):
        x = as_metric_input(listener)  # (R, T, C)
        self.values = np.ascontiguousarray(x)
        self.values_t = np.ascontiguousarray(x.transpose(0, 2, 1))  # (R, C, T) for the DTW kernel
        self.mean = x.mean(axis=1)  # (R, C)
        centred = x - self.mean[:, None, :]
        self.var = (centred**2).mean(axis=1)  # ddof=0
        self.std = np.sqrt(self.var)
        # (C, R, T): per-channel matrices for batched BLAS products
        self.centred_ct = np.ascontiguousarray(centred.transpose(2, 0, 1))

    @cached_property
    def values32(self) -> np.ndarray:
        """(R, T, C) float32: the compiled FRDist kernel's input (exact: the values are float32 values)."""
        return np.ascontiguousarray(self.values, np.float32)

    @cached_property
    def box(self) -> np.ndarray:
        """(R, 2, C) per-channel min and max over time (the DTW lower bounds' boxes)."""
        return np.ascontiguousarray(np.stack([self.values.min(axis=1), self.values.max(axis=1)], axis=1))

    @cached_property
    def coarse32(self) -> np.ndarray:
        from mafrg.metrics.frdist import coarse

        return coarse(self.values32)


def ccc_max_sum(pred_rows: np.ndarray, lst: ListenerStats, neighbour_lists: list[np.ndarray]) -> np.ndarray:
    """FRCorr_k = sum_i max_{j in A(k)} CCC(listener_j, pred[k, i]) for each row k of the chunk."""
    x = as_metric_input(pred_rows)  # (r, P, T, C)
    r, n_pred, t_len, _ = x.shape
    out = np.empty(r)
    for k in range(r):
        js = neighbour_lists[k]
        xm = x[k].mean(axis=1)  # (P, C)
        xc = x[k] - xm[:, None, :]
        xv = (xc**2).mean(axis=1)
        xs = np.sqrt(xv)
        # cov[c, p, j] = sum_t xc[p, t, c] * lc[c, j, t] / T  via one batched matmul over channels
        cov = np.matmul(np.ascontiguousarray(xc.transpose(2, 0, 1)), lst.centred_ct[:, js, :].transpose(0, 2, 1)) / t_len
        cov = cov.transpose(1, 2, 0)  # (P, m, C)
        sd_prod = xs[:, None, :] * lst.std[js][None, :, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = cov / sd_prod
        rho = np.clip(np.nan_to_num(rho, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)
        num = 2.0 * rho * sd_prod
        den = xv[:, None, :] + lst.var[js][None, :, :] + (xm[:, None, :] - lst.mean[js][None, :, :]) ** 2
        ccc = (num / (den + _EPS_CCC)).mean(axis=2)  # (P, m)
        out[k] = ccc.max(axis=1).sum()
    return out


def dtw_min_sum(
    pred_rows: np.ndarray, lst: ListenerStats, neighbour_lists: list[np.ndarray], threads: int = 1
) -> tuple[np.ndarray, np.ndarray, str]:
    """FRDist_k = sum_i min_{j in A(k)} weighted DTW; also returns the work done ([pairs computed in full,
    cost-matrix cells x channels computed]) and the kernel that did it."""
    from mafrg.metrics.frdist import min_weighted_dtw

    best, work, kernel = min_weighted_dtw(np.asarray(pred_rows, np.float32), lst, neighbour_lists, threads)
    return best.sum(axis=1), work, kernel


def tlcc_offsets(pred: np.ndarray, speaker: np.ndarray, corrected: bool = False, max_lag: int = MAX_LAG) -> np.ndarray:
    """|offset| of the time-lagged cross-correlation peak for each (row, prediction).

    pred (r, P, T, C), speaker (r, T, C). For lag L in -max_lag..max_lag (49: 2 s at 25 fps): L > 0 compares pred[L:] with speaker[:-L],
    L < 0 pred[:L] with speaker[-L:]. Per lag, Pearson r per channel (NaN for a constant segment), mean
    over channels, offset = max_lag - argmax over lags.

    react2024 semantics: the channel mean is NaN when any channel is NaN and argmax returns the first NaN
    (so a constant channel scores 49). ``corrected``: NaN channels are left out of the mean, lags without
    any valid channel are never the peak, and a prediction with no valid lag gets NaN (excluded later).
    """
    x = as_metric_input(pred)
    s = as_metric_input(speaker)[:, None]  # (r, 1, T, C)
    r, n_pred, t_len, n_ch = x.shape
    lags = range(-max_lag, max_lag + 1)
    curve = np.empty((len(lags), r, n_pred), np.float32)
    for li, lag in enumerate(lags):
        if t_len - abs(lag) < 2:
            # Fewer than two overlapping frames (clips shorter than 51 frames): the official
            # np.corrcoef gives NaN here, so the lag is NaN (react2024) or never the peak (corrected).
            curve[li] = -np.inf if corrected else np.nan
            continue
        if lag > 0:
            a, b = x[:, :, lag:], s[:, :, : t_len - lag]
        elif lag < 0:
            a, b = x[:, :, :lag], s[:, :, -lag:]
        else:
            a, b = x, s
        ac = a - a.mean(axis=2, keepdims=True)
        bc = b - b.mean(axis=2, keepdims=True)
        cov = (ac * bc).sum(axis=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = cov / np.sqrt((ac**2).sum(axis=2) * (bc**2).sum(axis=2))
        rho = np.clip(rho, -1.0, 1.0).astype(np.float32).astype(np.float64)
        if corrected:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN lag: handled just below
                m = np.nanmean(rho, axis=2)
            curve[li] = np.where(np.isnan(m), -np.inf, m)
        else:
            curve[li] = rho.mean(axis=2)  # NaN if any channel is NaN
    peak = np.argmax(curve, axis=0)  # numpy, like torch, returns the first NaN when there is one
    offsets = np.abs(max_lag - peak).astype(np.float64)
    if corrected:
        offsets[np.all(np.isinf(curve), axis=0)] = np.nan
    return offsets


def diversity_terms(pred_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: FRDiv_k (S-MSE) and the sum over (prediction, channel) of the unbiased variance over time."""
    x = as_metric_input(pred_rows)
    r, n_pred, t_len, n_ch = x.shape
    if n_pred > 1:
        centred = x - x.mean(axis=1, keepdims=True)
        # sum over ordered pairs (a, b) of ||X_a - X_b||^2 = 2 P sum_a ||X_a - mean||^2
        pair_sum = 2.0 * n_pred * (centred**2).sum(axis=(1, 2, 3))
        frdiv = pair_sum / (n_pred * (n_pred - 1) * t_len * n_ch)
    else:
        frdiv = np.zeros(r)
    var_sum = x.var(axis=2, ddof=1).sum(axis=(1, 2)) if t_len > 1 else np.full(r, np.nan)
    return frdiv, var_sum


class FRDvsAccumulator:
    """Streaming FRDvs: per prediction index, a running mean and centred sum of squares over rows.

    Chunks merge with Chan et al.'s parallel update, so rows can arrive in any chunking (or from shards)
    and the result equals the one-pass formula sum_i sum_{k,l} ||X_ki - X_li||^2 / (R(R-1) P T C).
    """

    def __init__(self) -> None:
        self.count = 0
        self.mean: np.ndarray | None = None  # (P, T*C)
        self.m2: np.ndarray | None = None  # (P,)

    def update(self, pred_rows: np.ndarray) -> None:
        x = as_metric_input(pred_rows)
        r = x.shape[0]
        if r == 0:
            return
        flat = x.reshape(r, x.shape[1], -1)
        mean_b = flat.mean(axis=0)
        m2_b = ((flat - mean_b) ** 2).sum(axis=(0, 2))
        self.merge(r, mean_b, m2_b)

    def merge(self, n_b: int, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        if self.mean is None:
            self.count, self.mean, self.m2 = n_b, mean_b.copy(), m2_b.copy()
            return
        n_a = self.count
        delta = mean_b - self.mean
        tot = n_a + n_b
        self.m2 = self.m2 + m2_b + (delta**2).sum(axis=1) * n_a * n_b / tot
        self.mean = self.mean + delta * (n_b / tot)
        self.count = tot

    def value(self) -> float:
        if self.mean is None or self.count < 2:
            return 0.0
        n_pred, d = self.mean.shape
        r = self.count
        return float((2.0 * r * self.m2).sum() / (r * (r - 1) * n_pred) / d)
