"""Running one training stage or one generation shard of a registered method (what the CLI calls).

Both check what they need before any expensive work (earlier stages' checkpoints, the rows asked for) and
write through :mod:`mafrg.checkpoint` / :mod:`mafrg.predictions` only, so outputs are atomic and verifiable.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from mafrg import checkpoint, methods, predictions
from mafrg.config import DatasetConfig
from mafrg.methods.contract import GenerationContext, TrainContext
from mafrg.methods.settings import MethodRun, resolve
from mafrg.paths import Paths
from mafrg.provenance import config_hash, file_sha256, provenance

log = logging.getLogger(__name__)


class RunError(ValueError):
    """A stage or generation cannot start: something it needs is missing or inconsistent."""


def resolve_block(name: str, block: dict[str, Any] | None) -> MethodRun:
    return resolve(methods.get(name), block)


def train_stage(paths: Paths, name: str, block: dict[str, Any] | None, stage: str, seed: int, threads: int = 2,
                progress: bool = True, code: str = "", dataset: DatasetConfig | None = None) -> Path:
    """Train one stage. ``code``: the method's code hash (:func:`mafrg.cli.methods.method_code_hash`, which the
    CLI passes), part of the resume identity, so that a stage rerun for changed code trains from the start."""
    run = resolve_block(name, block)
    m = run.method
    st = m.stage(stage)
    ctx = TrainContext(method=m.name, stage=stage, config=run.config, seed=seed, paths=paths, threads=threads,
                       progress=progress, code=code, dataset=dataset or DatasetConfig(root=paths.root))
    for earlier in m.stages[: m.stages.index(st)]:
        ck = ctx.checkpoint(earlier.name)
        checkpoint.load(ck)  # verified before any work: a missing or corrupt earlier stage is named here
    t0 = time.perf_counter()
    log.info("%s: training stage %s (seed %d, preset %s)", m.name, stage, seed, run.preset)
    m.train(stage, ctx)
    for out in (ctx.out, ctx.losses):
        if not out.is_file():
            raise RunError(f"{m.name} stage {stage} finished without writing {out}")
    checkpoint.load(ctx.out)  # verify after write: what later stages read is complete and readable
    log.info("%s stage %s done in %.1f s: %s", m.name, stage, time.perf_counter() - t0, ctx.out)
    return ctx.out


def generate_shard(paths: Paths, name: str, block: dict[str, Any] | None, variant: str, seed: int, split: str,
                   rows: tuple[int, int], n_predictions: int, out: str | Path, threads: int = 2,
                   progress: bool = True, dataset: DatasetConfig | None = None, device: str = "auto",
                   precision: str = "fp32") -> predictions.Reactions:
    run = resolve_block(name, block)
    m = run.method
    ctx = GenerationContext(method=m.name, config=run.config, seed=seed, paths=paths, split=split, rows=rows,
                            n_predictions=n_predictions, threads=threads, progress=progress,
                            dataset=dataset or DatasetConfig(root=paths.root), causal=m.variant(variant).causal,
                            device=device, precision=precision)
    n_rows = ctx.data.n_rows
    lo, hi = rows
    if not 0 <= lo < hi <= n_rows:
        raise RunError(f"rows {lo}:{hi} are outside the {n_rows} rows of {paths.split_data(split)}")
    sums = {}
    for st in m.stages:
        ck = ctx.checkpoint(st.name)
        checkpoint.load(ck)
        sums[st.name] = file_sha256(ck)
    t0 = time.perf_counter()
    reactions = m.generate(ctx, variant)
    if ctx.ragged:
        reactions.check(rows=hi - lo, alpha=n_predictions, what=f"{m.label(variant)} rows {lo}:{hi}",
                        lengths=ctx.data.speaker_lengths()[lo:hi])
    else:
        reactions.check(rows=hi - lo, alpha=n_predictions, frames=ctx.frames, what=f"{m.label(variant)} rows {lo}:{hi}")
    meta = {
        "method": m.name, "variant": variant, "label": m.label(variant), "split": split, "seed": seed,
        "rows": [lo, hi], "row_order": predictions.row_order(ctx.data, lo, hi), "n_predictions": n_predictions,
        "feature_streams": {s: ctx.stream_source(s) for s in m.feature_streams},
        "device": str(ctx.torch_device) if m.stages else "cpu", "precision": precision,
        "checkpoints": sums, "config": run.config_json(), "config_hash": config_hash(run.config_json()),
        "seconds": round(time.perf_counter() - t0, 3), "provenance": provenance(),
    }
    predictions.write(out, reactions, meta)
    log.info("%s %s rows %d..%d: %s in %.1f s", m.label(variant), split, lo, hi - 1,
             reactions.emotion.shape if reactions.lengths is None else f"{int(reactions.lengths.sum())} frames",
             meta["seconds"])
    return reactions
