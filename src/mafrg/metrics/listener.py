"""The metrics of the Efficient Listener paper (learning-to-listen protocol, Ng et al. 2022) on 3DMM.

All on the first 52 (expression) and the rotation (pitch, yaw, roll) coefficients of every prediction. Two
definitions (``evaluation.listener_protocol``); the report says which one it shows.

``mafrg`` (default):

* L2 (expression, rotation): per frame, the Euclidean distance between a prediction and the true listener,
  averaged over frames, predictions and rows (lower is closer to the real reaction);
* FD (expression, rotation): Fréchet distance between the Gaussian fits of all predicted frames and all true
  listener frames of the split (realism of the frame distribution);
* SI, SI_rotation: Shannon index (entropy, nats) of the k-means cluster assignments of predicted expression /
  rotation frames, k = ``si_clusters``, clusters fitted on the *training* listener frames (diversity);

``l2l``, the public re-implementation of the protocol (Dyadic-Interaction-Modeling, ``metrics/eval_utils.py``
and ``test_l2l.py``):

* L2: the mean squared difference per sequence (over frames and coefficients), averaged over sequences;
* FD: per sequence, the Fréchet distance between the Gaussian fits of the predicted and the true listener's
  frames, averaged over sequences;
* SI: k-means with k = 40 (expression) / 20 (rotation) fitted on the *evaluated split's* true listener frames
  (random_state 0), entropy in bits (log2) of the predicted frames' histogram (the code adds 1e-6 inside the
  log; here empty clusters are left out, which differs by < 1e-4 bits).

Both: TLCC lag: mean |lag| (frames, within ±49) of the peak time-lagged cross-correlation between the
speaker's and the predicted listener's expression+rotation (synchrony; the same TLCC as FRSyn, on 3DMM
channels, corrected protocol: constant channels are left out).
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
KEYS = ("L2_expression", "L2_rotation", "FD_expression", "FD_rotation", "SI", "SI_rotation", "TLCC_lag")
PROTOCOLS = ("mafrg", "l2l")
L2L_CLUSTERS = {"expression": 40, "rotation": 20}


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
    """k-means centres fitted on listener expression (or rotation: ``part=ROT``) frames, for SI."""

    centres: np.ndarray  # (k, 52) or (k, 3)

    @classmethod
    def fit(cls, listener_tdmm: np.ndarray, k: int = 15, seed: int = 0, max_frames: int = 50_000,
            part: slice = EXPR):
        from sklearn.cluster import KMeans

        x = np.asarray(listener_tdmm, np.float64)[..., part].reshape(-1, part.stop - part.start)
        if len(x) > max_frames:  # an even subsample keeps k-means fast on REACT-sized training sets
            x = x[np.linspace(0, len(x) - 1, max_frames).astype(int)]
        km = KMeans(n_clusters=min(k, len(x)), n_init=4, random_state=seed).fit(x)
        return cls(km.cluster_centers_)

    def assign(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64).reshape(-1, self.centres.shape[1])
        d = (x**2).sum(1)[:, None] - 2 * x @ self.centres.T + (self.centres**2).sum(1)[None]
        return d.argmin(axis=1)


def shannon_index(counts: np.ndarray, base: float = np.e) -> float:
    """Entropy (nats; bits with base 2) of a distribution given by counts per cluster."""
    p = np.asarray(counts, np.float64) / max(1, int(np.sum(counts)))
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() / np.log(base)) + 0.0  # + 0.0: a single cluster gives 0.0, not -0.0


def fit_clusters(protocol: str, train_listener_tdmm: np.ndarray, split_listener_tdmm: np.ndarray,
                 k: int) -> dict[str, ExpressionClusters]:
    """The SI clusters of a protocol: training frames and k (mafrg), or the split's frames and 40 / 20 (l2l)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown listener protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    if protocol == "l2l":
        return {g: ExpressionClusters.fit(split_listener_tdmm, L2L_CLUSTERS[g], seed=0, part=sl)
                for g, sl in (("expression", EXPR), ("rotation", ROT))}
    return {g: ExpressionClusters.fit(train_listener_tdmm, k, seed=0, part=sl)
            for g, sl in (("expression", EXPR), ("rotation", ROT))}


class ListenerMetrics:
    """Streams prediction shards (rows, P, T, 58) and accumulates every metric; ``value()`` at the end."""

    def __init__(self, clusters: dict[str, ExpressionClusters] | ExpressionClusters, protocol: str = "mafrg"):
        if isinstance(clusters, ExpressionClusters):
            clusters = {"expression": clusters}
        self.clusters = clusters
        self.protocol = protocol
        self.l2 = {"expression": 0.0, "rotation": 0.0}
        self.n_l2 = 0
        self.moments = {g: [0, 0.0, 0.0] for g in ("expression", "rotation")}  # n, sum, sum of outer products
        self.fd_sum = {"expression": 0.0, "rotation": 0.0}  # l2l: per-sequence FDs
        self.counts = {g: np.zeros(len(c.centres), np.int64) for g, c in clusters.items()}
        self.lags: list[np.ndarray] = []

    def update(self, pred: np.ndarray, listener: np.ndarray, speaker: np.ndarray) -> None:
        """pred (r, P, T, 58); listener and speaker (r, T, 58) of the same rows."""
        x = np.asarray(pred, np.float64)
        y = np.asarray(listener, np.float64)[:, None]
        for g, sl in (("expression", EXPR), ("rotation", ROT)):
            d = x[..., sl] - y[..., sl]
            if self.protocol == "l2l":
                self.l2[g] += float((d**2).mean(axis=(-1, -2)).sum())
                for i in range(x.shape[0]):
                    real = gaussian_fit(y[i, 0, :, sl])
                    self.fd_sum[g] += sum(frechet_distance(*gaussian_fit(x[i, j, :, sl]), *real)
                                          for j in range(x.shape[1]))
            else:
                self.l2[g] += float(np.sqrt((d**2).sum(-1)).mean(axis=-1).sum())
            f = x[..., sl].reshape(-1, sl.stop - sl.start)
            m = self.moments[g]
            m[0] += len(f)
            m[1] = m[1] + f.sum(axis=0)
            m[2] = m[2] + f.T @ f
        self.n_l2 += x.shape[0] * x.shape[1]
        for g, c in self.clusters.items():
            sl = EXPR if g == "expression" else ROT
            self.counts[g] += np.bincount(c.assign(x[..., sl]), minlength=len(self.counts[g]))
        chans = np.r_[0:N_3DMM_EXPRESSION, ROT.start:ROT.stop]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.lags.append(tlcc_offsets(x[..., chans], np.asarray(speaker, np.float64)[..., chans], corrected=True).ravel())

    def value(self, real_listener: np.ndarray) -> dict[str, float]:
        """real_listener: (R, T, 58) true listener frames of the whole split (the FD reference)."""
        out = {f"L2_{g}": v / max(1, self.n_l2) for g, v in self.l2.items()}
        real = np.asarray(real_listener, np.float64)
        for g, sl in (("expression", EXPR), ("rotation", ROT)):
            if self.protocol == "l2l":
                out[f"FD_{g}"] = self.fd_sum[g] / max(1, self.n_l2)
                continue
            n, s, ss = self.moments[g]
            mu = s / n
            cov = (ss - n * np.outer(mu, mu)) / max(1, n - 1)
            out[f"FD_{g}"] = frechet_distance(mu, cov, *gaussian_fit(real[..., sl]))
        base = 2.0 if self.protocol == "l2l" else np.e
        out["SI"] = shannon_index(self.counts["expression"], base)
        out["SI_rotation"] = shannon_index(self.counts["rotation"], base) if "rotation" in self.counts else float("nan")
        lags = np.concatenate(self.lags) if self.lags else np.array([np.nan])
        out["TLCC_lag"] = float(np.nanmean(lags)) if np.isfinite(lags).any() else float("nan")
        return {k: out[k] for k in KEYS}
