"""``mafrg`` command line: one sub-command per workflow step, each usable on its own.

Workflow rules call these with a config section passed as JSON (``--settings``), so the same typed
dataclass defaults apply whether a step runs under Snakemake or by hand.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("mafrg")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _settings(text: str | None) -> dict:
    return json.loads(text) if text else {}


# ---------------------------------------------------------------------------------------------- commands
def cmd_synth(a: argparse.Namespace) -> None:
    from mafrg.config import SynthConfig, from_dict
    from mafrg.synth.generator import generate

    generate(from_dict(SynthConfig, _settings(a.settings)), a.out)


def cmd_validate(a: argparse.Namespace) -> None:
    from mafrg.atomic import write_json
    from mafrg.config import DatasetConfig, from_dict
    from mafrg.data.validate import validate_dataset
    from mafrg.provenance import provenance

    cfg = from_dict(DatasetConfig, _settings(a.dataset))
    report = validate_dataset(a.root, a.splits, cfg)
    if a.out:
        write_json(a.out, report.to_dict() | {"provenance": provenance(_settings(a.dataset))})
    log.info("dataset OK: %s", {k: v["clips"] for k, v in report.splits.items()})


def cmd_assemble(a: argparse.Namespace) -> None:
    from mafrg.config import DatasetConfig, from_dict
    from mafrg.data.assemble import assemble_split
    from mafrg.provenance import provenance

    cfg = from_dict(DatasetConfig, _settings(a.dataset))
    arrays = assemble_split(a.root, a.split, cfg, mirrored=a.mirrored)
    manifest = Path(a.root) / "manifest.json"
    arrays.save(a.out, provenance(_settings(a.dataset), dataset_manifest=str(manifest) if manifest.exists() else None))


def cmd_neighbours(a: argparse.Namespace) -> None:
    from mafrg.atomic import write_json, write_npy
    from mafrg.config import NeighbourConfig, from_dict
    from mafrg.data.assemble import SplitArrays
    from mafrg.neighbours import build_neighbours, load_official, official_path
    from mafrg.provenance import file_sha256, provenance

    cfg = from_dict(NeighbourConfig, _settings(a.settings))
    data = SplitArrays.load(a.data)
    official = official_path(a.root, a.split)
    if cfg.source == "official" or (cfg.source == "auto" and official.exists()):
        m = load_official(official, data.n_rows)
        origin = {"source": "official", "file": str(official), "sha256": file_sha256(official)}
    else:
        m = build_neighbours(data.speaker_emotion, cfg.quantile)
        origin = {"source": "built", "rule": "speaker mean/std descriptor, z-scored, Euclidean, quantile threshold",
                  "quantile": cfg.quantile}
    write_npy(a.out, m)
    write_json(Path(a.out).with_suffix(".json"), {
        **origin, "rows": data.n_rows, "mean_neighbours_per_row": float(m.sum(axis=1).mean()),
        "provenance": provenance(_settings(a.settings)),
    })
    log.info("neighbours %s: %s, %.1f per row", a.split, origin["source"], m.sum(axis=1).mean())


def cmd_baseline(a: argparse.Namespace) -> None:
    from mafrg.atomic import write_npy
    from mafrg.baselines import make_baseline, make_baseline_3dmm, training_3dmm_stats, training_means
    from mafrg.sharding import tdmm_path
    from mafrg.config import BaselineConfig, from_dict
    from mafrg.data.assemble import SplitArrays
    from mafrg.provenance import provenance

    cfg = from_dict(BaselineConfig, _settings(a.settings))
    data = SplitArrays.load(a.data)
    train = SplitArrays.load(a.train) if a.train else None
    means = None
    if a.method in ("B_MeanSeq", "B_MeanFr"):
        if train is None:
            raise SystemExit(f"{a.method} needs --train (the assembled training split)")
        means = training_means(train.speaker_emotion, train.listener_emotion)
    lo, hi = _rows(a.rows, data.n_rows, a.data)
    pred = make_baseline(a.method, data.speaker_emotion[lo:hi], data.listener_emotion[lo:hi], cfg.n_predictions,
                         cfg.seed, means, start=lo)
    write_npy(a.out, pred)
    if train is not None:  # the 3DMM companion (renders, FRRea, listener metrics)
        stats = training_3dmm_stats(train.speaker_tdmm, train.listener_tdmm)
        write_npy(tdmm_path(a.out), make_baseline_3dmm(a.method, data.speaker_tdmm[lo:hi], data.listener_tdmm[lo:hi],
                                                       stats, cfg.n_predictions, cfg.seed, start=lo))
    write_prediction_meta(a.out, a.method, data, provenance(_settings(a.settings), method=a.method), (lo, hi))
    log.info("%s on %s: predictions %s", a.method, data.split, pred.shape)


def _rows(text: str | None, n_rows: int, what: str) -> tuple[int, int]:
    """--rows of a split with n_rows rows (default: all of them)."""
    from mafrg.sharding import parse_rows

    if not text:
        return 0, n_rows
    try:
        lo, hi = parse_rows(text)
    except ValueError as exc:
        raise SystemExit(f"error: --rows: {exc}") from exc
    if hi > n_rows:
        raise SystemExit(f"error: --rows {text}: {what} has only {n_rows} rows")
    return lo, hi


def write_prediction_meta(pred_path: str | Path, method: str, data, prov: dict,
                          rows: tuple[int, int] | None = None) -> None:
    from mafrg.atomic import write_json

    lo, hi = rows or (0, data.n_rows)
    write_json(Path(pred_path).with_suffix(".json"), {
        "method": method, "split": data.split, "rows": [lo, hi],
        "row_order": [{"row": r.index, "speaker": r.speaker, "listener": r.listener, "mirrored": r.mirrored}
                      for r in data.rows[lo:hi]],
        "provenance": prov,
    })


def _load_array(path: str, mmap: bool = False) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise SystemExit(f"error: {p}: file not found")
    try:
        return np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise SystemExit(f"error: {p}: cannot be read as .npy ({exc})") from exc


def _split_inputs(a: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, str]]:
    """Listener and speaker emotion (from --data, an assembled split, or --listener/--speaker .npy files),
    the neighbours, and the names metric errors use for them."""
    if a.data:
        from mafrg.data.assemble import SplitArrays

        data = SplitArrays.load(a.data)
        listener, speaker = data.listener_emotion, data.speaker_emotion
        names = {"listener": f"{a.data}[listener_emotion]", "speaker": f"{a.data}[speaker_emotion]"}
    else:
        if not (getattr(a, "listener", None) and getattr(a, "speaker", None)):
            raise SystemExit("error: give --listener and --speaker, or --data (an assembled split)")
        listener, speaker = _load_array(a.listener), _load_array(a.speaker)
        names = {"listener": a.listener, "speaker": a.speaker}
    return listener, speaker, _load_array(a.neighbours), names | {"neighbours": a.neighbours}


def cmd_evaluate(a: argparse.Namespace) -> None:
    from mafrg.atomic import write_json
    from mafrg.metrics.engine import MetricInputError, evaluate
    from mafrg.provenance import file_sha256, provenance

    pred = _load_array(a.pred, mmap=True)
    listener, speaker, neighbours, names = _split_inputs(a)
    t0 = time.perf_counter()
    try:
        res = evaluate(pred, listener, speaker, neighbours, protocol=a.protocol, chunk_rows=a.chunk_rows,
                       threads=a.threads, names=names | {"pred": a.pred})
    except MetricInputError as exc:
        raise SystemExit(f"error: {exc}") from exc
    seconds = time.perf_counter() - t0
    out = res.to_dict()
    out["info"]["seconds"] = round(seconds, 3)
    out["inputs"] = {"pred": a.pred, "pred_sha256": file_sha256(a.pred), "neighbours": a.neighbours}
    if a.method:
        out["method"] = a.method
    if a.split:
        out["split"] = a.split
    out["provenance"] = provenance()
    write_json(a.out, out)
    print(json.dumps({k: out[k] for k in ("FRCorr", "FRDist", "FRDiv", "FRVar", "FRDvs", "FRSyn")}))


def cmd_evaluate_shard(a: argparse.Namespace) -> None:
    from mafrg.metrics.engine import MetricInputError, contributions
    from mafrg.metrics.shards import write_contributions
    from mafrg.provenance import file_sha256, provenance

    listener, speaker, neighbours, names = _split_inputs(a)
    pred = _load_array(a.pred, mmap=True)
    lo, hi = _rows(a.rows, listener.shape[0], a.data)
    if pred.ndim != 4 or pred.shape[0] != hi - lo:
        raise SystemExit(f"error: {a.pred}: expected {hi - lo} rows (rows {lo}..{hi - 1}) of shape "
                         f"(rows, predictions, T, 25), found {pred.shape}")
    t0 = time.perf_counter()
    try:
        part = contributions(pred, listener, speaker, neighbours, lo, a.protocol, a.chunk_rows, a.threads,
                             names=names | {"pred": a.pred})
    except MetricInputError as exc:
        raise SystemExit(f"error: {exc}") from exc
    meta = {"method": a.method, "split": a.split, "protocol": a.protocol, "pred": a.pred,
            "pred_sha256": file_sha256(a.pred), "seconds": round(time.perf_counter() - t0, 3),
            "provenance": provenance()}
    write_contributions(a.out, part, meta)
    log.info("%s %s rows %d..%d: %.1f s (FRDist kernel: %s)", a.method, a.split, lo, hi - 1, meta["seconds"], part.kernel)


def cmd_aggregate(a: argparse.Namespace) -> None:
    from mafrg.atomic import write_json
    from mafrg.data.assemble import SplitArrays
    from mafrg.metrics.engine import MetricInputError, aggregate
    from mafrg.metrics.shards import read_contributions
    from mafrg.provenance import provenance

    data = SplitArrays.load(a.data)
    try:
        loaded = [read_contributions(p) for p in a.shards]
        protocols = {m["protocol"] for _, m in loaded}
        if protocols != {a.protocol}:
            raise MetricInputError(f"shards were evaluated under protocol(s) {sorted(protocols)}, not {a.protocol}")
        res = aggregate([p for p, _ in loaded], data.n_rows, a.protocol, frames=data.speaker_emotion.shape[1])
    except MetricInputError as exc:
        raise SystemExit(f"error: {exc}") from exc
    out = res.to_dict()
    out["info"]["seconds"] = round(sum(m["seconds"] for _, m in loaded), 3)
    out["inputs"] = {"shards": [{"path": p, "pred": m["pred"], "pred_sha256": m["pred_sha256"]}
                                for p, (_, m) in zip(a.shards, loaded)]}
    out |= {"method": a.method, "split": a.split, "provenance": provenance()}
    write_json(a.out, out)
    print(json.dumps({k: out[k] for k in ("FRCorr", "FRDist", "FRDiv", "FRVar", "FRDvs", "FRSyn")}))


def cmd_evaluate_3dmm(a: argparse.Namespace) -> None:
    """Realism (FRRea or FD_behaviour) and the Efficient Listener metrics from a method's prediction shards."""
    from mafrg.atomic import write_json
    from mafrg.config import EvalConfig, from_dict
    from mafrg.data.assemble import SplitArrays
    from mafrg.data.layout import clip_files
    from mafrg.metrics import realism
    from mafrg.metrics.listener import ExpressionClusters, ListenerMetrics
    from mafrg.provenance import file_sha256, provenance
    from mafrg.sharding import coverage_problem, parse_rows, tdmm_path

    cfg = from_dict(EvalConfig, _settings(a.settings))
    data = SplitArrays.load(a.data)
    train = SplitArrays.load(a.train)
    t_len = data.speaker_emotion.shape[1]
    shards = sorted(((parse_rows(Path(p).stem), p) for p in a.pred), key=lambda x: x[0])
    problem = coverage_problem([rows for rows, _ in shards], data.n_rows)
    if problem:
        raise SystemExit(f"error: prediction shards {[Path(p).name for _, p in shards]} do not cover the "
                         f"{data.n_rows} rows of {a.data} once each ({problem})")
    clusters = ExpressionClusters.fit(train.listener_tdmm, cfg.si_clusters, seed=0)
    lm = ListenerMetrics(clusters)
    first_emo, first_3dmm = [], []
    for (lo, hi), p in shards:
        tp = tdmm_path(p)
        if not tp.is_file():
            raise SystemExit(f"error: {tp}: no 3DMM predictions beside {p} (needed for realism and 3DMM metrics)")
        emo, tdmm = _load_array(p, mmap=True), _load_array(str(tp), mmap=True)
        if tdmm.shape[:3] != emo.shape[:3] or tdmm.shape[-1] != 58:
            raise SystemExit(f"error: {tp}: shape {tdmm.shape} does not match {p} {emo.shape} with 58 coefficients")
        if not np.isfinite(tdmm).all():
            raise SystemExit(f"error: {tp}: contains NaN or inf")
        lm.update(tdmm, data.listener_tdmm[lo:hi], data.speaker_tdmm[lo:hi])
        first_emo.append(np.asarray(emo[:, 0]))
        first_3dmm.append(np.asarray(tdmm[:, 0]))
    pe, p3 = np.concatenate(first_emo), np.concatenate(first_3dmm)
    out: dict = {"method": a.method, "split": a.split, "listener_metrics": lm.value(data.listener_tdmm),
                 "si_clusters": int(len(clusters.centres))}
    out["FD_behaviour"] = realism.behaviour_fd(pe, p3, data.listener_emotion, data.listener_tdmm, cfg.frrea_stride)
    if cfg.frrea_weights == realism.NOT_AVAILABLE:
        out["FRRea"] = None
        out["FRRea_status"] = "not available: no image network configured (evaluation.frrea_weights)"
    else:
        try:
            net = realism.load_image_net(cfg.frrea_weights, cfg.frrea_image_size, cfg.frrea_dim)
            videos = [str(clip_files(a.root, data.split, r.listener).video) for r in data.rows]
            out["FRRea"] = realism.frrea(net, realism.real_frames(videos, t_len, cfg.frrea_stride, a.fps),
                                         realism.rendered_frames(p3, cfg.frrea_stride, cfg.frrea_image_size),
                                         cfg.frrea_image_size)
        except realism.RealismError as exc:
            raise SystemExit(f"error: {exc}") from exc
        out["FRRea_status"] = f"InceptionV3 features from {cfg.frrea_weights}"
        out["frrea_weights_sha256"] = file_sha256(cfg.frrea_weights)
    out["provenance"] = provenance(_settings(a.settings))
    write_json(a.out, out)
    print(json.dumps({k: out[k] for k in ("FRRea", "FD_behaviour", "listener_metrics")}))


def cmd_extract(a: argparse.Namespace) -> None:
    from mafrg.config import DatasetConfig, from_dict
    from mafrg.features.config import FeatureConfig
    from mafrg.features.extract import extract_shard

    res = extract_shard(a.root, a.split, a.rel, a.out, FeatureConfig.from_dict(_settings(a.features)),
                        from_dict(DatasetConfig, _settings(a.dataset)))
    log.info("shard %s: computed %s, reused %s, seconds %s", res.path, res.computed, res.reused,
             {k: round(v, 2) for k, v in res.seconds.items()})


def cmd_features_manifest(a: argparse.Namespace) -> None:
    from mafrg.features.manifest import build_manifest

    build_manifest(a.split, a.shards, a.out)


def _torch_threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def cmd_train_mmt(a: argparse.Namespace) -> None:
    from mafrg.reactdiff.stages import train_mmt

    _torch_threads(a.threads)
    final = train_mmt(a.train_data, a.features_root, a.manifest, _settings(a.settings), a.out, a.losses)
    log.info("MMT trained: final val loss %.4f, peak RSS %.0f MB", final["history"][-1]["val_loss"], final["peak_rss_mb"])


def cmd_train_ddim(a: argparse.Namespace) -> None:
    from mafrg.reactdiff.stages import train_ddim

    _torch_threads(a.threads)
    final = train_ddim(a.train_data, a.features_root, a.manifest, a.mmt, _settings(a.settings), a.out, a.losses)
    log.info("DDIM trained: final val loss %.4f, peak RSS %.0f MB", final["history"][-1]["val_loss"], final["peak_rss_mb"])


def cmd_generate(a: argparse.Namespace) -> None:
    from mafrg.reactdiff.stages import generate

    _torch_threads(a.threads)
    from mafrg.data.assemble import SplitArrays

    rows = _rows(a.rows, len(SplitArrays.read_meta(a.data)["rows"]), a.data)  # meta only: generate loads the arrays
    generate(a.data, a.features_root, a.mmt, a.ddim, a.mode, a.out, _settings(a.settings) or None, rows=rows)


def cmd_report(a: argparse.Namespace) -> None:
    from mafrg.report import build_report

    cfg = json.loads(a.config_json) if a.config_json else None
    build_report(a.metrics, a.out_dir, config=cfg, config_path=a.config, dataset_root=a.root,
                 neighbours=a.neighbours_meta, features=a.features_manifests, losses=a.losses,
                 realism_files=a.realism, showcase=_showcase(a.showcase_data, a.showcase_pred))


def _showcase(data_path: str | None, pred_path: str | None, n_rows: int = 3):
    """The first rows of one prediction shard (and its 3DMM when present) for traces and GIFs."""
    if not (data_path and pred_path):
        return None
    from mafrg.data.assemble import SplitArrays
    from mafrg.report_html import Showcase
    from mafrg.sharding import parse_rows, tdmm_path

    data = SplitArrays.load(data_path)
    lo, _ = parse_rows(Path(pred_path).stem)
    pred = _load_array(pred_path, mmap=True)
    n = min(n_rows, pred.shape[0])
    rows = list(range(lo, lo + n))
    tp = tdmm_path(pred_path)
    return Showcase(
        split=data.split, method=Path(pred_path).parent.name, rows=rows,
        speaker_emotion=data.speaker_emotion[lo : lo + n], listener_emotion=data.listener_emotion[lo : lo + n],
        pred_emotion=np.asarray(pred[:n]), speaker_3dmm=data.speaker_tdmm[lo : lo + n],
        pred_3dmm=np.asarray(_load_array(str(tp), mmap=True)[:n]) if tp.is_file() else None,
        labels=[f"speaker {data.rows[k].speaker} → listener {data.rows[k].listener}" for k in rows],
    )


# ------------------------------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    from mafrg.metrics.engine import PROTOCOLS

    p = argparse.ArgumentParser(prog="mafrg", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="generate the demo dataset in the REACT 2024 layout")
    s.add_argument("--out", required=True)
    s.add_argument("--settings", help="JSON of the synth config section")
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser("validate", help="check every file the splits reference; list all problems")
    s.add_argument("--root", required=True)
    s.add_argument("--splits", nargs="+", required=True)
    s.add_argument("--dataset", help="JSON of the dataset config section")
    s.add_argument("--out", help="write a JSON validation report here")
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("assemble", help="read a split into arrays in evaluation row order")
    s.add_argument("--root", required=True)
    s.add_argument("--split", required=True)
    s.add_argument("--dataset")
    s.add_argument("--mirrored", action=argparse.BooleanOptionalAction, default=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_assemble)

    s = sub.add_parser("neighbours", help="official or built appropriate-reaction matrix")
    s.add_argument("--root", required=True)
    s.add_argument("--split", required=True)
    s.add_argument("--data", required=True, help="assembled split (.npz)")
    s.add_argument("--settings")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_neighbours)

    s = sub.add_parser("baseline", help="write a naive baseline's predictions (R, 10, T, 25)")
    s.add_argument("--method", required=True, choices=["GT", "B_Random", "B_Mime", "B_MeanSeq", "B_MeanFr"])
    s.add_argument("--data", required=True)
    s.add_argument("--train", help="assembled training split (for the mean baselines)")
    s.add_argument("--settings")
    s.add_argument("--out", required=True)
    s.add_argument("--rows", help="only rows start:stop of the split (or a shard name r00000-00100)")
    s.set_defaults(func=cmd_baseline)

    s = sub.add_parser("evaluate", help="REACT 2024 metrics of any method's predictions")
    s.add_argument("--pred", required=True, help="(R, P, T, 25) .npy")
    s.add_argument("--listener", help="(R, T, 25) .npy")
    s.add_argument("--speaker", help="(R, T, 25) .npy")
    s.add_argument("--data", help="assembled split .npz (instead of --listener/--speaker)")
    s.add_argument("--neighbours", required=True, help="(R, R) 0/1 .npy")
    s.add_argument("--out", required=True, help="metrics JSON")
    s.add_argument("--protocol", default=PROTOCOLS[0], choices=PROTOCOLS)
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--chunk-rows", type=int, default=32)
    s.add_argument("--method", help="method name recorded in the JSON")
    s.add_argument("--split", help="split name recorded in the JSON")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("evaluate-shard", help="per-row metric contributions of one shard of rows (Parquet)")
    s.add_argument("--pred", required=True, help="(rows, P, T, 25) .npy of rows start:stop")
    s.add_argument("--rows", required=True, help="start:stop (or a shard name r00000-00100)")
    s.add_argument("--data", required=True, help="assembled split .npz")
    s.add_argument("--neighbours", required=True, help="(R, R) 0/1 .npy")
    s.add_argument("--out", required=True, help="per-row Parquet (the FRDvs state goes beside it)")
    s.add_argument("--protocol", default=PROTOCOLS[0], choices=PROTOCOLS)
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--chunk-rows", type=int, default=32)
    s.add_argument("--method")
    s.add_argument("--split")
    s.set_defaults(func=cmd_evaluate_shard)

    s = sub.add_parser("evaluate-3dmm", help="realism (FRRea / FD_behaviour) and Efficient Listener metrics")
    s.add_argument("--pred", nargs="+", required=True, help="emotion prediction shards r*.npy (3DMM beside them)")
    s.add_argument("--data", required=True, help="assembled split .npz")
    s.add_argument("--train", required=True, help="assembled training split .npz (SI clusters)")
    s.add_argument("--root", help="dataset root (real listener videos, for FRRea)")
    s.add_argument("--fps", type=int, default=25)
    s.add_argument("--settings", help="JSON of the evaluation config section")
    s.add_argument("--out", required=True)
    s.add_argument("--method")
    s.add_argument("--split")
    s.set_defaults(func=cmd_evaluate_3dmm)

    s = sub.add_parser("aggregate", help="split-level metrics JSON from the evaluation shards of a method")
    s.add_argument("--shards", nargs="+", required=True, help="per-row Parquet files covering the split")
    s.add_argument("--data", required=True, help="assembled split .npz")
    s.add_argument("--out", required=True)
    s.add_argument("--protocol", default=PROTOCOLS[0], choices=PROTOCOLS)
    s.add_argument("--method")
    s.add_argument("--split")
    s.set_defaults(func=cmd_aggregate)

    s = sub.add_parser("extract", help="extract every feature stream of one (clip, person) into its Parquet shard")
    s.add_argument("--root", required=True)
    s.add_argument("--split", required=True)
    s.add_argument("--rel", required=True, help="<site>/<session>/<person>/<clip> as in the split file")
    s.add_argument("--features", help="JSON of the features config section")
    s.add_argument("--dataset", help="JSON of the dataset config section")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_extract)

    s = sub.add_parser("features-manifest", help="summarise a split's feature shards (frozen list for training)")
    s.add_argument("--split", required=True)
    s.add_argument("--shards", nargs="*", default=[])
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_features_manifest)

    for name, fn, extra in (("train-mmt", cmd_train_mmt, False), ("train-ddim", cmd_train_ddim, True)):
        s = sub.add_parser(name, help=f"ReactDiff: train the {'latent DDIM' if extra else 'Multi-Modality Transformer'}")
        s.add_argument("--train-data", required=True, help="assembled training split (.npz)")
        s.add_argument("--features-root", required=True)
        s.add_argument("--manifest", required=True, help="the training split's features manifest")
        if extra:
            s.add_argument("--mmt", required=True, help="trained MMT checkpoint (frozen)")
        s.add_argument("--settings", help="JSON of the reactdiff config section")
        s.add_argument("--out", required=True)
        s.add_argument("--losses", required=True, help="per-epoch losses CSV")
        s.add_argument("--threads", type=int, default=None)
        s.set_defaults(func=fn)

    s = sub.add_parser("generate", help="ReactDiff: alpha reactions per mirrored row of a split")
    s.add_argument("--data", required=True, help="assembled split (.npz)")
    s.add_argument("--features-root", required=True)
    s.add_argument("--mmt", required=True)
    s.add_argument("--ddim", required=True)
    s.add_argument("--mode", choices=["offline", "online"], required=True)
    s.add_argument("--settings", help="JSON of the reactdiff section (sampling steps, eta, seed, n_predictions)")
    s.add_argument("--out", required=True)
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--rows", help="only rows start:stop of the split (or a shard name r00000-00100)")
    s.set_defaults(func=cmd_generate)

    s = sub.add_parser("report", help="tables (CSV, Markdown) with provenance from metrics JSON files")
    s.add_argument("--metrics", nargs="+", required=True)
    s.add_argument("--out-dir", required=True)
    s.add_argument("--config", help="the workflow config file (for its hash)")
    s.add_argument("--config-json", help="the effective workflow config as JSON (preferred over --config)")
    s.add_argument("--root", help="dataset root (for its manifest)")
    s.add_argument("--neighbours-meta", nargs="*", default=[])
    s.add_argument("--features-manifests", nargs="*", default=[])
    s.add_argument("--losses", nargs="*", default=[], help="training loss CSVs to plot")
    s.add_argument("--realism", nargs="*", default=[], help="realism / listener-metric JSONs (evaluate-3dmm)")
    s.add_argument("--showcase-data", help="assembled split whose first rows the HTML report shows")
    s.add_argument("--showcase-pred", help="a prediction shard of that split (traces and rendered GIFs)")
    s.set_defaults(func=cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        args.func(args)
    except SystemExit:
        raise
    except ValueError as exc:
        # Expected problems with inputs or settings (DataError, ValidationError, ConfigError, ...): the
        # message names the file/key and the problem; a traceback would only hide it.
        log.debug("traceback", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception:  # noqa: BLE001 - a bug or environment failure: keep the traceback
        log.exception("mafrg %s failed", args.command)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
