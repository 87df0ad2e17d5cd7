"""Out-of-core channel statistics (mafrg.moments): exact, order-independent of the worker count, bounded memory."""

from __future__ import annotations

import threading
import weakref

import numpy as np
import pytest

from mafrg.moments import Moments, moments


def _blocks(seed: int = 0, n: int = 40, dim: int = 6):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 60, n)  # a zero-length block among them
    lengths[3] = 0
    return [(rng.normal(size=(int(t), dim)) * 3 + 7).astype(np.float32) for t in lengths]


def _loop(arrays):
    """The sequential reference: float64 sums in block order."""
    s = sq = 0.0
    for a in arrays:
        a = np.asarray(a, np.float64)
        s = s + a.sum(0)
        sq = sq + (a * a).sum(0)
    return s, sq


@pytest.mark.parametrize("threads", [1, 3])
def test_pooled_statistics_equal_the_whole_set_and_a_sequential_loop_bit_for_bit(threads):
    arrays = _blocks()
    m = moments([lambda a=a: a for a in arrays], threads)
    whole = np.concatenate(arrays).astype(np.float64)
    s, sq = _loop(arrays)
    assert m.count == len(whole)
    assert np.array_equal(m.total, s) and np.array_equal(m.squares, sq)  # same order of additions
    assert np.array_equal(m.lo, whole.min(0)) and np.array_equal(m.hi, whole.max(0))
    np.testing.assert_allclose(m.mean, whole.mean(0), rtol=1e-12)
    np.testing.assert_allclose(m.std(), whole.std(0), rtol=1e-9)
    np.testing.assert_allclose(m.std(ddof=1), whole.std(0, ddof=1), rtol=1e-9)


def test_blocks_of_several_streams_pool_per_stream():
    a, b = _blocks(1, 10, 4), _blocks(2, 10, 9)
    got = moments([lambda x=x, y=y: {"emotion": x[: len(y)], "audio": y[: len(x)]} for x, y in zip(a, b)], 2)
    ref = np.concatenate([y[: len(x)] for x, y in zip(a, b)]).astype(np.float64)
    assert set(got) == {"emotion", "audio"}
    np.testing.assert_allclose(got["audio"].mean, ref.mean(0), rtol=1e-12)
    assert got["emotion"].total.shape == (4,)


def test_memory_holds_about_one_block_per_thread():
    """No block outlives its reduction: at most one live block per worker thread at any time (a version that
    kept the blocks, or concatenated them, fails)."""
    threads, alive, peak = 2, [0], [0]
    lock = threading.Lock()

    def gone():
        with lock:
            alive[0] -= 1

    def load(i):
        a = np.full((100, 5), float(i))
        with lock:
            alive[0] += 1
            peak[0] = max(peak[0], alive[0])
        weakref.finalize(a, gone)
        return a

    m = moments([lambda i=i: load(i) for i in range(200)], threads)
    assert m.count == 20_000 and m.mean[0] == pytest.approx(99.5)
    assert alive[0] == 0
    assert peak[0] <= threads


def test_a_dask_distributed_cluster_gives_the_same_numbers(monkeypatch):
    """The documented way to point the statistics at a cluster: dask's own scheduler-address setting."""
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    arrays = _blocks(3)
    local = moments([lambda a=a: a for a in arrays], 2)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as c:
        with dask.config.set({"scheduler-address": c.scheduler_address}):
            remote = moments([lambda a=a: a for a in arrays], 1)
    assert remote.count == local.count
    assert np.array_equal(remote.total, local.total) and np.array_equal(remote.squares, local.squares)


def test_bad_blocks_are_refused_with_what_is_wrong():
    with pytest.raises(ValueError, match="no blocks to pool for target statistics"):
        moments([], 1, "target statistics")
    with pytest.raises(ValueError, match=r"must be \(T, D\)"):
        moments([lambda: np.zeros(5)], 1)
    with pytest.raises(ValueError, match="blocks of 3 and 4 channels"):
        moments([lambda: np.zeros((2, 3)), lambda: np.zeros((2, 4))], 1)
    with pytest.raises(ValueError, match="different streams"):
        moments([lambda: {"a": np.zeros((2, 3))}, lambda: {"b": np.zeros((2, 3))}], 1)


def test_an_empty_block_changes_nothing():
    x = np.arange(12.0).reshape(4, 3)
    m = Moments.of(x) + Moments.of(np.zeros((0, 3)))
    assert m.count == 4 and np.array_equal(m.lo, x.min(0)) and np.array_equal(m.hi, x.max(0))
