"""EEG of the listener (REACT 2026): reading the processed files, and the five official EEG metrics.

REACT 2026 ships ``<split>/eeg_processed/<role>/<session>/<stem>.csv``, one row per second of the clip. Its
baselines predict the listener's EEG as an auxiliary target and score it with five metrics
(``framework/utils/compute_metrics.py``, ``compute_eeg_metrics``, of reactmultimodalchallenge/baseline_react2026).
What is implemented here follows that code's definitions; the quirks are named where they occur.

Reading (the official loader, ``dataset/react_2025.py``): 14 channels by column name, :data:`CHANNELS`; the raw
channels (TP9, AF7, AF8, TP10) divided by 1000, band powers as they are; an empty, missing, non-numeric or
non-finite cell is 0 with mask 0. Video frame t maps to row ``floor(t / fps)``; an EEG shorter than the clip
repeats its last row *and its mask* (the official behaviour: padded seconds count as measured).

Scoring works on per-second sequences: a prediction is ``(N, S, 14)`` (N reactions, S seconds), the ground
truth ``(S, 14)`` with its mask. As officially, the EEG ground-truth set is the paired listener alone.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from mafrg.errors import DataError

RAW = ("TP9", "AF7", "AF8", "TP10")
BANDS = ("Delta", "Theta", "Alpha", "Beta", "Gamma")
CHANNELS: tuple[str, ...] = RAW + tuple(f"{b}_{e}" for e in ("TP9", "TP10") for b in BANDS)
RAW_SCALE = 1000.0  # the official eeg_channel_scale: raw microvolt channels to order 1
METRICS = ("EEG_FRC", "EEG_FRD", "EEG_TLCC", "EEG_smse", "EEG_FRVar")
TLCC_LAGS = 2  # seconds each way: the official seconds=2 at fps 1


def read_eeg(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(values, mask), each (rows, 14) float32, one row per second, channels in :data:`CHANNELS` order."""
    import pandas as pd

    path = Path(path)
    try:
        df = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001 - any parse failure names the file
        raise DataError(f"{path}: EEG file cannot be parsed as CSV ({exc})") from exc
    if len(df) == 0:
        raise DataError(f"{path}: EEG file has no data rows")
    if not any(c in df.columns for c in CHANNELS):
        raise DataError(f"{path}: none of the 14 EEG columns ({', '.join(CHANNELS)}) in its header")
    values = np.zeros((len(df), len(CHANNELS)), np.float32)
    mask = np.zeros_like(values)
    for j, c in enumerate(CHANNELS):
        if c not in df.columns:
            continue
        v = pd.to_numeric(df[c].str.strip(), errors="coerce").to_numpy(np.float64)
        ok = np.isfinite(v)
        values[ok, j] = v[ok] / (RAW_SCALE if c in RAW else 1.0)
        mask[ok, j] = 1.0
    return values, mask


def per_second(values: np.ndarray, mask: np.ndarray, frames: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """The rows a clip of ``frames`` video frames covers: row s for each second s = floor(t / fps) of the clip,
    the last row repeated (with its mask) where the EEG is shorter."""
    seconds = int(math.floor((frames - 1) / fps)) + 1 if frames > 0 else 0
    idx = np.minimum(np.arange(seconds), len(values) - 1)
    return values[idx], mask[idx]


# ---------------------------------------------------------------------------------------------------- metrics
def masked_ccc(target: np.ndarray, pred: np.ndarray, mask: np.ndarray) -> float | None:
    """Concordance correlation over the steps the mask marks valid (and both finite): None with fewer than 2
    such steps; 0 when either side is constant (std < 1e-8); population moments, 1e-8 in the denominator."""
    ok = (mask > 0.5) & np.isfinite(target) & np.isfinite(pred)
    if ok.sum() < 2:
        return None
    t, p = target[ok].astype(np.float64), pred[ok].astype(np.float64)
    st, sp = t.std(), p.std()
    if st < 1e-8 or sp < 1e-8:
        return 0.0
    rho = np.corrcoef(t, p)[0, 1]
    return float(2 * rho * st * sp / (st**2 + sp**2 + (t.mean() - p.mean()) ** 2 + 1e-8))


def _channel_mean(scores: list[float | None]) -> float | None:
    good = [s for s in scores if s is not None and np.isfinite(s)]
    return float(np.mean(good)) if good else None


def _cut(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prediction, target and mask cut to their common length and channels (the official code does the same)."""
    s = min(pred.shape[-2], target.shape[-2], mask.shape[-2])
    c = min(pred.shape[-1], target.shape[-1], mask.shape[-1])
    return pred[..., :s, :c], target[:s, :c], mask[:s, :c]


def frc(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float | None:
    """One clip's EEG_FRC: per reaction the channel-mean CCC with the ground truth, summed over reactions
    (None when no reaction has a score). With one ground truth the official max over targets is that one."""
    pred, target, mask = _cut(pred, target, mask)
    per = [_channel_mean([masked_ccc(target[:, c], p[:, c], mask[:, c]) for c in range(target.shape[1])])
           for p in pred]
    good = [v for v in per if v is not None]
    return float(np.sum(good)) if good else None


def _dtw(a: np.ndarray, b: np.ndarray) -> float:
    from mafrg.metrics.dtw import dtw_tslearn_equivalent

    return float(dtw_tslearn_equivalent(np.ascontiguousarray(a, np.float64)[:, None],
                                        np.ascontiguousarray(b, np.float64)[:, None]))


def frd(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float | None:
    """One clip's EEG_FRD: per reaction the channel-mean DTW distance (tslearn's: the square root of the summed
    squared differences on the best path) between prediction and ground truth with the masked seconds removed
    from both, summed over reactions. Not normalised by length, as officially."""
    pred, target, mask = _cut(pred, target, mask)
    per = []
    for p in pred:
        d = []
        for c in range(target.shape[1]):
            ok = (mask[:, c] > 0.5) & np.isfinite(target[:, c]) & np.isfinite(p[:, c])
            d.append(_dtw(p[ok, c], target[ok, c]) if ok.any() else None)
        per.append(_channel_mean(d))
    good = [v for v in per if v is not None]
    return float(np.sum(good)) if good else None


def tlcc(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, lags: int = TLCC_LAGS) -> float | None:
    """One clip's EEG_TLCC: per reaction and channel the lag in [-lags, lags] seconds with the largest *signed*
    CCC (the first, i.e. most negative, on ties), pairing prediction step s + lag with ground-truth step s
    (mask on the ground-truth side); the mean |lag| over channels, then over reactions."""
    pred, target, mask = _cut(pred, target, mask)
    s = target.shape[0]
    per = []
    for p in pred:
        best_lags = []
        for c in range(target.shape[1]):
            best, best_lag = -np.inf, None
            for lag in range(-lags, lags + 1):
                if lag >= 0:
                    v = masked_ccc(target[: s - lag, c], p[lag:, c], mask[: s - lag, c])
                else:
                    v = masked_ccc(target[-lag:, c], p[: s + lag, c], mask[-lag:, c])
                if v is not None and np.isfinite(v) and v > best:
                    best, best_lag = v, lag
            if best_lag is not None:
                best_lags.append(abs(best_lag))
        if best_lags:
            per.append(float(np.mean(best_lags)))
    return float(np.mean(per)) if per else None


def smse(pred: np.ndarray) -> float:
    """One clip's EEG_smse: the mean over ordered pairs of reactions of their element-wise MSE,
    sum_ij |x_i - x_j|^2 / (N (N - 1) D) (0 for one reaction). The mask is not used, as officially."""
    n = pred.shape[0]
    if n < 2:
        return 0.0
    x = pred.reshape(n, -1).astype(np.float64)
    sq = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    return float(sq.sum() / (n * (n - 1) * x.shape[1]))


def frvar(pred: np.ndarray, mask: np.ndarray) -> float | None:
    """One clip's EEG_FRVar: each reaction's variance over time per channel (population, masked seconds
    included), averaged over reactions and over the channels with any valid second; None when none has one."""
    s = min(pred.shape[1], mask.shape[0])
    var = pred[:, :s].astype(np.float64).var(axis=1)  # (N, 14)
    keep = (mask[:s, : var.shape[1]] > 0.5).any(axis=0)
    return float(var[:, keep].mean()) if keep.any() else None


def eeg_metrics(preds: list[np.ndarray], targets: list[np.ndarray], masks: list[np.ndarray]) -> dict[str, float]:
    """The five EEG metrics over clips: each clip's value as above, averaged over the clips that have one
    (NaN when none has); ``preds[k]`` (N, S, 14), ``targets[k]`` and ``masks[k]`` (S, 14)."""
    if not (len(preds) == len(targets) == len(masks)):
        raise ValueError(f"{len(preds)} predictions, {len(targets)} ground truths and {len(masks)} masks")
    per: dict[str, list[float]] = {m: [] for m in METRICS}
    for p, t, m in zip(preds, targets, masks):
        if p.ndim != 3 or t.ndim != 2 or m.shape != t.shape:
            raise ValueError(f"EEG shapes: prediction {p.shape} (reactions, seconds, channels), ground truth "
                             f"{t.shape} and mask {m.shape} (seconds, channels)")
        for name, v in (("EEG_FRC", frc(p, t, m)), ("EEG_FRD", frd(p, t, m)), ("EEG_TLCC", tlcc(p, t, m)),
                        ("EEG_smse", smse(p)), ("EEG_FRVar", frvar(p, m))):
            if v is not None:
                per[name].append(v)
    return {k: float(np.mean(v)) if v else float("nan") for k, v in per.items()}
