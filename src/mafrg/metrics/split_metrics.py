"""Split metrics: the metrics of a run that pool the whole split (one job per split and run, not per row shard).

Realism (FRRea, or FD_behaviour without an image network) compares distributions over all frames; the Efficient
Listener metrics fit their SI clusters on the split; the smoothness measures are means over every frame. All read
the run's 3DMM predictions beside the emotion ones, streamed shard by shard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mafrg import predictions
from mafrg.config import DatasetConfig, EvalConfig
from mafrg.metrics import realism
from mafrg.metrics.listener import ListenerMetrics, fit_clusters
from mafrg.metrics.smoothness import Smoothness
from mafrg.sharding import coverage_problem, parse_rows


class SplitMetricsError(ValueError):
    pass


def _shards(pred_paths: list[str], data) -> list[tuple[tuple[int, int], str]]:
    """((first row, end row), path) of each prediction shard, in row order, checked to tile the split's rows."""
    shards = sorted(((parse_rows(Path(p).stem), p) for p in pred_paths), key=lambda x: x[0])
    problem = coverage_problem([rows for rows, _ in shards], data.n_rows)
    if problem:
        raise SplitMetricsError(f"prediction shards {[Path(p).name for _, p in shards]} do not cover the "
                                f"{data.n_rows} rows of split {data.split} once each ({problem})")
    return shards


def _listener_frames(arrays) -> np.ndarray:
    """(N, 58) frames of every listener clip of a split of clips of any length (each clip once)."""
    return np.concatenate([arrays.clip_tdmm(int(c)) for c in np.unique(arrays.listener_index)])


class _ListenerFrames:
    """What the SI clusters are fitted on, for a split of clips of any length (``listener_tdmm`` as frames)."""

    def __init__(self, arrays):
        self.listener_tdmm = _listener_frames(arrays)


def _evaluate_clips(pred_paths: list[str], data, train, cfg: EvalConfig, cluster_cache) -> dict[str, Any]:
    """:func:`evaluate_split` on clips of any length: every row at its own length. The L2 and synchrony terms
    compare a reaction with its own row's listener on their common frames; the Fréchet distances pool frames."""
    shards = _shards(pred_paths, data)
    if cfg.frrea_weights != realism.NOT_AVAILABLE:
        raise SplitMetricsError("FRRea (evaluation.frrea_weights) is computed on fixed-length clips only; set it to "
                                "none for clips of any length (FD_behaviour is reported instead)")
    split_frames = _ListenerFrames(data)
    clusters = _clusters(cfg, split_frames, _ListenerFrames(train), cluster_cache)
    lm = ListenerMetrics(clusters, cfg.listener_protocol)
    smooth = Smoothness()
    fake_e, fake_t, real_e, real_t = [], [], [], []
    for (lo, hi), p in shards:
        r = predictions.load(p)
        if r.lengths is None:
            raise SplitMetricsError(f"{p}: rows of their own lengths expected (clips of any length)")
        if not np.isfinite(r.tdmm).all():
            raise SplitMetricsError(f"{predictions.tdmm_path(p)}: contains NaN or inf")
        for i in range(hi - lo):
            k = lo + i
            e, t = r.row(i)
            lt, st = data.listener_tdmm_of(k), data.speaker_tdmm_of(k)
            n = min(t.shape[1], len(lt), len(st))
            lm.update(t[None, :, :n], lt[None, :n], st[None, :n])
            smooth.update(e[None], t[None])
            fake_e.append(e[0, :: cfg.frrea_stride]); fake_t.append(t[0, :: cfg.frrea_stride])
            real_e.append(data.listener_emotion_of(k)[:: cfg.frrea_stride])
            real_t.append(lt[:: cfg.frrea_stride])
    out: dict[str, Any] = {"listener_metrics": lm.value(split_frames.listener_tdmm),
                           "si_clusters": int(len(clusters["expression"].centres)),
                           "listener_protocol": cfg.listener_protocol, "smoothness": smooth.value()}
    out["FD_behaviour"] = realism.behaviour_fd(np.concatenate(fake_e), np.concatenate(fake_t),
                                               np.concatenate(real_e), np.concatenate(real_t), 1)
    out["FRRea"] = None
    out["FRRea_status"] = "not available: no image network configured (evaluation.frrea_weights)"
    return out


def _clusters(cfg: EvalConfig, data, train, cache: tuple[str, str] | None):
    """The SI clusters, fitted once per (protocol, data, k) and kept under the cache folder: every run of a
    split uses the same ones, and k-means took most of a small run's 3DMM evaluation."""
    from mafrg.cache import cached_array, stamp
    from mafrg.metrics.listener import ExpressionClusters

    if cache is None:
        return fit_clusters(cfg.listener_protocol, train.listener_tdmm, data.listener_tdmm, cfg.si_clusters)
    folder, source = cache
    made: dict[str, Any] = {}

    def centres(g: str) -> np.ndarray:
        if not made:
            made.update(fit_clusters(cfg.listener_protocol, train.listener_tdmm, data.listener_tdmm, cfg.si_clusters))
        return made[g].centres

    key = stamp(source, cfg.listener_protocol, cfg.si_clusters)
    return {g: ExpressionClusters(np.array(cached_array(Path(folder) / f"{g}.{key}.npy", lambda g=g: centres(g))))
            for g in ("expression", "rotation")}


def evaluate_split(pred_paths: list[str], data, train, cfg: EvalConfig, dataset: DatasetConfig | None,
                   cluster_cache: tuple[str, str] | None = None) -> dict[str, Any]:
    """Realism and listener metrics of one run from its emotion shards (3DMM companions beside them).

    ``cluster_cache``: (folder, file the clusters are fitted from: the training split, or for the l2l
    protocol the evaluated split) to reuse the SI clusters across runs."""
    from mafrg.data.layouts import get_layout
    from mafrg.provenance import file_sha256

    if data.ragged:
        return _evaluate_clips(pred_paths, data, train, cfg, cluster_cache)
    t_len = data.speaker_emotion.shape[1]
    shards = _shards(pred_paths, data)
    clusters = _clusters(cfg, data, train, cluster_cache)
    lm = ListenerMetrics(clusters, cfg.listener_protocol)
    smooth = Smoothness()
    first_emo, first_3dmm = [], []
    for (lo, hi), p in shards:
        emo = predictions.load_emotion(p)
        tdmm = predictions.load_3dmm(p)
        if not np.isfinite(tdmm).all():
            raise SplitMetricsError(f"{predictions.tdmm_path(p)}: contains NaN or inf")
        lm.update(tdmm, data.listener_tdmm[lo:hi], data.speaker_tdmm[lo:hi])
        smooth.update(emo, tdmm)
        first_emo.append(np.asarray(emo[:, 0]))
        first_3dmm.append(np.asarray(tdmm[:, 0]))
    pe, p3 = np.concatenate(first_emo), np.concatenate(first_3dmm)
    out: dict[str, Any] = {"listener_metrics": lm.value(data.listener_tdmm), "si_clusters": int(len(clusters["expression"].centres)),
                           "listener_protocol": cfg.listener_protocol, "smoothness": smooth.value()}
    out["FD_behaviour"] = realism.behaviour_fd(pe, p3, data.listener_emotion, data.listener_tdmm, cfg.frrea_stride)
    if cfg.frrea_weights == realism.NOT_AVAILABLE:
        out["FRRea"] = None
        out["FRRea_status"] = "not available: no image network configured (evaluation.frrea_weights)"
        return out
    net = realism.load_image_net(cfg.frrea_weights, cfg.frrea_image_size, cfg.frrea_dim)
    if dataset is None:
        raise SplitMetricsError("FRRea needs the dataset (its real listener videos): give the dataset section")
    layout = get_layout(dataset)
    videos = [str(layout.clip_files(data.split, r.listener).video) for r in data.rows]
    out["FRRea"] = realism.frrea(net, realism.real_frames(videos, t_len, cfg.frrea_stride, dataset.fps),
                                 realism.rendered_frames(p3, cfg.frrea_stride, cfg.frrea_image_size),
                                 cfg.frrea_image_size)
    out["FRRea_status"] = f"InceptionV3 features from {cfg.frrea_weights}"
    out["frrea_weights_sha256"] = file_sha256(cfg.frrea_weights)
    return out
