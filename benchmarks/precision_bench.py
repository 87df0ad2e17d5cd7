"""What ``generation.precision: bf16`` changes: reactions, metrics and time against fp32, per trained method.

    python benchmarks/precision_bench.py --results results --split val [--device cpu|cuda] [--record]

Why: bf16 autocast is offered for generation (docs/usage.md, "On a GPU") where it does not change results beyond
a stated tolerance. For the offline variant of every trained method of ``config.yaml`` (seed 0, the workflow's
trained models under ``--results``), the script generates the split's reactions at fp32 and at bf16 on
``--device``, evaluates both with the split's appropriate sets, and reports the mean |difference| of the
emotion values, each REACT metric at both precisions, and the generation time of each (one run each: the time is
indicative). Run it after ``make run``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from mafrg import bench_results

METRICS = ("FRCorr", "FRDist", "FRDiv", "FRVar", "FRDvs", "FRSyn")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default="results", help="the workflow's results folder (trained models)")
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--split", default="val")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=2)
    bench_results.add_option(ap)
    a = ap.parse_args()

    import torch
    import yaml

    from mafrg.data.assemble import load_split
    from mafrg.metrics.engine import evaluate
    from mafrg.methods.run import generate_shard
    from mafrg.plan import Plan

    torch.set_num_threads(a.threads)
    schema = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
    wf = Plan.load(yaml.safe_load(Path(a.config).read_text()), str(schema))
    paths = replace(wf.paths, results=a.results)
    data = load_split(paths.split_data(a.split))
    neighbours = np.load(paths.neighbours(a.split))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in wf.runs:
            m = run.method
            if not m.stages or "offline" not in [v.name for v in m.variants]:
                continue
            out, seconds = {}, {}
            for precision in ("fp32", "bf16"):
                t0 = time.perf_counter()
                r = generate_shard(paths, m.name, run.block(), "offline", 0, a.split, (0, data.n_rows),
                                   wf.generation.n_predictions, Path(tmp) / f"{m.name}.{precision}.npy", a.threads,
                                   progress=False, dataset=wf.dataset, device=a.device, precision=precision)
                seconds[precision] = time.perf_counter() - t0
                out[precision] = (r, evaluate(r.emotion, data.listener_emotion, data.speaker_emotion, neighbours,
                                              threads=a.threads, progress=False).metrics)
            diff = float(np.abs(out["bf16"][0].emotion - out["fp32"][0].emotion).mean())
            metrics = "; ".join(f"{k} {out['fp32'][1][k]:.4f}/{out['bf16'][1][k]:.4f}" for k in METRICS)
            rows.append(f"{m.name}: mean |d emotion| {diff:.4f}; {metrics}; "
                        f"{seconds['fp32']:.1f} s/{seconds['bf16']:.1f} s")
            print(rows[-1], flush=True)
    figures = f"{a.split}, offline, seed 0, fp32/bf16 on {a.device}: " + " | ".join(rows)
    print(figures)
    if a.record:
        bench_results.record("precision_bench.py", figures,
                             gpu=torch.cuda.get_device_name() if a.device == "cuda" else None)


if __name__ == "__main__":
    main()
