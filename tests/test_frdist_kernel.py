"""The compiled FRDist kernel (mafrg/metrics/_frdist.c): exact against tslearn, its build cache, its fallback."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from tslearn.metrics import dtw as tslearn_dtw

from mafrg.constants import FRDIST_GROUPS
from mafrg.metrics import native
from mafrg.metrics.core import ListenerStats
from mafrg.metrics.frdist import min_weighted_dtw

# The kernel's local costs are float32 sums: relative error <= (C+2) 2^-24 ~ 1e-6 on each DTW (C = 15).
RTOL = 2e-6


def brute_force(pred: np.ndarray, listener: np.ndarray, lists: list[np.ndarray]) -> np.ndarray:
    """The definition, literally: tslearn DTW of every (prediction, appropriate row) pair, weighted, minimum."""
    out = np.empty(pred.shape[:2])
    for k in range(pred.shape[0]):
        for p in range(pred.shape[1]):
            x = pred[k, p].astype(np.float64)
            out[k, p] = min(
                sum(w * tslearn_dtw(x[:, lo:hi], listener[j].astype(np.float64)[:, lo:hi]) for lo, hi, w in FRDIST_GROUPS)
                for j in lists[k]
            )
    return out


def _data(seed: int, rows: int, preds: int, t: int, smooth: bool):
    rng = np.random.default_rng(seed)
    if smooth:
        base = np.cumsum(rng.normal(size=(rows, t, 25)), axis=1) * 0.1
        listener = base
        pred = base[rng.integers(0, rows, rows)][:, None] + 0.2 * rng.normal(size=(rows, preds, t, 25))
    else:
        listener = rng.random((rows, t, 25))
        pred = rng.random((rows, preds, t, 25))
    lists = [np.sort(rng.choice(rows, size=rng.integers(1, rows + 1), replace=False)) for _ in range(rows)]
    return pred.astype(np.float32), listener.astype(np.float32), lists


@pytest.fixture()
def native_only(monkeypatch):
    monkeypatch.setenv(native.KERNEL_ENV, "native")


@pytest.mark.parametrize("t", [2, 3, 5, 6, 7, 8, 9, 17, 64])
def test_native_kernel_is_the_definition(native_only, t):
    """Lengths around the kernel's rows per sweep (6 and 8), single frames of coarse copies, up to 20 lanes."""
    pred, listener, lists = _data(t, rows=7, preds=3, t=t, smooth=t % 2 == 0)
    got, work, kernel = min_weighted_dtw(pred, ListenerStats(listener), lists, threads=2)
    assert kernel == "native"
    np.testing.assert_allclose(got, brute_force(pred, listener, lists), rtol=RTOL)
    assert work[0] >= pred.shape[0] * pred.shape[1]  # at least one full (all-groups) run per prediction


def test_native_kernel_exact_zero_and_many_neighbours(native_only):
    """A prediction equal to an appropriate reaction scores exactly 0; rows with more neighbours than lanes."""
    pred, listener, _ = _data(11, rows=40, preds=2, t=30, smooth=True)
    pred[3, 1] = listener[17]
    lists = [np.arange(40) for _ in range(40)]
    got, _, _ = min_weighted_dtw(pred[:5], ListenerStats(listener), lists[:5], threads=1)
    assert got[3, 1] == 0.0
    np.testing.assert_allclose(got, brute_force(pred[:5], listener, lists[:5]), rtol=RTOL)


def test_kernels_agree_and_native_prunes_more(monkeypatch):
    pred, listener, lists = _data(4, rows=12, preds=10, t=150, smooth=True)
    lst = ListenerStats(listener)
    results = {}
    for choice in ("native", "numba"):
        monkeypatch.setenv(native.KERNEL_ENV, choice)
        results[choice] = min_weighted_dtw(pred, lst, lists, threads=2)
    (a, wa, ka), (b, wb, kb) = results["native"], results["numba"]
    assert (ka, kb) == ("native", "numba")
    np.testing.assert_allclose(a, b, rtol=RTOL)
    assert wa[1] < wb[1]  # fewer cost-matrix cells computed


def test_build_is_cached_per_source(tmp_path, monkeypatch):
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path))
    first = native.build(cache=tmp_path)
    mtime = first.stat().st_mtime_ns
    assert native.build(cache=tmp_path) == first and first.stat().st_mtime_ns == mtime  # reused, not rebuilt
    src = tmp_path / "_frdist.c"
    src.write_text(native.SOURCE.read_text() + "\n/* edited */\n")
    other = native.build(source=src, cache=tmp_path)
    assert other != first and other.is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_without_a_compiler_falls_back_to_numba(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path / "fresh"))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv(native.KERNEL_ENV, "auto")
    monkeypatch.setattr(native, "_loaded", {})
    pred, listener, lists = _data(2, rows=4, preds=2, t=20, smooth=False)
    with caplog.at_level(logging.WARNING, logger="mafrg.metrics.native"):
        got, _, kernel = min_weighted_dtw(pred, ListenerStats(listener), lists)
    assert kernel == "numba" and "no-such-cc" in caplog.text
    np.testing.assert_allclose(got, brute_force(pred, listener, lists), rtol=RTOL)
    monkeypatch.setenv(native.KERNEL_ENV, "native")
    with pytest.raises(native.NativeKernelError, match="no-such-cc"):
        native.frdist_library()


def test_broken_source_reports_the_compiler_output(tmp_path, monkeypatch):
    src = tmp_path / "_frdist.c"
    src.write_text("int broken(void) { return }\n")
    with pytest.raises(native.NativeKernelError, match="compiling _frdist.c failed"):
        native.build(source=src, cache=tmp_path)
    assert not list(tmp_path.glob("*.so")) and not list(tmp_path.glob(".*"))


def test_bad_kernel_choice(monkeypatch):
    monkeypatch.setenv(native.KERNEL_ENV, "fortran")
    with pytest.raises(native.NativeKernelError, match="MAFRG_FRDIST_KERNEL"):
        native.frdist_library()
    assert os.environ[native.KERNEL_ENV] == "fortran"
