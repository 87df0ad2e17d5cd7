"""The metric engine against the literal reference implementation (mafrg.metrics.reference)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d
from tslearn.metrics import dtw as tslearn_dtw

from mafrg.metrics import reference as ref
from mafrg.metrics import core
from mafrg.metrics.dtw import dtw_tslearn_equivalent
from mafrg.metrics.engine import MetricInputError, evaluate

REL = 1e-5


def _close(a: float, b: float, rel: float = REL) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12) or abs(a - b) < 1e-9


def make_inputs(seed: int, r: int, p: int, t: int, smooth: bool = False, density: float = 0.35):
    rng = np.random.default_rng(seed)
    if smooth:  # model-like outputs near real reactions: exercises the DTW pruning
        listener = gaussian_filter1d(rng.normal(size=(r, t, 25)), 3, axis=1)
        pred = listener[rng.integers(0, r, size=r)][:, None] + 0.3 * gaussian_filter1d(rng.normal(size=(r, p, t, 25)), 3, axis=2)
        speaker = gaussian_filter1d(rng.normal(size=(r, t, 25)), 3, axis=1)
    else:
        pred = rng.random((r, p, t, 25))
        listener = rng.random((r, t, 25))
        speaker = rng.random((r, t, 25))
        # binary AUs, as in REACT
        pred[..., :15] = pred[..., :15] > 0.6
        listener[..., :15] = listener[..., :15] > 0.7
        speaker[..., :15] = speaker[..., :15] > 0.7
        # constant channels: whole-series and only-in-part
        pred[0, 0, :, 4] = 0.0
        listener[1, :, 20] = 0.25
        speaker[2, :, 9] = 1.0
        speaker[3, : t - 5, 2] = 0.0  # constant except the end: NaN only at some lags
        speaker[3, t - 5 :, 2] = 1.0
    nb = (rng.random((r, r)) < density).astype(np.uint8)
    np.fill_diagonal(nb, 1)
    return pred.astype(np.float32), listener.astype(np.float32), speaker.astype(np.float32), nb


@pytest.mark.parametrize(
    "seed,r,p,t,smooth",
    [(0, 6, 3, 60, False), (1, 5, 10, 97, False), (2, 7, 4, 83, True), (3, 4, 2, 750, False),
     (10, 5, 2, 40, False)],
)
@pytest.mark.parametrize("kernel", ["native", "numba"])
def test_engine_matches_reference(seed, r, p, t, smooth, kernel, monkeypatch):
    monkeypatch.setenv("MAFRG_FRDIST_KERNEL", kernel)  # the compiled FRDist kernel and its numba fallback
    pred, listener, speaker, nb = make_inputs(seed, r, p, t, smooth)
    got = evaluate(pred, listener, speaker, nb, chunk_rows=3, threads=2, progress=False)
    assert got.info["frdist_kernel"] == kernel
    want_corr, rows_corr = ref.frcorr(pred, listener, nb)
    want_dist, rows_dist = ref.frdist(pred, listener, nb)
    want_syn, rows_syn = ref.frsyn(pred, speaker)
    want = {"FRCorr": want_corr, "FRDist": want_dist, "FRDiv": ref.frdiv(pred), "FRVar": ref.frvar(pred),
            "FRDvs": ref.frdvs(pred), "FRSyn": want_syn}
    for k, v in want.items():
        assert _close(got.metrics[k], v), (k, got.metrics[k], v)
    np.testing.assert_allclose(got.per_row["FRCorr"], rows_corr, rtol=REL)
    np.testing.assert_allclose(got.per_row["FRDist"], rows_dist, rtol=REL)
    np.testing.assert_array_equal(got.per_row["FRSyn"], rows_syn)


def test_pruning_is_exact_and_effective():
    """On model-like data most DTW work is pruned, and the minimum is still the reference one."""
    pred, listener, speaker, nb = make_inputs(5, 8, 4, 120, smooth=True, density=0.9)
    got = evaluate(pred, listener, speaker, nb, progress=False)
    want, _ = ref.frdist(pred, listener, nb)
    assert _close(got.metrics["FRDist"], want)
    assert got.info["dtw_work_fraction"] < 0.6, got.info


def test_dtw_kernel_is_tslearn_dtw():
    rng = np.random.default_rng(3)
    for n, m, d in [(10, 10, 1), (37, 21, 3), (50, 50, 15), (1, 5, 2)]:
        x = rng.random((n, d)).astype(np.float32).astype(np.float64)
        y = rng.random((m, d)).astype(np.float32).astype(np.float64)
        assert dtw_tslearn_equivalent(x, y) == tslearn_dtw(x, y)


def test_frsyn_quirks():
    rng = np.random.default_rng(0)
    t = 120
    speaker = rng.random((2, t, 25)).astype(np.float32)
    pred = np.repeat(rng.random((2, 1, t, 25)).astype(np.float32), 3, axis=1)
    pred[1, 0, :, 7] = 0.5  # a constant channel in the first prediction: every lag NaN -> 49
    off = core.tlcc_offsets(pred[:, :1], speaker)[:, 0]
    assert off[1] == 49
    # a lagged copy of the speaker is found at its lag
    lagged = np.concatenate([speaker[:1, :1].repeat(7, axis=1), speaker[:1, : t - 7]], axis=1)
    assert core.tlcc_offsets(lagged[:, None], speaker[:1])[0, 0] == 7
    # corrected protocol: constant channel ignored, the other predictions count
    off_c = core.tlcc_offsets(pred, speaker, corrected=True)
    assert off_c[1, 0] != 49 or off_c[1, 1] == 49
    const = np.full((1, 2, t, 25), 0.3, np.float32)
    assert np.isnan(core.tlcc_offsets(const, speaker[:1], corrected=True)).all()


def test_corrected_protocol_differs_only_in_frsyn():
    pred, listener, speaker, nb = make_inputs(9, 5, 3, 70)
    a = evaluate(pred, listener, speaker, nb, progress=False)
    b = evaluate(pred, listener, speaker, nb, protocol="corrected", progress=False)
    for k in ("FRCorr", "FRDist", "FRDiv", "FRVar", "FRDvs"):
        assert a.metrics[k] == b.metrics[k]
    assert b.protocol == "corrected"


def test_streaming_is_independent_of_chunking():
    pred, listener, speaker, nb = make_inputs(4, 9, 3, 50)
    a = evaluate(pred, listener, speaker, nb, chunk_rows=1, progress=False)
    b = evaluate(pred, listener, speaker, nb, chunk_rows=9, progress=False)
    for k in a.metrics:
        assert _close(a.metrics[k], b.metrics[k], 1e-12), k


def test_single_prediction_has_zero_frdiv():
    pred, listener, speaker, nb = make_inputs(6, 4, 1, 40)
    assert evaluate(pred, listener, speaker, nb, progress=False).metrics["FRDiv"] == 0.0


def test_memmap_predictions(tmp_path):
    pred, listener, speaker, nb = make_inputs(7, 4, 2, 40)
    np.save(tmp_path / "p.npy", pred)
    mm = np.load(tmp_path / "p.npy", mmap_mode="r")
    a = evaluate(mm, listener, speaker, nb, chunk_rows=2, progress=False)
    b = evaluate(pred, listener, speaker, nb, chunk_rows=2, progress=False)
    assert a.metrics == b.metrics


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda p, l, s, n: (p[..., :24], l, s, n), "expected 25 emotion channels"),
        (lambda p, l, s, n: (p, l[:, :-1], s, n), r"listener: expected shape"),
        (lambda p, l, s, n: (p, l, s[:-1], n), r"speaker: expected shape"),
        (lambda p, l, s, n: (p, l, s, n[:-1]), r"neighbours: expected shape"),
        (lambda p, l, s, n: (p, l, s, np.zeros_like(n)), "have no appropriate reaction"),
        (lambda p, l, s, n: (p[0], l, s, n), r"expected shape \(rows, predictions"),
    ],
)
def test_shape_errors(mutate, match):
    args = mutate(*make_inputs(8, 4, 2, 30))
    with pytest.raises(MetricInputError, match=match):
        evaluate(*args, progress=False)


def test_nan_prediction_is_an_error():
    pred, listener, speaker, nb = make_inputs(8, 4, 2, 30)
    pred[2, 1, 3, 3] = np.nan
    with pytest.raises(MetricInputError, match="NaN or inf in row 2"):
        evaluate(pred, listener, speaker, nb, progress=False)
