"""Split metrics: the metrics of a run that pool the whole split (one job per split and run, not per row shard).

Realism (FRRea, or FD_behaviour without an image network) compares distributions over all frames; the Efficient
Listener metrics fit their SI clusters on the split; the smoothness measures are means over every frame. All read
the run's 3DMM predictions beside the emotion ones, streamed shard by shard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mafrg import predictions
from mafrg.config import EvalConfig
from mafrg.metrics import realism
from mafrg.metrics.listener import ListenerMetrics, fit_clusters
from mafrg.metrics.smoothness import Smoothness
from mafrg.sharding import coverage_problem, parse_rows


class SplitMetricsError(ValueError):
    pass


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


def evaluate_split(pred_paths: list[str], data, train, cfg: EvalConfig, root: str | None, fps: int,
                 cluster_cache: tuple[str, str] | None = None) -> dict[str, Any]:
    """Realism and listener metrics of one run from its emotion shards (3DMM companions beside them).

    ``cluster_cache``: (folder, file the clusters are fitted from: the training split, or for the l2l
    protocol the evaluated split) to reuse the SI clusters across runs."""
    from mafrg.data.layout import clip_files
    from mafrg.provenance import file_sha256

    t_len = data.speaker_emotion.shape[1]
    shards = sorted(((parse_rows(Path(p).stem), p) for p in pred_paths), key=lambda x: x[0])
    problem = coverage_problem([rows for rows, _ in shards], data.n_rows)
    if problem:
        raise SplitMetricsError(f"prediction shards {[Path(p).name for _, p in shards]} do not cover the "
                            f"{data.n_rows} rows of split {data.split} once each ({problem})")
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
    videos = [str(clip_files(root, data.split, r.listener).video) for r in data.rows]
    out["FRRea"] = realism.frrea(net, realism.real_frames(videos, t_len, cfg.frrea_stride, fps),
                                 realism.rendered_frames(p3, cfg.frrea_stride, cfg.frrea_image_size),
                                 cfg.frrea_image_size)
    out["FRRea_status"] = f"InceptionV3 features from {cfg.frrea_weights}"
    out["frrea_weights_sha256"] = file_sha256(cfg.frrea_weights)
    return out
