"""A slow, literal implementation of the REACT 2024 and 2025 metrics, written from their definitions.

Loops and one library call per pair, on purpose: this is what the fast engine is checked against (by the tests
and by ``benchmarks/metrics_bench.py``). Like the official code, it feeds float32 arrays to numpy and tslearn;
tslearn is imported only when FRDist is computed here (it is a test dependency, not a runtime one).
"""

from __future__ import annotations

import warnings

import numpy as np


def _pearson_nan0(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r via the float64 covariance matrix, NaN -> 0, clipped to [-1, 1]."""
    c = np.cov(a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = c[0, 1] / np.sqrt(c[0, 0] * c[1, 1])
    return float(np.clip(np.nan_to_num(r), -1.0, 1.0))


def ccc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    vals = []
    for c in range(y_true.shape[1]):
        t, p = y_true[:, c], y_pred[:, c]
        r = _pearson_nan0(t, p)
        num = 2 * r * np.std(t) * np.std(p)
        den = np.var(t) + np.var(p) + (np.mean(t) - np.mean(p)) ** 2
        vals.append(num / (den + 1e-8))
    return float(np.mean(vals))


def _sum_of_best(pred, listener, neighbours, score, best):
    """Per row: the sum over its predictions of the best ``score(prediction, listener)`` over the row's
    appropriate listeners (``neighbours``); and the mean over rows."""
    pred = pred.astype(np.float32); listener = listener.astype(np.float32)
    per_row = []
    for k in range(pred.shape[0]):
        nb = np.argwhere(neighbours[k] == 1).reshape(-1)
        total = 0.0
        for i in range(pred.shape[1]):
            total += best(score(pred[k, i], listener[j]) for j in nb)
        per_row.append(total)
    return float(np.mean(per_row)), per_row


def frcorr(pred, listener, neighbours):
    return _sum_of_best(pred, listener, neighbours, lambda p, l: ccc(l, p), max)


def frdist(pred, listener, neighbours):
    from tslearn.metrics import dtw

    def weighted_dtw(p, l):
        res = 0.0
        for st, ed, w in [(0, 15, 1 / 15), (15, 17, 1), (17, 25, 1 / 8)]:
            res += w * dtw(p[:, st:ed], l[:, st:ed])
        return res

    return _sum_of_best(pred, listener, neighbours, weighted_dtw, min)


def frdiv(pred):
    pred = pred.astype(np.float32).astype(np.float64)
    r, p, t, c = pred.shape
    if p == 1:
        return 0.0
    vals = []
    for k in range(r):
        s = 0.0
        for a in range(p):
            for b in range(p):
                s += ((pred[k, a] - pred[k, b]) ** 2).sum()
        vals.append(s / (p * (p - 1) * t * c))
    return float(np.mean(vals))


def frvar(pred):
    pred = pred.astype(np.float32).astype(np.float64)
    return float(np.mean(np.var(pred, axis=2, ddof=1)))


def frdvs(pred):
    pred = pred.astype(np.float32).astype(np.float64)
    r, p, t, c = pred.shape
    s = 0.0
    for i in range(p):
        for k in range(r):
            for l in range(r):
                s += ((pred[k, i] - pred[l, i]) ** 2).sum()
    return float(s / (r * (r - 1) * p) / (t * c))


def _shift(x, y, lag):
    if lag > 0:
        return x[lag:], y[:-lag]
    if lag < 0:
        return x[:lag], y[-lag:]
    return x, y


def tlcc_offset(pred_seq, sp_seq, max_lag: int = 49):
    rs = []
    for lag in range(-max_lag, max_lag + 1):
        pcc = []
        for c in range(sp_seq.shape[1]):
            a, b = _shift(pred_seq[:, c], sp_seq[:, c], lag)
            with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                pcc.append(np.corrcoef(a, b)[0, 1] if len(a) > 0 else np.nan)
        rs.append(np.float32(np.mean(np.asarray(pcc, dtype=np.float32).astype(np.float64))))
    rs = np.asarray(rs, dtype=np.float32)
    return abs(len(rs) // 2 - int(np.argmax(rs)))


def frsyn(pred, speaker):
    """Official quirk: only the first prediction of each row is used."""
    pred = pred.astype(np.float32); speaker = speaker.astype(np.float32)
    offs = [tlcc_offset(pred[k, 0], speaker[k]) for k in range(pred.shape[0])]
    return float(np.mean(offs)), offs


def all_metrics(pred, listener, speaker, neighbours):
    return {
        "FRCorr": frcorr(pred, listener, neighbours)[0],
        "FRDist": frdist(pred, listener, neighbours)[0],
        "FRDiv": frdiv(pred),
        "FRVar": frvar(pred),
        "FRDvs": frdvs(pred),
        "FRSyn": frsyn(pred, speaker)[0],
    }


def resample_literal(x: np.ndarray, length: int) -> np.ndarray:
    """A ground truth resampled to ``length`` frames channel by channel with np.interp; AUs >= 0.5; expression
    probabilities clipped at 0 and divided by their sum (uniform when the sum is 0)."""
    x = np.asarray(x, np.float64)
    if len(x) == length:
        return x
    src = np.arange(len(x), dtype=np.float64)
    dst = np.linspace(0.0, len(x) - 1, length)
    y = np.stack([np.interp(dst, src, x[:, c]) for c in range(x.shape[1])], axis=1)
    for t in range(length):
        y[t, :15] = [1.0 if v >= 0.5 else 0.0 for v in y[t, :15]]
        e = np.maximum(y[t, 17:], 0.0)
        y[t, 17:] = e / e.sum() if e.sum() > 0 else 1.0 / len(e)
    return y


def ragged_metrics(preds, speakers, gt_sets, alignment="resample", corrected=False, max_lag=49):
    """Clips of any length (mafrg.metrics.ragged's definitions), one pair at a time: ``preds[k]`` (P, T_k, 25),
    ``speakers[k]`` (T_k, 25), ``gt_sets[k]`` a list of (T_j, 25). Returns the per-row values of each metric."""
    from tslearn.metrics import dtw

    out = {k: [] for k in ("FRCorr", "FRDist", "FRDiv", "FRVar", "FRSyn")}
    for x, sp, gts in zip(preds, speakers, gt_sets):
        x = np.asarray(x, np.float32)
        if alignment == "resample":
            n = x.shape[1]
            gts = [resample_literal(g, n) for g in gts]
        else:
            n = min([x.shape[1]] + [len(g) for g in gts])
            gts = [np.asarray(g)[:n] for g in gts]
        gts = [np.asarray(g, np.float32) for g in gts]
        corr, dist = 0.0, 0.0
        for i in range(x.shape[0]):
            p = x[i, :n]
            corr += max(ccc(g, p) for g in gts)
            dist += min(sum(w * dtw(p[:, a:b], g[:, a:b]) for a, b, w in [(0, 15, 1 / 15), (15, 17, 1), (17, 25, 1 / 8)])
                        for g in gts)
        out["FRCorr"].append(corr)
        out["FRDist"].append(dist)
        out["FRDiv"].append(frdiv(x[None]))
        out["FRVar"].append(frvar(x[None]))
        if corrected:
            offs = [tlcc_offset_corrected(x[i], sp, max_lag) for i in range(x.shape[0])]
            offs = [o for o in offs if o == o]
            out["FRSyn"].append(float(np.mean(offs)) if offs else float("nan"))
        else:
            out["FRSyn"].append(float(tlcc_offset(x[0], np.asarray(sp, np.float32), max_lag)))
    return out


def tlcc_offset_corrected(pred_seq, sp_seq, max_lag):
    """The corrected TLCC: constant channels left out of each lag's mean; NaN when no lag has a valid channel."""
    best, best_lag = -np.inf, None
    for lag in range(-max_lag, max_lag + 1):
        vals = []
        for c in range(sp_seq.shape[1]):
            a, b = _shift(np.asarray(pred_seq[:, c], np.float64), np.asarray(sp_seq[:, c], np.float32).astype(np.float64), lag)
            if len(a) < 2 or a.std() == 0 or b.std() == 0:
                continue
            vals.append(float(np.float32(np.clip(np.corrcoef(a, b)[0, 1], -1, 1))))
        if vals and np.mean(vals) > best:
            best, best_lag = np.mean(vals), lag
    return float("nan") if best_lag is None else float(abs(best_lag))
