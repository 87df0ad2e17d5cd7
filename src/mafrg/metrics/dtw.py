"""Exact minimum weighted DTW over appropriate rows (the inner loop of FRDist), compiled with numba.

This is the fallback of the compiled C kernel (``_frdist.c``, several times faster), used where no C compiler
is available or with ``MAFRG_FRDIST_KERNEL=numba``; it is also the readable statement of the pruning.

FRDist needs, for each prediction, ``min_j sum_g w_g * DTW(pred[:, g], listener_j[:, g])`` with tslearn's
DTW (squared Euclidean local cost, no window, square root of the final cumulative cost). Only the minimum
matters, so pairs that provably cannot beat the best so far are abandoned. Everything here is exact:

* lower bound per (pair, group): every warping path visits each row t of the cost matrix at least once,
  row 0 at cell (0, 0) and row T-1 at cell (T-1, T-1). So
  ``cost >= d(x_0, y_0) + d(x_{T-1}, y_{T-1}) + sum_{0<t<T-1} dist(x_t, box(y))^2`` where box(y) is the
  per-channel [min, max] of y over time (any y_s lies in it). The same holds with x and y swapped; the
  larger of the two is used.
* neighbours are visited in increasing order of their weighted lower bound; once that bound reaches the
  best exact value, the remaining ones are skipped;
* during the dynamic programme, after row i the final cost is at least ``min_j D[i, j]`` plus the box bound
  of rows i+1..T-1; a group is abandoned as soon as that exceeds what the group may still cost.

tslearn's own ``dtw`` is the reference the tests compare with; this kernel is ~15x faster than the official
per-pair loop on REACT-sized input because of the pruning and because it never leaves compiled code.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_INF = np.inf


@nb.njit(cache=True, fastmath=False)
def _sqdist(x, y, i, j, lo, hi):
    s = 0.0
    for c in range(lo, hi):
        d = x[i, c] - y[j, c]
        s += d * d
    return s


@nb.njit(cache=True)
def _box_terms(x, y, lo, hi, out):
    """out[t] = squared distance of x_t to the per-channel [min, max] box of y (channels lo:hi)."""
    t_len = y.shape[0]
    for c in range(lo, hi):
        mn = y[0, c]
        mx = y[0, c]
        for s in range(1, t_len):
            v = y[s, c]
            if v < mn:
                mn = v
            if v > mx:
                mx = v
        for t in range(x.shape[0]):
            v = x[t, c]
            if c == lo:
                out[t] = 0.0
            if v < mn:
                out[t] += (mn - v) * (mn - v)
            elif v > mx:
                out[t] += (v - mx) * (v - mx)


@nb.njit(cache=True)
def _lower_bound(x, y, lo, hi, tmp):
    """Lower bound on the squared cumulative DTW cost (see module docstring). Also leaves x's box
    terms in tmp for the caller's suffix sums."""
    n = x.shape[0]
    m = y.shape[0]
    corners = _sqdist(x, y, 0, 0, lo, hi)
    if n > 1 or m > 1:
        corners += _sqdist(x, y, n - 1, m - 1, lo, hi)
    _box_terms(y, x, lo, hi, tmp)
    lb_y = corners
    for s in range(1, m - 1):
        lb_y += tmp[s]
    _box_terms(x, y, lo, hi, tmp)
    lb_x = corners
    for t in range(1, n - 1):
        lb_x += tmp[t]
    return max(lb_x, lb_y)


@nb.njit(cache=True)
def _dtw_sq_abandon(x, y_t, lo, hi, bound_sq, suffix, prev, cur, drow):
    """(squared cumulative DTW cost of x[:, lo:hi] vs y[:, lo:hi], rows computed); inf once it must exceed bound_sq.

    y_t is y transposed to (C, T) so that a whole row of local costs is one vectorisable pass per channel;
    the per-cell sum still runs over channels in ascending order from 0.0, exactly as tslearn sums, so the
    result is bit-identical to tslearn's. suffix[i] = sum of x's box terms over rows i..n-1 (suffix[n] = 0),
    a lower bound of what rows i.. still add.
    """
    n = x.shape[0]
    m = y_t.shape[1]
    for j in range(m + 1):
        prev[j] = _INF
    prev[0] = 0.0
    for i in range(n):
        for j in range(m):
            drow[j] = 0.0
        for c in range(lo, hi):
            xv = x[i, c]
            for j in range(m):
                d = xv - y_t[c, j]
                drow[j] += d * d
        cur[0] = _INF
        row_min = _INF
        left = _INF
        for j in range(m):
            best = prev[j]
            if prev[j + 1] < best:
                best = prev[j + 1]
            if left < best:
                best = left
            left = drow[j] + best
            cur[j + 1] = left
            if left < row_min:
                row_min = left
        if row_min + suffix[i + 1] > bound_sq:
            return _INF, i + 1
        tmp = prev
        prev = cur
        cur = tmp
    return prev[m], n


@nb.njit(parallel=True, cache=True)
def min_weighted_dtw(pred, listener, listener_t, nb_ptr, nb_idx, group_lo, group_hi, group_w, out, stats):
    """out[k, p] = min over neighbours j of row k of sum_g w_g * DTW_g(pred[k, p], listener[j]).

    pred (r, P, T, C) float64; listener (R, T, C) float64 and listener_t, the same as (R, C, T); neighbours of row k are
    nb_idx[nb_ptr[k]:nb_ptr[k+1]]. stats[q] counts (pairs whose weighted DTW was computed in full, cost-matrix
    cells x channels computed).
    """
    r, n_pred, t_len, _ = pred.shape
    n_groups = group_lo.shape[0]
    for q in nb.prange(r * n_pred):
        k = q // n_pred
        p = q % n_pred
        x = pred[k, p]
        start = nb_ptr[k]
        n_nb = nb_ptr[k + 1] - start
        tmp = np.empty(t_len)
        prev = np.empty(listener.shape[1] + 1)
        cur = np.empty(listener.shape[1] + 1)
        drow = np.empty(listener.shape[1])
        suffix = np.empty((n_groups, t_len + 1))
        lbs = np.empty((n_nb, n_groups))
        wlb = np.empty(n_nb)
        for a in range(n_nb):
            y = listener[nb_idx[start + a]]
            tot = 0.0
            for g in range(n_groups):
                lb = _lower_bound(x, y, group_lo[g], group_hi[g], tmp)
                lbs[a, g] = lb
                tot += group_w[g] * np.sqrt(lb)
            wlb[a] = tot
        order = np.argsort(wlb)
        best = _INF
        cells = 0
        full = 0
        for oi in range(n_nb):
            a = order[oi]
            if wlb[a] >= best:
                break  # sorted: no remaining neighbour can be closer
            y = listener[nb_idx[start + a]]
            exact = 0.0
            rest_lb = wlb[a]
            abandoned = False
            for g in range(n_groups):
                lo = group_lo[g]
                hi = group_hi[g]
                w = group_w[g]
                rest_lb -= w * np.sqrt(lbs[a, g])
                if best < _INF:
                    room = (best - exact - rest_lb) / w
                    if room <= 0.0:
                        abandoned = True
                        break
                    bound_sq = room * room * (1.0 + 1e-12)
                else:
                    bound_sq = _INF
                _box_terms(x, y, lo, hi, tmp)
                suffix[g, t_len] = 0.0
                for t in range(t_len - 1, -1, -1):
                    suffix[g, t] = suffix[g, t + 1] + tmp[t]
                c, rows = _dtw_sq_abandon(x, listener_t[nb_idx[start + a]], lo, hi, bound_sq, suffix[g], prev, cur, drow)
                cells += rows * listener.shape[1] * (hi - lo)
                if c == _INF:
                    abandoned = True
                    break
                exact += w * np.sqrt(c)
                if exact + rest_lb >= best:
                    abandoned = True
                    break
            if not abandoned:
                full += 1
                if exact < best:
                    best = exact
        out[k, p] = best
        stats[q, 0] = full
        stats[q, 1] = cells


@nb.njit(cache=True)
def dtw_tslearn_equivalent(x, y):
    """Plain DTW with tslearn's definition (for tests and as a readable statement of what is computed)."""
    n = x.shape[0]
    m = y.shape[0]
    prev = np.empty(m + 1)
    cur = np.empty(m + 1)
    drow = np.empty(m)
    suffix = np.zeros(n + 1)
    y_t = np.ascontiguousarray(y.T)
    return np.sqrt(_dtw_sq_abandon(x, y_t, 0, x.shape[1], _INF, suffix, prev, cur, drow)[0])
