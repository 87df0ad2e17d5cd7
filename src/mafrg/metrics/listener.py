"""The metrics of the Efficient Listener paper (learning-to-listen protocol, Ng et al. 2022) on 3DMM.

All on the first 52 (expression) and the rotation (pitch, yaw, roll) coefficients of every prediction:

* L2 (expression, rotation): per frame, the Euclidean distance between a prediction and the true listener,
  averaged over frames, predictions and rows (lower is closer to the real reaction);
* FD (expression, rotation): Fréchet distance between the Gaussian fits of all predicted frames and all true
  listener frames of the split (realism of the frame distribution);
* SI: Shannon index (entropy, nats) of the k-means cluster assignments of predicted expression frames; the
  clusters are fitted on the *training* listener frames (diversity; higher is more varied);
* TLCC lag: mean |lag| (frames, within ±49) of the peak time-lagged cross-correlation between the speaker's
  and the predicted listener's expression+rotation (synchrony; the same TLCC as FRSyn, on 3DMM channels,
  corrected protocol: constant channels are left out).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from mafrg.constants import N_3DMM_EXPRESSION, ROTATION_SLICE
from mafrg.metrics.core import tlcc_offsets

EXPR = slice(0, N_3DMM_EXPRESSION)
ROT = ROTATION_SLICE
KEYS = ("L2_expression", "L2_rotation", "FD_expression", "FD_rotation", "SI", "TLCC_lag")


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) for Gaussian fits (the FID formula).

    Tr((S1 S2)^(1/2)) is computed as the sum of square roots of the eigenvalues of the symmetric PSD matrix
    S1^(1/2) S2 S1^(1/2) (same eigenvalues as S1 S2): no complex parts and no failure on singular covariances
    (frames with constant coefficients), unlike a general matrix square root of S1 S2.
    """
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    w, v = linalg.eigh(cov1)
    root1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    ev = linalg.eigvalsh(root1 @ cov2 @ root1)
    tr_covmean = float(np.sqrt(np.clip(ev, 0.0, None)).sum())
    # >= 0 mathematically; round-off on identical distributions can leave -1e-6
    return max(0.0, float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_covmean))


def gaussian_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float64).reshape(-1, x.shape[-1])
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


@dataclass
class ExpressionClusters:
    """k-means centres fitted on training listener expression frames (for SI)."""

    centres: np.ndarray  # (k, 52)

    @classmethod
    def fit(cls, train_listener_tdmm: np.ndarray, k: int = 15, seed: int = 0, max_frames: int = 50_000):
        from sklearn.cluster import KMeans

        x = np.asarray(train_listener_tdmm, np.float64)[..., EXPR].reshape(-1, N_3DMM_EXPRESSION)
        if len(x) > max_frames:  # an even subsample keeps k-means fast on REACT-sized training sets
            x = x[np.linspace(0, len(x) - 1, max_frames).astype(int)]
        km = KMeans(n_clusters=min(k, len(x)), n_init=4, random_state=seed).fit(x)
        return cls(km.cluster_centers_)

    def assign(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64).reshape(-1, self.centres.shape[1])
        d = (x**2).sum(1)[:, None] - 2 * x @ self.centres.T + (self.centres**2).sum(1)[None]
        return d.argmin(axis=1)


def shannon_index(counts: np.ndarray) -> float:
    """Entropy (nats) of a distribution given by counts per cluster."""
    p = np.asarray(counts, np.float64) / max(1, int(np.sum(counts)))
    p = p[p > 0]
    return float(-(p * np.log(p)).sum()) + 0.0  # + 0.0: a single cluster gives 0.0, not -0.0


class ListenerMetrics:
    """Streams prediction shards (rows, P, T, 58) and accumulates every metric; ``value()`` at the end."""

    def __init__(self, clusters: ExpressionClusters):
        self.clusters = clusters
        self.l2 = {"expression": 0.0, "rotation": 0.0}
        self.n_l2 = 0
        self.moments = {g: [0, 0.0, 0.0] for g in ("expression", "rotation")}  # n, sum, sum of outer products
        self.counts = np.zeros(len(clusters.centres), np.int64)
        self.lags: list[np.ndarray] = []

    def update(self, pred: np.ndarray, listener: np.ndarray, speaker: np.ndarray) -> None:
        """pred (r, P, T, 58); listener and speaker (r, T, 58) of the same rows."""
        x = np.asarray(pred, np.float64)
        y = np.asarray(listener, np.float64)[:, None]
        for g, sl in (("expression", EXPR), ("rotation", ROT)):
            self.l2[g] += float(np.sqrt(((x[..., sl] - y[..., sl]) ** 2).sum(-1)).mean(axis=-1).sum())
            f = x[..., sl].reshape(-1, sl.stop - sl.start)
            m = self.moments[g]
            m[0] += len(f)
            m[1] = m[1] + f.sum(axis=0)
            m[2] = m[2] + f.T @ f
        self.n_l2 += x.shape[0] * x.shape[1]
        self.counts += np.bincount(self.clusters.assign(x[..., EXPR]), minlength=len(self.counts))
        chans = np.r_[0:N_3DMM_EXPRESSION, ROT.start:ROT.stop]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.lags.append(tlcc_offsets(x[..., chans], np.asarray(speaker, np.float64)[..., chans], corrected=True).ravel())

    def value(self, real_listener: np.ndarray) -> dict[str, float]:
        """real_listener: (R, T, 58) true listener frames of the whole split (the FD reference)."""
        out = {f"L2_{g}": v / max(1, self.n_l2) for g, v in self.l2.items()}
        real = np.asarray(real_listener, np.float64)
        for g, sl in (("expression", EXPR), ("rotation", ROT)):
            n, s, ss = self.moments[g]
            mu = s / n
            cov = (ss - n * np.outer(mu, mu)) / max(1, n - 1)
            out[f"FD_{g}"] = frechet_distance(mu, cov, *gaussian_fit(real[..., sl]))
        out["SI"] = shannon_index(self.counts)
        lags = np.concatenate(self.lags) if self.lags else np.array([np.nan])
        out["TLCC_lag"] = float(np.nanmean(lags)) if np.isfinite(lags).any() else float("nan")
        return {k: out[k] for k in KEYS}
