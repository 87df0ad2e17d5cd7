"""Realism (FRRea with a small image network the test builds, FD_behaviour) and the Efficient Listener metrics."""

from __future__ import annotations

import numpy as np
import pytest

from mafrg.metrics import realism
from mafrg.metrics.listener import (
    ROT, ExpressionClusters, ListenerMetrics, fit_clusters, frechet_distance, gaussian_fit, shannon_index,
)


def test_frechet_distance_formula():
    # 1-D Gaussians: (m1 - m2)^2 + s1^2 + s2^2 - 2 s1 s2 = (m1 - m2)^2 + (s1 - s2)^2
    fd = frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-1.0]), np.array([[1.0]]))
    assert fd == pytest.approx(4.0 + 1.0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 3))
    assert frechet_distance(*gaussian_fit(x), *gaussian_fit(x)) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(*gaussian_fit(x), *gaussian_fit(x + 2.0)) == pytest.approx(12.0, rel=1e-6)


def _tdmm(rng, r, t):
    x = np.cumsum(rng.normal(0, 0.05, size=(r, t, 58)), axis=1)
    return x.astype(np.float32)


def test_listener_metrics_anchor_values():
    rng = np.random.default_rng(1)
    train = _tdmm(rng, 6, 80)
    listener, speaker = _tdmm(rng, 4, 80), _tdmm(rng, 4, 80)
    clusters = ExpressionClusters.fit(train, k=5)
    gt = ListenerMetrics(clusters)
    gt.update(np.repeat(listener[:, None], 3, axis=1), listener, speaker)
    v = gt.value(listener)
    assert v["L2_expression"] == 0.0 and v["L2_rotation"] == 0.0
    assert abs(v["FD_expression"]) < 1e-4 and abs(v["FD_rotation"]) < 1e-6  # same frames as the reference
    const = ListenerMetrics(clusters)
    const.update(np.zeros((4, 3, 80, 58), np.float32) + train[0, 0], listener, speaker)
    c = const.value(listener)
    assert c["SI"] == 0.0  # one cluster only
    assert c["L2_expression"] > 0 and c["FD_expression"] > v["FD_expression"]
    assert 0.0 < v["SI"] <= np.log(5) + 1e-12
    assert shannon_index(np.array([5, 5, 0])) == pytest.approx(np.log(2))


def test_listener_metrics_stream_over_shards():
    rng = np.random.default_rng(2)
    train = _tdmm(rng, 4, 60)
    listener, speaker = _tdmm(rng, 5, 60), _tdmm(rng, 5, 60)
    pred = _tdmm(rng, 5 * 3, 60).reshape(5, 3, 60, 58)
    for protocol in ("mafrg", "l2l"):
        clusters = fit_clusters(protocol, train, listener, 4)
        whole = ListenerMetrics(clusters, protocol)
        whole.update(pred, listener, speaker)
        parts = ListenerMetrics(clusters, protocol)
        for a, b in ((0, 2), (2, 5)):
            parts.update(pred[a:b], listener[a:b], speaker[a:b])
        for k, val in whole.value(listener).items():
            assert parts.value(listener)[k] == pytest.approx(val, rel=1e-9, abs=1e-12), (protocol, k)


def test_l2l_listener_protocol_matches_the_public_definitions():
    """l2l: per-sequence MSE and FD (sqrtm formula of the learning-to-listen re-implementation), SI in bits over
    k = 40 / 20 clusters of the split's own listeners; the default definition differs on the same data."""
    from scipy import linalg
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(3)
    train = _tdmm(rng, 4, 90)
    listener, speaker = _tdmm(rng, 6, 90), _tdmm(rng, 6, 90)
    pred = _tdmm(rng, 6 * 2, 90).reshape(6, 2, 90, 58) * 1.5
    lm = ListenerMetrics(fit_clusters("l2l", train, listener, 15), "l2l")
    lm.update(pred, listener, speaker)
    got = lm.value(listener)

    def fd_ref(a, b):  # the published sqrtm formula
        m1, m2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        cm = linalg.sqrtm(s1 @ s2).real
        return (m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(cm)

    seqs = [(pred[i, j].astype(np.float64), listener[i].astype(np.float64)) for i in range(6) for j in range(2)]
    assert got["L2_expression"] == pytest.approx(np.mean([np.mean((p[:, :52] - y[:, :52]) ** 2) for p, y in seqs]))
    assert got["FD_rotation"] == pytest.approx(np.mean([fd_ref(y[:, ROT], p[:, ROT]) for p, y in seqs]), rel=1e-6)
    assert got["FD_expression"] == pytest.approx(np.mean([fd_ref(y[:, :52], p[:, :52]) for p, y in seqs]), rel=1e-4)
    km = KMeans(n_clusters=40, n_init=4, random_state=0).fit(listener[..., :52].reshape(-1, 52).astype(np.float64))
    hist = np.bincount(km.predict(pred[..., :52].reshape(-1, 52).astype(np.float64)), minlength=40) / (6 * 2 * 90)
    ref_si = -sum(h * np.log2(h + 1e-6) for h in hist)
    assert got["SI"] == pytest.approx(ref_si, abs=1e-3)
    assert 0 < got["SI_rotation"] <= np.log2(20)
    mafrg = ListenerMetrics(fit_clusters("mafrg", train, listener, 15), "mafrg")
    mafrg.update(pred, listener, speaker)
    assert mafrg.value(listener)["L2_expression"] != pytest.approx(got["L2_expression"])


def test_tlcc_lag_finds_a_delayed_copy():
    rng = np.random.default_rng(3)
    speaker = np.cumsum(rng.normal(size=(2, 200, 58)), axis=1).astype(np.float32)
    delayed = np.concatenate([speaker[:, :1].repeat(12, axis=1), speaker[:, :-12]], axis=1)
    m = ListenerMetrics(ExpressionClusters.fit(speaker, k=3))
    m.update(delayed[:, None], delayed, speaker)
    assert m.value(delayed)["TLCC_lag"] == pytest.approx(12.0)


def test_behaviour_fd_zero_for_ground_truth_and_sampling():
    rng = np.random.default_rng(4)
    emo, tdmm = rng.random((3, 91, 25)), rng.normal(size=(3, 91, 58))
    assert realism.sampled(emo, 30).shape == (3 * 4, 25)  # frames 0, 30, 60, 90
    assert realism.behaviour_fd(emo, tdmm, emo, tdmm) == pytest.approx(0.0, abs=1e-4)  # rank-deficient: 12 frames
    assert realism.behaviour_fd(emo + 0.5, tdmm, emo, tdmm) > 1.0


@pytest.fixture()
def tiny_image_net(tmp_path):
    """A small TorchScript image network standing in for InceptionV3 pool3 (32-d output)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 5, stride=2), nn.ReLU(), nn.Conv2d(8, 32, 3, stride=2), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten())
    path = tmp_path / "inception_stand_in.pt"
    torch.jit.script(net.eval()).save(str(path))
    return path


def test_frrea_with_a_local_network(tiny_image_net, tiny_dataset):
    from mafrg.config import DatasetConfig
    from mafrg.data.layouts import get_layout

    net = realism.load_image_net(str(tiny_image_net), 48, 32)
    layout = get_layout(DatasetConfig(root=str(tiny_dataset)))
    clips = layout.clips("val")
    videos = [layout.clip_files("val", c).video for c in clips]
    tdmm = np.stack([np.load(layout.clip_files("val", c).tdmm) for c in clips])[:, :60]
    real = list(realism.real_frames(videos, 60, 30, 25))
    assert len(real) == 2 * len(videos)
    same = realism.frrea(net, real, list(realism.rendered_frames(tdmm, 30, 64)), 48)
    noise = realism.frrea(net, real, list(realism.rendered_frames(tdmm + np.random.default_rng(0).normal(
        0, 3.0, tdmm.shape), 30, 64)), 48)
    assert np.isfinite(same) and same >= 0 and noise > same  # garbled faces are further from the real ones


def test_frrea_network_errors(tiny_image_net, tmp_path):
    with pytest.raises(realism.RealismError, match="not found"):
        realism.load_image_net(str(tmp_path / "missing.pt"), 48, 32)
    with pytest.raises(realism.RealismError, match="gives 32 values per image, evaluation.frrea.dim is 2048"):
        realism.load_image_net(str(tiny_image_net), 48, 2048)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(realism.RealismError, match="cannot be loaded as TorchScript"):
        realism.load_image_net(str(bad), 48, 32)
