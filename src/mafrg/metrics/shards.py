"""Evaluation shards on disk: per-row metric contributions as Parquet, the FRDvs state beside them.

``<name>.parquet`` has one row per evaluated row (``row``, FRCorr, FRDist, FRDiv, FRVar, FRSyn) and the
shard's bookkeeping as JSON key/value metadata (``b"mafrg"``); ``<name>.dvs.npz`` holds the FRDvs
accumulator (count, mean, m2) so the aggregation never re-reads predictions. Both are written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mafrg.atomic import atomic_path
from mafrg.io import arrow_numeric, arrow_table
from mafrg.metrics.core import FRDvsAccumulator
from mafrg.metrics.engine import MetricInputError, MetricResult, RowContributions, aggregate, contributions
from mafrg.metrics.table import ENGINE_PER_ROW as PER_ROW


def dvs_path(parquet: str | Path) -> Path:
    p = Path(parquet)
    return p.with_name(p.name.removesuffix(".parquet") + ".dvs.npz")


def write_contributions(path: str | Path, part: RowContributions, meta: dict[str, Any]) -> None:
    import pyarrow.parquet as pq

    cols = {"row": arrow_numeric(np.asarray(part.rows, np.int64))}
    cols |= {k: arrow_numeric(part.per_row[k].astype(np.float64)) for k in PER_ROW}
    book = {"start": part.start, "n_pred": part.n_pred, "n_ch": part.n_ch, "pairs_total": part.pairs_total,
            "pruning": [int(x) for x in part.pruning], "frames": part.frames, "frdist_kernel": part.kernel,
            "ragged": part.ragged}
    table = arrow_table(cols).replace_schema_metadata({b"mafrg": json.dumps(meta | book).encode()})
    with atomic_path(dvs_path(path), suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            d = part.dvs
            np.savez(fh, count=np.int64(d.count), mean=d.mean if d.mean is not None else np.zeros((0, 0)),
                     m2=d.m2 if d.m2 is not None else np.zeros(0))
    with atomic_path(path, suffix=".parquet") as tmp:
        pq.write_table(table, tmp)


def read_contributions(path: str | Path) -> tuple[RowContributions, dict[str, Any]]:
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.is_file():
        raise MetricInputError(f"{p}: evaluation shard not found")
    table = pq.read_table(p)
    raw = (table.schema.metadata or {}).get(b"mafrg")
    if raw is None or set(("row", *PER_ROW)) - set(table.column_names):
        raise MetricInputError(f"{p}: not a mafrg evaluation shard (columns {table.column_names})")
    meta = json.loads(raw)
    rows = table.column("row").to_numpy()
    if len(rows) and not np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
        raise MetricInputError(f"{p}: rows are not consecutive")
    dvs = FRDvsAccumulator()
    side = dvs_path(p)
    if not side.is_file():
        raise MetricInputError(f"{side}: FRDvs state of {p.name} is missing")
    with np.load(side) as z:
        if int(z["count"]):
            dvs.count, dvs.mean, dvs.m2 = int(z["count"]), z["mean"], z["m2"]
    part = RowContributions(start=int(meta["start"]), per_row={k: table.column(k).to_numpy() for k in PER_ROW},
                            dvs=dvs, pruning=np.asarray(meta["pruning"], np.int64), n_pred=int(meta["n_pred"]),
                            n_ch=int(meta["n_ch"]), pairs_total=int(meta["pairs_total"]),
                            frames=int(meta.get("frames", 0)), kernel=str(meta.get("frdist_kernel", "")),
                            ragged=bool(meta.get("ragged", False)))
    return part, meta


def evaluate_shard(pred_path: str, rows: tuple[int, int], listener: np.ndarray, speaker: np.ndarray,
                   neighbours: np.ndarray, out: str, protocol: str, chunk_rows: int, threads: int | None,
                   names: dict[str, str], meta: dict[str, Any]) -> RowContributions:
    """Per-row contributions of one prediction shard (rows ``rows`` of the split), written to ``out``."""
    import time

    from mafrg.io import load_npy
    from mafrg.provenance import file_sha256

    pred = load_npy(pred_path, mmap=True)
    lo, hi = rows
    if pred.ndim != 4 or pred.shape[0] != hi - lo:
        raise MetricInputError(f"{pred_path}: expected {hi - lo} rows (rows {lo}..{hi - 1}) of shape "
                               f"(rows, predictions, T, 25), found {pred.shape}")
    t0 = time.perf_counter()
    part = contributions(pred, listener, speaker, neighbours, lo, protocol, chunk_rows, threads,
                         names=names | {"pred": pred_path})
    write_contributions(out, part, meta | {"protocol": protocol, "pred": pred_path,
                                           "pred_sha256": file_sha256(pred_path),
                                           "seconds": round(time.perf_counter() - t0, 3)})
    return part


def evaluate_clip_shard(pred_path: str, rows: tuple[int, int], data, neighbours: np.ndarray, out: str,
                        protocol: str, alignment: str, fps: int, threads: int | None,
                        meta: dict[str, Any]) -> RowContributions:
    """The same for a split of clips of any length (:class:`mafrg.data.assemble.ClipArrays`,
    :mod:`mafrg.metrics.ragged`): each row's ground truths are the listener clips of its appropriate rows."""
    import time

    from mafrg import predictions
    from mafrg.metrics import ragged
    from mafrg.provenance import file_sha256

    lo, hi = rows
    reactions = predictions.load(pred_path)
    if reactions.lengths is None or len(reactions.lengths) != hi - lo:
        raise MetricInputError(f"{pred_path}: expected rows {lo}..{hi - 1} of their own lengths (a 'lengths' list in "
                               f"{predictions.meta_path(pred_path).name}), found {reactions.emotion.shape}")
    if neighbours.shape != (data.n_rows, data.n_rows):
        raise MetricInputError(f"{meta.get('neighbours', 'the appropriate-set matrix')}: shape {neighbours.shape}, "
                               f"split {data.split} has {data.n_rows} rows")
    t0 = time.perf_counter()
    part = ragged.contributions((reactions.row(i)[0] for i in range(hi - lo)), data.speaker_emotion_of,
                                lambda k: [data.listener_emotion_of(int(j)) for j in np.flatnonzero(neighbours[k])],
                                lo, hi - lo, protocol, alignment, fps, threads, name=pred_path)
    write_contributions(out, part, meta | {"protocol": protocol, "gt_alignment": alignment, "pred": pred_path,
                                           "pred_sha256": file_sha256(pred_path),
                                           "seconds": round(time.perf_counter() - t0, 3)})
    return part


def aggregate_files(paths: list[str], n_rows: int, protocol: str, frames: int) -> tuple[MetricResult, list[dict]]:
    """Split-level metrics from evaluation shard files (coverage and protocol checked)."""
    loaded = [read_contributions(p) for p in paths]
    protocols = {m["protocol"] for _, m in loaded}
    if protocols != {protocol}:
        raise MetricInputError(f"shards were evaluated under protocol(s) {sorted(protocols)}, not {protocol}")
    res = aggregate([p for p, _ in loaded], n_rows, protocol, frames=frames)
    res.info["seconds"] = round(sum(m["seconds"] for _, m in loaded), 3)
    aligns = {m["gt_alignment"] for _, m in loaded if "gt_alignment" in m}
    if len(aligns) > 1:
        raise MetricInputError(f"shards were evaluated with different ground-truth alignments {sorted(aligns)}")
    if aligns:
        res.info["gt_alignment"] = aligns.pop()
    return res, [{"path": p, "pred": m["pred"], "pred_sha256": m["pred_sha256"]} for p, (_, m) in zip(paths, loaded)]
