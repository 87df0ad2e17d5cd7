"""Baselines and the sanity anchors that follow from the metric formulas."""

from __future__ import annotations

import numpy as np
import pytest

from mafrg.methods.baselines import make_baseline, training_means
from mafrg.metrics.engine import evaluate


@pytest.fixture(scope="module")
def split(tiny_dataset):
    from mafrg.config import DatasetConfig
    from mafrg.data.assemble import assemble_split

    cfg = DatasetConfig(clip_length=60)
    return assemble_split(tiny_dataset, "val", cfg, True), assemble_split(tiny_dataset, "train", cfg, False)


def _metrics(method, split):
    val, train = split
    means = training_means(train.speaker_emotion, train.listener_emotion)
    pred = make_baseline(method, val.speaker_emotion, val.listener_emotion, 10, seed=1, train_means=means)
    assert pred.shape == (val.n_rows, 10, 60, 25) and pred.dtype == np.float32
    nb = np.eye(val.n_rows, dtype=np.uint8)
    return pred, evaluate(pred, val.listener_emotion, val.speaker_emotion, nb, progress=False).metrics


def test_random_anchors(split):
    pred, m = _metrics("B_Random", split)
    assert 0.0 <= pred.min() and pred.max() < 1.0
    assert m["FRDiv"] == pytest.approx(1 / 6, rel=0.02)
    assert m["FRDvs"] == pytest.approx(1 / 6, rel=0.02)
    assert m["FRVar"] == pytest.approx(1 / 12, rel=0.02)


def test_mime_and_meanseq_have_no_diversity(split):
    val, _ = split
    pred, m = _metrics("B_Mime", split)
    np.testing.assert_array_equal(pred[:, 3], val.speaker_emotion)
    assert m["FRDiv"] == 0.0
    _, m = _metrics("B_MeanSeq", split)
    assert m["FRDiv"] == 0.0 and m["FRDvs"] == 0.0


def test_meanfr_anchors(split):
    pred, m = _metrics("B_MeanFr", split)
    assert m["FRVar"] == 0.0 and m["FRSyn"] == 49.0
    assert np.ptp(pred, axis=(0, 1, 2)).max() == 0.0


def test_gt_is_the_listener_and_perfect_on_frdist(split):
    val, _ = split
    pred, m = _metrics("GT", split)
    np.testing.assert_array_equal(pred[:, 0], val.listener_emotion)
    assert m["FRDist"] == 0.0 and m["FRDiv"] == 0.0


def test_training_means_use_speakers_and_listeners():
    s = np.zeros((2, 5, 25), np.float32)
    l = np.ones((2, 5, 25), np.float32)
    seq, fr = training_means(s, l)
    assert np.all(seq == 0.5) and np.all(fr == 0.5)


def test_unknown_baseline_and_missing_means(split):
    val, _ = split
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baseline("B_Foo", val.speaker_emotion, val.listener_emotion)
    with pytest.raises(ValueError, match="needs training means"):
        make_baseline("B_MeanFr", val.speaker_emotion, val.listener_emotion)


def test_classical_baselines_of_the_listening_protocol():
    """NN: reaction k is the listener of the k-th nearest training speaker (a training speaker finds its own
    listener first); Median is the per-coefficient median frame; the candidates are both directions."""
    from types import SimpleNamespace

    from mafrg.methods.baselines import classical

    rng = np.random.default_rng(0)
    rows = [SimpleNamespace(speaker=f"s{i}", listener=f"l{i}") for i in range(3)]
    arr = {k: rng.normal(size=(3, 20, d)).astype(np.float32) for k, d in
           (("speaker_emotion", 25), ("listener_emotion", 25), ("speaker_tdmm", 58), ("listener_tdmm", 58))}
    train = SimpleNamespace(rows=rows, **arr)
    sp_rel, sp, le, lt, li_rel = classical.candidates(train)
    assert sp_rel == ["s0", "s1", "s2", "l0", "l1", "l2"] and list(li_rel) == ["l0", "l1", "l2", "s0", "s1", "s2"]
    np.testing.assert_array_equal(le[4], arr["speaker_emotion"][1])  # person l1 as the speaker: s1 listens
    query = np.concatenate([arr["listener_emotion"][2], arr["listener_tdmm"][2]], -1)
    pick = classical.nearest(query, sp, 4)
    assert pick[0] == 5 and len(set(pick.tolist())) == 4  # itself first, then 3 other real listeners
    assert classical.nearest(query, sp[:2], 5).tolist()[:2] == classical.nearest(query, sp[:2], 2).tolist()
    med = classical.median_frame(np.concatenate([le, lt], -1))
    np.testing.assert_allclose(med[:25], np.median(le.reshape(-1, 25), axis=0), rtol=1e-6)
    assert classical.fit_frames(le[0], 25).shape == (25, 25) and np.array_equal(classical.fit_frames(le[0], 25)[-1], le[0][-1])
