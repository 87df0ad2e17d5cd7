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
    from mafrg.atomic import write_json, write_npy
    from mafrg.baselines import make_baseline, training_means
    from mafrg.config import BaselineConfig, from_dict
    from mafrg.data.assemble import SplitArrays
    from mafrg.provenance import provenance

    cfg = from_dict(BaselineConfig, _settings(a.settings))
    data = SplitArrays.load(a.data)
    means = None
    if a.method in ("B_MeanSeq", "B_MeanFr"):
        if not a.train:
            raise SystemExit(f"{a.method} needs --train (the assembled training split)")
        train = SplitArrays.load(a.train)
        means = training_means(train.speaker_emotion, train.listener_emotion)
    pred = make_baseline(a.method, data.speaker_emotion, data.listener_emotion, cfg.n_predictions,
                         cfg.seed, means)
    write_npy(a.out, pred)
    write_prediction_meta(a.out, a.method, data, provenance(_settings(a.settings), method=a.method))
    log.info("%s on %s: predictions %s", a.method, data.split, pred.shape)


def write_prediction_meta(pred_path: str | Path, method: str, data, prov: dict) -> None:
    from mafrg.atomic import write_json

    write_json(Path(pred_path).with_suffix(".json"), {
        "method": method, "split": data.split,
        "row_order": [{"row": r.index, "speaker": r.speaker, "listener": r.listener, "mirrored": r.mirrored} for r in data.rows],
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


def cmd_evaluate(a: argparse.Namespace) -> None:
    from mafrg.atomic import write_json
    from mafrg.metrics.engine import MetricInputError, evaluate
    from mafrg.provenance import file_sha256, provenance

    pred = _load_array(a.pred, mmap=True)
    names = {"pred": a.pred, "neighbours": a.neighbours}
    if a.data:
        from mafrg.data.assemble import SplitArrays

        data = SplitArrays.load(a.data)
        listener, speaker = data.listener_emotion, data.speaker_emotion
        names |= {"listener": f"{a.data}[listener_emotion]", "speaker": f"{a.data}[speaker_emotion]"}
    else:
        if not (a.listener and a.speaker):
            raise SystemExit("error: give --listener and --speaker, or --data (an assembled split)")
        listener, speaker = _load_array(a.listener), _load_array(a.speaker)
        names |= {"listener": a.listener, "speaker": a.speaker}
    neighbours = _load_array(a.neighbours)
    t0 = time.perf_counter()
    try:
        res = evaluate(pred, listener, speaker, neighbours, protocol=a.protocol, chunk_rows=a.chunk_rows,
                       threads=a.threads, names=names)
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
    generate(a.data, a.features_root, a.mmt, a.ddim, a.mode, a.out, _settings(a.settings) or None)


def cmd_report(a: argparse.Namespace) -> None:
    from mafrg.report import build_report

    cfg = json.loads(a.config_json) if a.config_json else None
    build_report(a.metrics, a.out_dir, config=cfg, config_path=a.config, dataset_root=a.root,
                 neighbours=a.neighbours_meta, features=a.features_manifests, losses=a.losses)


# ------------------------------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
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
    s.set_defaults(func=cmd_baseline)

    s = sub.add_parser("evaluate", help="REACT 2024 metrics of any method's predictions")
    s.add_argument("--pred", required=True, help="(R, P, T, 25) .npy")
    s.add_argument("--listener", help="(R, T, 25) .npy")
    s.add_argument("--speaker", help="(R, T, 25) .npy")
    s.add_argument("--data", help="assembled split .npz (instead of --listener/--speaker)")
    s.add_argument("--neighbours", required=True, help="(R, R) 0/1 .npy")
    s.add_argument("--out", required=True, help="metrics JSON")
    s.add_argument("--protocol", default="react2024", choices=["react2024", "corrected"])
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--chunk-rows", type=int, default=32)
    s.add_argument("--method", help="method name recorded in the JSON")
    s.add_argument("--split", help="split name recorded in the JSON")
    s.set_defaults(func=cmd_evaluate)

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
