"""The metrics on clips of different lengths against a literal per-pair reference (mafrg.metrics.reference)."""

from __future__ import annotations

import numpy as np
import pytest

from mafrg.metrics import ragged
from mafrg.metrics.engine import aggregate
from mafrg.metrics.reference import ragged_metrics, resample_literal
from mars_helpers import emotion

LENGTHS = [58, 75, 40, 64, 91]  # rows' speaker lengths (= their predictions' lengths)


def _case(seed: int = 0, n_pred: int = 4):
    rng = np.random.default_rng(seed)
    speakers = [emotion(rng, t) for t in LENGTHS]
    listeners = [emotion(rng, t + d) for t, d in zip(LENGTHS, (0, 2, -1, 5, -3))]  # differ by a few frames
    preds = [np.stack([emotion(rng, t) + rng.normal(0, 0.05, (t, 25)).astype(np.float32) for _ in range(n_pred)])
             for t in LENGTHS]
    preds[1][2, :, 3] = 0.0  # a constant channel: CCC 0, TLCC NaN (the official behaviour)
    sets = [[0, 2, 2], [1, 0, 3], [2], [3, 4, 1, 0], [4, 3]]  # paired listener first; repeats as drawn
    return preds, speakers, [[listeners[j] for j in s] for s in sets]


@pytest.mark.parametrize("alignment", ragged.ALIGNMENTS)
@pytest.mark.parametrize("protocol", ["react2025", "corrected"])
def test_ragged_engine_matches_the_literal_reference(alignment, protocol):
    preds, speakers, gts = _case()
    fps = 30
    part = ragged.contributions(iter(preds), lambda k: speakers[k], lambda k: gts[k], 0, len(preds), protocol,
                                alignment, fps, threads=1, progress=False)
    lag = ragged.max_lag(protocol, fps)
    assert lag == (49 if protocol == "react2025" else 59)
    ref = ragged_metrics(preds, speakers, gts, alignment, corrected=protocol == "corrected", max_lag=lag)
    for key, want in ref.items():
        np.testing.assert_allclose(part.per_row[key], want, rtol=2e-5, atol=1e-6, err_msg=key)
    res = aggregate([part], len(preds), protocol)
    assert np.isnan(res.metrics["FRDvs"])  # not defined on clips of different lengths
    assert res.metrics["FRCorr"] == pytest.approx(np.mean(ref["FRCorr"]), rel=2e-5)


def test_shards_of_ragged_rows_aggregate_to_the_whole():
    preds, speakers, gts = _case(1)
    whole = ragged.contributions(iter(preds), lambda k: speakers[k], lambda k: gts[k], 0, 5, progress=False)
    parts = [ragged.contributions(iter(preds[a:b]), lambda k: speakers[k], lambda k: gts[k], a, b - a, progress=False)
             for a, b in ((0, 2), (2, 5))]
    m1, m2 = aggregate([whole], 5, "react2025").metrics, aggregate(parts[::-1], 5, "react2025").metrics
    assert {k: v for k, v in m1.items() if k != "FRDvs"} == {k: v for k, v in m2.items() if k != "FRDvs"}


def test_resample_keeps_a_valid_emotion_sequence_and_its_own_length():
    rng = np.random.default_rng(3)
    x = emotion(rng, 47)
    assert ragged.resample(x, 47) is not None and np.array_equal(ragged.resample(x, 47), x.astype(np.float64))
    for n in (20, 47 * 3 + 1):
        y = ragged.resample(x, n)
        np.testing.assert_allclose(y, resample_literal(x, n), atol=1e-12)
        assert y.shape == (n, 25) and set(np.unique(y[:, :15])) <= {0.0, 1.0}
        np.testing.assert_allclose(y[:, 17:].sum(1), 1.0)
        np.testing.assert_allclose(y[[0, -1], 15:17], x[[0, -1], 15:17])  # end points kept


def test_bad_ragged_inputs_are_named():
    preds, speakers, gts = _case()
    with pytest.raises(ValueError, match="row 1 has 75 frames, its speaker clip 58"):
        ragged.contributions(iter(preds), lambda k: speakers[0], lambda k: gts[k], 0, 5, progress=False)
    preds[3][0, 5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN or inf in row 3"):
        ragged.contributions(iter(preds), lambda k: speakers[k], lambda k: gts[k], 0, 5, progress=False)
    with pytest.raises(ValueError, match="unknown ground-truth alignment"):
        ragged.contributions(iter(preds), lambda k: speakers[k], lambda k: gts[k], 0, 5, alignment="warp",
                             progress=False)
