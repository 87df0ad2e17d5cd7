"""Evaluation: the REACT metrics of any predictions, per row shard and aggregated; realism and 3DMM metrics."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from mafrg.cli.common import load_array, rows, settings

log = logging.getLogger("mafrg")


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
            raise ValueError("give --listener and --speaker, or --data (an assembled split)")
        listener, speaker = load_array(a.listener), load_array(a.speaker)
        names = {"listener": a.listener, "speaker": a.speaker}
    return listener, speaker, load_array(a.neighbours), names | {"neighbours": a.neighbours}


def _headline(out: dict) -> str:
    from mafrg.metrics.table import ENGINE

    return json.dumps({k: out[k] for k in ENGINE})


def cmd_evaluate(a: argparse.Namespace) -> None:
    from mafrg.atomic import write_json
    from mafrg.metrics.engine import evaluate
    from mafrg.provenance import file_sha256, provenance

    pred = load_array(a.pred, mmap=True)
    listener, speaker, neighbours, names = _split_inputs(a)
    rows_in = names["listener"]
    if listener.shape[0] == 0:
        raise ValueError(f"{rows_in}: no rows to evaluate")
    if listener.shape[0] % 2:
        raise ValueError(f"{rows_in}: {listener.shape[0]} rows; an evaluated split has 2N rows (its N speaker -> "
                         "listener pairs, then the same pairs with the roles swapped)")
    t0 = time.perf_counter()
    res = evaluate(pred, listener, speaker, neighbours, protocol=a.protocol, chunk_rows=a.chunk_rows,
                   threads=a.threads, names=names | {"pred": a.pred})
    out = res.to_dict()
    out["info"]["seconds"] = round(time.perf_counter() - t0, 3)
    out["inputs"] = {"pred": a.pred, "pred_sha256": file_sha256(a.pred), "neighbours": a.neighbours}
    out |= {k: v for k, v in (("method", a.method), ("split", a.split)) if v}
    out["provenance"] = provenance()
    write_json(a.out, out)
    for w in out["info"].get("warnings", []):
        log.warning("%s: %s", a.pred, w)
    print(_headline(out))


def cmd_evaluate_shard(a: argparse.Namespace) -> None:
    from mafrg.data.assemble import ClipArrays, SplitArrays
    from mafrg.metrics.shards import evaluate_clip_shard, evaluate_shard
    from mafrg.provenance import provenance

    if a.data and SplitArrays.read_meta(a.data).get("format") == "clips":
        data = ClipArrays.load(a.data)
        lo, hi = rows(a.rows, data.n_rows, a.data)
        part = evaluate_clip_shard(a.pred, (lo, hi), data, load_array(a.neighbours), a.out, a.protocol,
                                   a.gt_alignment, a.fps, a.threads,
                                   {"method": a.method, "split": a.split, "neighbours": a.neighbours,
                                    "provenance": provenance()})
        log.info("%s %s rows %d..%d (clips of any length; FRDist kernel: %s)", a.method, a.split, lo, hi - 1,
                 part.kernel)
        return
    listener, speaker, neighbours, names = _split_inputs(a)
    lo, hi = rows(a.rows, listener.shape[0], a.data)
    part = evaluate_shard(a.pred, (lo, hi), listener, speaker, neighbours, a.out, a.protocol, a.chunk_rows, a.threads,
                          names, {"method": a.method, "split": a.split, "provenance": provenance()})
    log.info("%s %s rows %d..%d (FRDist kernel: %s)", a.method, a.split, lo, hi - 1, part.kernel)


def cmd_aggregate(a: argparse.Namespace) -> None:
    from mafrg.atomic import write_json
    from mafrg.data.assemble import SplitArrays
    from mafrg.metrics.shards import aggregate_files
    from mafrg.provenance import provenance

    meta = SplitArrays.read_meta(a.data)
    frames = None if meta.get("format") == "clips" else SplitArrays.load(a.data).speaker_emotion.shape[1]
    res, inputs = aggregate_files(a.shards, len(meta["rows"]), a.protocol, frames)
    out = res.to_dict()
    out["inputs"] = {"shards": inputs}
    out |= {"method": a.method, "split": a.split, "seed": a.seed, "provenance": provenance()}
    write_json(a.out, out)
    print(_headline(out))


def cmd_evaluate_split(a: argparse.Namespace) -> None:
    """Realism (FRRea or FD_behaviour) and the Efficient Listener metrics from a run's prediction shards."""
    from mafrg.atomic import write_json
    from mafrg.config import DatasetConfig, EvalConfig, from_dict
    from mafrg.data.assemble import load_split
    from mafrg.metrics.split_metrics import evaluate_split
    from mafrg.provenance import provenance

    cfg = from_dict(EvalConfig, settings(a.settings))
    out = {"method": a.method, "split": a.split, "seed": a.seed}
    source = a.data if cfg.listener_protocol == "l2l" else a.train
    cache = (str(Path(a.train).parent.parent / "cache" / "si_clusters"), source)  # results/cache/ beside data/
    dataset = DatasetConfig.parse(settings(a.dataset)) if a.dataset else None
    out |= evaluate_split(a.pred, load_split(a.data), load_split(a.train), cfg, dataset, cache)
    out["provenance"] = provenance(settings(a.settings))
    write_json(a.out, out)
    print(json.dumps({k: out[k] for k in ("FRRea", "FD_behaviour", "listener_metrics")}))


def add_parsers(sub) -> None:
    from mafrg.metrics.engine import PROTOCOLS

    s = sub.add_parser("evaluate", help="REACT 2024 metrics of any method's predictions")
    s.add_argument("--pred", required=True, help="(R, P, T, 25) .npy")
    s.add_argument("--listener", help="(R, T, 25) .npy")
    s.add_argument("--speaker", help="(R, T, 25) .npy")
    s.add_argument("--data", help="assembled split .npz (instead of --listener/--speaker)")
    s.add_argument("--neighbours", required=True, help="(R, R) 0/1 .npy")
    s.add_argument("--out", required=True, help="metrics JSON")
    s.add_argument("--protocol", default=PROTOCOLS[0], choices=PROTOCOLS,
                   help="react2024: the official code's behaviour; corrected: see docs/metrics.md")
    s.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    s.add_argument("--chunk-rows", type=int, default=32, help="rows evaluated at once (memory, not values)")
    s.add_argument("--method", help="method name recorded in the JSON")
    s.add_argument("--split", help="split name recorded in the JSON")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("evaluate-shard", help="per-row metric contributions of one shard of rows (Parquet)")
    s.add_argument("--pred", required=True, help="(rows, P, T, 25) .npy of rows start:stop")
    s.add_argument("--rows", required=True, help="start:stop (or a shard name r00000-00100)")
    s.add_argument("--data", required=True, help="assembled split .npz")
    s.add_argument("--neighbours", required=True, help="(R, R) 0/1 .npy")
    s.add_argument("--out", required=True, help="per-row Parquet (the FRDvs state goes beside it)")
    s.add_argument("--protocol", default=PROTOCOLS[0], choices=PROTOCOLS, help="as for mafrg evaluate")
    s.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    s.add_argument("--chunk-rows", type=int, default=32, help="rows evaluated at once (memory, not values)")
    s.add_argument("--gt-alignment", default="resample", choices=("resample", "prefix"),
                   help="clips of any length: how a ground truth of another length is compared (metrics.ragged)")
    s.add_argument("--fps", type=int, default=25, help="the data's frame rate (the corrected FRSyn's +-2 s window)")
    s.add_argument("--method", help="the run label recorded in the output")
    s.add_argument("--split", help="the split name recorded in the output")
    s.set_defaults(func=cmd_evaluate_shard)

    s = sub.add_parser("aggregate", help="split-level metrics JSON from the evaluation shards of a run")
    s.add_argument("--shards", nargs="+", required=True, help="per-row Parquet files covering the split")
    s.add_argument("--data", required=True, help="assembled split .npz")
    s.add_argument("--out", required=True, help="the split-level metrics (JSON)")
    s.add_argument("--protocol", default=PROTOCOLS[0], choices=PROTOCOLS, help="as for mafrg evaluate")
    s.add_argument("--method", help="the run's label, e.g. ReactDiff_online")
    s.add_argument("--split", help="the split name recorded in the output")
    s.add_argument("--seed", type=int, default=0, help="the run's seed recorded in the output")
    s.set_defaults(func=cmd_aggregate)

    s = sub.add_parser("evaluate-split", help="split metrics of a run: realism (FRRea or FD_behaviour), the Efficient "
                                              "Listener (3DMM) metrics and smoothness, over the whole split")
    s.add_argument("--pred", nargs="+", required=True, help="emotion prediction shards r*.npy (3DMM beside them)")
    s.add_argument("--data", required=True, help="assembled split .npz")
    s.add_argument("--train", required=True, help="assembled training split .npz (SI clusters)")
    s.add_argument("--dataset", help="JSON of the dataset section (root, layout, fps: the real listener videos, "
                                     "for FRRea)")
    s.add_argument("--settings", help="JSON of the evaluation config section")
    s.add_argument("--out", required=True, help="the split metrics (JSON)")
    s.add_argument("--method", help="the run's label")
    s.add_argument("--split", help="the split name recorded in the output")
    s.add_argument("--seed", type=int, default=0, help="the run's seed recorded in the output")
    s.set_defaults(func=cmd_evaluate_split)
