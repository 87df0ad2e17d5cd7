"""The fast metric engine: the REACT 2024 metrics, streamed over chunks of rows.

Inputs: pred (R, P, T, 25), listener (R, T, 25), speaker (R, T, 25), neighbours (R, R) 0/1, where R = 2N
mirrored rows and P = 10 predictions. Definitions (those of the official REACT 2024 code, quirks included):

* FRCorr = mean_k sum_i max_{j in A(k)} CCC(listener_j, pred[k, i]); CCC per channel averaged over 25
  channels, 2 r s_t s_p / (s_t^2 + s_p^2 + (m_t - m_p)^2 + 1e-8), ddof 0, r with NaN -> 0, clipped.
* FRDist = mean_k sum_i min_{j in A(k)} [DTW(AU 0:15)/15 + DTW(VA 15:17) + DTW(expr 17:25)/8], tslearn DTW.
* FRDiv (S-MSE) = mean_k sum_{a,b} ||X_a - X_b||^2 / (P (P-1) T C); 0 when P = 1.
* FRVar = mean over (row, prediction, channel) of the unbiased variance over time.
* FRDvs = sum_i sum_{k,l} ||X_ki - X_li||^2 / (R (R-1) P) / (T C).
* FRSyn = mean |TLCC offset| over lags -49..49 -- on each row's first prediction only (react2024
  protocol), or on all predictions with constant channels excluded (``corrected`` protocol).

The predictions may be a read-only memory map: only ``chunk_rows`` rows are in memory at a time.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from mafrg.progress import tqdm

from mafrg.constants import N_EMOTION
from mafrg.metrics import core
from mafrg.metrics.table import ENGINE, ENGINE_PER_ROW

log = logging.getLogger(__name__)
PROTOCOLS = ("react2024", "react2025", "corrected")  # react2025: clips of any length (metrics.ragged)


CHALLENGE_PREDICTIONS = 10  # alpha of the REACT protocol


class MetricInputError(ValueError):
    """Shapes or values of the metric inputs do not fit together."""


@dataclass
class MetricResult:
    metrics: dict[str, float]
    per_row: dict[str, np.ndarray]  # FRCorr, FRDist, FRDiv, FRVar, FRSyn contributions of each row
    protocol: str
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: float(v) for k, v in self.metrics.items()},
            "protocol": self.protocol,
            "per_row": {k: [float(x) for x in v] for k, v in self.per_row.items()},
            "info": self.info,
        }


def check_inputs(pred: np.ndarray, listener: np.ndarray, speaker: np.ndarray, neighbours: np.ndarray,
                 names: dict[str, str] | None = None, start: int = 0, n_rows: int | None = None) -> None:
    """Raise MetricInputError naming the input (file) and the problem when shapes do not fit.

    ``pred`` holds rows ``start ..`` of a split of ``n_rows`` rows (default: the whole split, from row 0)."""
    n = {"pred": "pred", "listener": "listener", "speaker": "speaker", "neighbours": "neighbours"} | (names or {})
    if pred.ndim != 4:
        raise MetricInputError(f"{n['pred']}: expected shape (rows, predictions, T, {N_EMOTION}), found {pred.shape}")
    _, p, t, c = pred.shape
    r = pred.shape[0] if n_rows is None else n_rows
    if c != N_EMOTION:
        raise MetricInputError(f"{n['pred']}: expected {N_EMOTION} emotion channels in the last axis, found {c}")
    if p < 1 or t < 2:
        raise MetricInputError(f"{n['pred']}: need at least 1 prediction and 2 frames, found shape {pred.shape}")
    for key, arr in (("listener", listener), ("speaker", speaker)):
        if arr.shape != (r, t, c):
            raise MetricInputError(f"{n[key]}: expected shape {(r, t, c)} to match {n['pred']} {pred.shape}, found {arr.shape}")
        if not np.isfinite(arr).all():
            raise MetricInputError(f"{n[key]}: contains NaN or inf")
    if neighbours.shape != (r, r):
        raise MetricInputError(f"{n['neighbours']}: expected shape ({r}, {r}) for {r} rows, found {neighbours.shape}")
    if not (0 <= start and start + pred.shape[0] <= r):
        raise MetricInputError(f"{n['pred']}: rows {start}..{start + pred.shape[0] - 1} are outside the split's {r} rows")
    vals = np.unique(neighbours)
    if not np.isin(vals, (0, 1)).all():
        raise MetricInputError(f"{n['neighbours']}: values must be 0/1 (appropriate or not), found {vals[:10].tolist()}")
    empty = np.flatnonzero((neighbours != 0).sum(axis=1) == 0)
    if len(empty):
        raise MetricInputError(f"{n['neighbours']}: row(s) {empty[:10].tolist()} have no appropriate reaction")


def _set_threads(threads: int | None) -> None:
    if threads:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _by_rows(fn, arrays: tuple[np.ndarray, ...], threads: int):
    """fn(*arrays) computed on row pieces in ``threads`` threads (numpy releases the GIL) and concatenated.

    Rows are independent in these metrics and each row's arithmetic does not depend on how many rows are
    in its piece, so the result is bit-identical to one call."""
    r = len(arrays[0])
    if threads <= 1 or r < 2:
        return fn(*arrays)
    from concurrent.futures import ThreadPoolExecutor

    bounds = np.linspace(0, r, min(threads, r) + 1).astype(int)
    with ThreadPoolExecutor(len(bounds) - 1) as pool:
        parts = list(pool.map(lambda i: fn(*(x[bounds[i]:bounds[i + 1]] for x in arrays)), range(len(bounds) - 1)))
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(z) for z in zip(*parts))
    return np.concatenate(parts)


@dataclass
class RowContributions:
    """What rows ``start .. start + n - 1`` add to the split-level metrics (one evaluation shard).

    Per-row values are the ones the split-level metrics average; FRDvs, which compares rows with each other,
    is carried as a mergeable accumulator state, so shards can be evaluated independently and aggregated.
    """

    start: int
    per_row: dict[str, np.ndarray]  # FRCorr, FRDist, FRDiv, FRVar, FRSyn of each row
    dvs: "core.FRDvsAccumulator"
    pruning: np.ndarray  # FRDist work: (pairs computed in full, cost-matrix cells x channels computed)
    n_pred: int
    n_ch: int
    pairs_total: int
    frames: int = 0
    kernel: str = ""  # which FRDist kernel ran (native or numba)
    ragged: bool = False  # rows of different lengths (metrics.ragged): FRDvs is not defined

    @property
    def rows(self) -> range:
        return range(self.start, self.start + len(self.per_row["FRCorr"]))


def contributions(
    pred: np.ndarray,
    listener: np.ndarray,
    speaker: np.ndarray,
    neighbours: np.ndarray,
    start: int = 0,
    protocol: str = "react2024",
    chunk_rows: int = 32,
    threads: int | None = None,
    progress: bool = True,
    names: dict[str, str] | None = None,
    n_rows: int | None = None,
) -> RowContributions:
    """Per-row metric contributions of ``pred`` = predictions of rows ``start .. start + len(pred) - 1``.

    ``listener``, ``speaker`` and ``neighbours`` cover the whole split of ``n_rows`` rows (default: as many as
    ``listener`` has; appropriate reactions may be any row's).
    ``pred`` may be a memmap; it is read ``chunk_rows`` rows at a time.
    """
    if protocol not in PROTOCOLS:
        raise MetricInputError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")
    check_inputs(pred, listener, speaker, neighbours, names, start,
                 n_rows if n_rows is not None else (listener.shape[0] if listener.ndim else None))
    _set_threads(threads)
    r, n_pred, t_len, n_ch = pred.shape
    lst = core.ListenerStats(listener)
    nb_lists = [np.flatnonzero(neighbours[start + k]) for k in range(r)]
    per_row = {k: np.empty(r) for k in ENGINE_PER_ROW}
    dvs = core.FRDvsAccumulator()
    pruning = np.zeros(2, np.int64)
    kernels: set[str] = set()
    n_threads = threads or default_threads()
    corrected = protocol == "corrected"
    for a in tqdm(range(0, r, chunk_rows), desc="metrics", unit="chunk", disable=not progress):
        b = min(r, a + chunk_rows)
        chunk = np.asarray(pred[a:b])
        if not np.isfinite(chunk).all():
            bad = start + a + int(np.flatnonzero(~np.isfinite(chunk).reshape(b - a, -1).all(axis=1))[0])
            raise MetricInputError(f"{(names or {}).get('pred', 'pred')}: NaN or inf in row {bad}")
        nbs = nb_lists[a:b]
        per_row["FRCorr"][a:b] = core.ccc_max_sum(chunk, lst, nbs)
        per_row["FRDist"][a:b], st, kernel = core.dtw_min_sum(chunk, lst, nbs, n_threads)
        pruning += st
        kernels.add(kernel)
        frdiv, var_sum = _by_rows(core.diversity_terms, (chunk,), n_threads)
        per_row["FRDiv"][a:b] = frdiv
        per_row["FRVar"][a:b] = var_sum / (n_pred * n_ch)
        dvs.update(chunk)
        sp = np.asarray(speaker[start + a : start + b])
        if corrected:
            off = _by_rows(lambda x, y: core.tlcc_offsets(x, y, corrected=True), (chunk, sp), n_threads)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # rows without any valid lag stay NaN
                per_row["FRSyn"][a:b] = np.nanmean(off, axis=1)
        else:
            per_row["FRSyn"][a:b] = _by_rows(core.tlcc_offsets, (chunk[:, :1], sp), n_threads)[:, 0]
    return RowContributions(start=start, per_row=per_row, dvs=dvs, pruning=pruning, n_pred=n_pred, n_ch=n_ch,
                            pairs_total=int(sum(len(x) for x in nb_lists) * n_pred), frames=t_len,
                            kernel="+".join(sorted(kernels)))


def aggregate(parts: list[RowContributions], n_rows: int, protocol: str, frames: int | None = None) -> MetricResult:
    """Split-level metrics from shards that together cover rows 0 .. n_rows - 1 exactly once."""
    from mafrg.sharding import coverage_problem

    parts = sorted(parts, key=lambda p: p.start)
    problem = coverage_problem([(p.rows.start, p.rows.stop) for p in parts], n_rows)
    if problem:
        raise MetricInputError(f"evaluation shards do not cover the split's {n_rows} rows once each ({problem})")
    if len({(p.n_pred, p.n_ch) for p in parts}) != 1:
        raise MetricInputError("evaluation shards disagree on the number of predictions or channels")
    per_row = {k: np.concatenate([p.per_row[k] for p in parts]) for k in parts[0].per_row}
    dvs = core.FRDvsAccumulator()
    for p in parts:
        if p.dvs.mean is not None:
            dvs.merge(p.dvs.count, p.dvs.mean, p.dvs.m2)
    frsyn = per_row["FRSyn"]
    metrics = {
        "FRCorr": float(per_row["FRCorr"].mean()),
        "FRDist": float(per_row["FRDist"].mean()),
        "FRDiv": float(per_row["FRDiv"].mean()),
        "FRVar": float(per_row["FRVar"].mean()),
        "FRDvs": float("nan") if any(p.ragged for p in parts) else dvs.value(),
        "FRSyn": float(np.nanmean(frsyn)) if np.isfinite(frsyn).any() else float("nan"),
    }
    pruning = np.sum([p.pruning for p in parts], axis=0)
    pairs_total = sum(p.pairs_total for p in parts)
    cells_total = sum(p.pairs_total * p.frames**2 * p.n_ch for p in parts)
    info = {
        "rows": n_rows, "predictions": parts[0].n_pred, "frames": frames,
        "neighbours_per_row": pairs_total / max(1, n_rows * parts[0].n_pred),
        "dtw_pairs_total": pairs_total, "dtw_pairs_completed": int(pruning[0]),
        # share of the cost-matrix cells x channels of all (prediction, neighbour) pairs actually computed
        "dtw_work_fraction": float(pruning[1] / cells_total) if cells_total else float("nan"),
        "frdist_kernel": "+".join(sorted({k for p in parts for k in p.kernel.split("+") if k})) or "unknown",
        "shards": len(parts),
    }
    if protocol == "corrected":
        info["frsyn_rows_without_valid_lag"] = int(np.isnan(frsyn).sum())
    if parts[0].n_pred < CHALLENGE_PREDICTIONS:
        info["warnings"] = [f"{parts[0].n_pred} reactions per speaker clip, not the challenge's "
                            f"{CHALLENGE_PREDICTIONS}: FRCorr and FRDist sum over the reactions, so these values "
                            "are not comparable with challenge results"]
        log.warning(info["warnings"][0])
    assert set(metrics) == set(ENGINE)
    log.info("metrics (%s): %s", protocol, {k: round(v, 5) for k, v in metrics.items()})
    return MetricResult(metrics=metrics, per_row=per_row, protocol=protocol, info=info)


def evaluate(
    pred: np.ndarray,
    listener: np.ndarray,
    speaker: np.ndarray,
    neighbours: np.ndarray,
    protocol: str = "react2024",
    chunk_rows: int = 32,
    threads: int | None = None,
    progress: bool = True,
    names: dict[str, str] | None = None,
) -> MetricResult:
    """All six metrics of a whole split in one call (one shard covering every row)."""
    part = contributions(pred, listener, speaker, neighbours, 0, protocol, chunk_rows, threads, progress, names,
                         n_rows=pred.shape[0] if pred.ndim == 4 else None)
    return aggregate([part], pred.shape[0], protocol, frames=pred.shape[2])


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
