"""FRDist's inner minimum for a chunk of rows: per prediction, the minimum over the row's appropriate
reactions of DTW(AU)/15 + DTW(VA) + DTW(expr)/8 (tslearn's DTW).

Two implementations of the same definition: the compiled lane kernel (``_frdist.c``, built by
``native.py``), and the numba kernel (``dtw.py``) when no C compiler is available. They agree to ~1e-9
relative (the compiled kernel's float32 local costs bound its error by ~(C+2) 2^-24 ~ 1e-6 relative).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mafrg.constants import FRDIST_GROUPS

log = logging.getLogger(__name__)

COARSE_FRAMES = 30  # length of the frame-averaged copies whose DTW orders the work (an estimate, not a bound)
QUERIES_PER_CALL = 64  # predictions per kernel call: enough to keep its 16 lanes busy, small enough to balance threads


def coarse(x: np.ndarray, frames: int = COARSE_FRAMES) -> np.ndarray:
    """(..., T, C) -> (..., Tc, C) float32 averages of consecutive frames, Tc = T // max(1, T // frames)."""
    t = x.shape[-2]
    f = max(1, t // frames)
    tc = t // f
    out = np.asarray(x[..., : tc * f, :], np.float32).reshape(*x.shape[:-2], tc, f, x.shape[-1]).mean(axis=-2)
    return np.ascontiguousarray(out, dtype=np.float32)


def _groups() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo = np.array([g[0] for g in FRDIST_GROUPS], np.int32)
    hi = np.array([g[1] for g in FRDIST_GROUPS], np.int32)
    w = np.array([g[2] for g in FRDIST_GROUPS], np.float64)
    return lo, hi, w


def _native(lib, x32: np.ndarray, lst, neighbour_lists: list[np.ndarray], threads: int) -> tuple[np.ndarray, np.ndarray]:
    r, n_pred, t_len, n_ch = x32.shape
    lo, hi, w = _groups()
    y32, ybox, ycoarse = lst.values32, lst.box, lst.coarse32
    if y32.shape[1:] != (t_len, n_ch):  # the kernel indexes the listener with the predictions' T and C
        raise ValueError(f"listener {y32.shape} does not match predictions {x32.shape}")
    xc = coarse(x32)
    tc = xc.shape[-2]
    rows_per_call = max(1, -(-QUERIES_PER_CALL // n_pred))
    pieces = [range(a, min(r, a + rows_per_call)) for a in range(0, r, rows_per_call)]
    best = np.empty((r, n_pred))
    stats = np.zeros((len(pieces), 6 + len(lo)), np.int64)  # the kernel's counters (see _frdist.c)

    def run(pi: int) -> None:
        rows = pieces[pi]
        xs = np.ascontiguousarray(x32[rows.start : rows.stop].reshape(-1, t_len, n_ch))
        xcs = np.ascontiguousarray(xc[rows.start : rows.stop].reshape(-1, tc, n_ch))
        lists = [neighbour_lists[k] for k in rows for _ in range(n_pred)]
        ptr = np.zeros(len(lists) + 1, np.int64)
        ptr[1:] = np.cumsum([len(v) for v in lists])
        idx = np.ascontiguousarray(np.concatenate(lists), np.int64) if lists else np.zeros(0, np.int64)
        out = np.empty(len(lists))
        rc = lib.mafrg_frdist(
            xs.ctypes.data, len(lists), y32.ctypes.data, ybox.ctypes.data, xcs.ctypes.data, ycoarse.ctypes.data, tc,
            ptr.ctypes.data, idx.ctypes.data, t_len, n_ch, lo.ctypes.data, hi.ctypes.data, w.ctypes.data, len(lo),
            out.ctypes.data, stats[pi].ctypes.data,
        )
        if rc == -1:
            raise MemoryError(f"FRDist kernel: out of memory on rows {rows.start}..{rows.stop - 1}")
        if rc != 0:
            raise ValueError(f"FRDist kernel refused its input (code {rc}: more than 8 channel groups?)")
        best[rows.start : rows.stop] = out.reshape(len(rows), n_pred)

    if threads > 1 and len(pieces) > 1:
        with ThreadPoolExecutor(min(threads, len(pieces))) as pool:  # the kernel releases the GIL (ctypes)
            list(pool.map(run, range(len(pieces))))
    else:
        for pi in range(len(pieces)):
            run(pi)
    st = stats.sum(axis=0)
    return best, np.array([st[1], st[5]], np.int64)  # jobs completed, cells x channels


def _numba(x32: np.ndarray, lst, neighbour_lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    from mafrg.metrics.dtw import min_weighted_dtw

    r, n_pred = x32.shape[:2]
    x = np.ascontiguousarray(x32, np.float64)
    ptr = np.zeros(r + 1, np.int64)
    ptr[1:] = np.cumsum([len(js) for js in neighbour_lists])
    idx = np.concatenate(neighbour_lists).astype(np.int64) if r else np.zeros(0, np.int64)
    lo, hi, w = _groups()
    out = np.empty((r, n_pred))
    stats = np.zeros((r * n_pred, 2), np.int64)
    min_weighted_dtw(x, lst.values, lst.values_t, ptr, idx, lo.astype(np.int64), hi.astype(np.int64), w, out, stats)
    return out, stats.sum(axis=0)


def min_weighted_dtw(x32: np.ndarray, lst, neighbour_lists: list[np.ndarray], threads: int = 1
                     ) -> tuple[np.ndarray, np.ndarray, str]:
    """best (r, P), work [pairs computed in full, cost-matrix cells x channels computed], kernel name.

    x32: predictions of r rows (r, P, T, C) as float32 values; lst: ListenerStats of the split; neighbour
    lists: the appropriate rows of each of the r rows.
    """
    from mafrg.metrics.native import frdist_library

    lib = frdist_library()
    if lib is None:
        out, work = _numba(x32, lst, neighbour_lists)
        return out, work, "numba"
    out, work = _native(lib, np.ascontiguousarray(x32, np.float32), lst, neighbour_lists, threads)
    return out, work, "native"
