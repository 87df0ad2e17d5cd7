"""Efficient Listener: appropriateness and diversity against the number of sampling steps, on the demo, over
training seeds.

    python benchmarks/el_steps.py --steps 1 2 5 10 --seeds 0 1 2 --jobs 2

Why: one step from pure noise (alpha-bar about 2.4e-7 at the last of 100 training timesteps) asks the x0
predictor for the clean clip given almost no sample, so it returns close to the conditional mean; diversity then
comes only from what the fit leaves. ``fad.sample_steps`` is a sampling setting (the same checkpoint serves every
count), so each training seed is trained once and sampled at every count.

Needs the demo's assembled splits, features and neighbours in ``results/`` (run ``make run`` first). Each seed
trains the ``demo`` preset in a scratch results directory (``--work``, default
``results/ablation/efficient_listener``; the demo's data, features, neighbours and caches are linked, never
changed) with the code the workflow calls (``train_stage``, ``generate_shard``, one thread), and every (seed,
steps, split, variant) is scored with the metric engine. Finished pieces are kept as JSON; a rerun computes only
what is missing. Prints mean ± std over the seeds.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from mafrg import bench_results
from reactdiffk_ablation import mean_sd_cells, scratch

REPO = Path(__file__).resolve().parents[1]
METHOD = "EfficientListener"
SHOWN = ("FRCorr", "FRDist", "FRDiv", "FRVar")


def scores(work: Path, seed: int, steps: int, split: str, variant: str) -> Path:
    return work / "scores" / f"seed{seed}" / f"steps{steps}" / f"{split}_{variant}.json"


def one(job: tuple[str, str, int, tuple[int, ...], tuple[str, ...], tuple[str, ...]]) -> str:
    """Train seed ``seed`` if its checkpoint is missing, then sample and score every step count."""
    import numpy as np
    import torch

    from mafrg.atomic import write_json
    from mafrg.constants import N_PREDICTIONS
    from mafrg.data.assemble import SplitArrays
    from mafrg.methods.run import generate_shard, train_stage
    from mafrg.metrics.engine import evaluate
    from mafrg.paths import Paths

    work_s, root, seed, step_counts, splits, variants = job
    work = Path(work_s)
    torch.set_num_threads(1)
    paths = Paths(results=str(work), root=root)
    block = {"preset": "demo"}
    if not Path(paths.model(METHOD, seed, "fad")).is_file():
        train_stage(paths, METHOD, block, "fad", seed, threads=1, progress=False)
    for split in splits:
        data = SplitArrays.load(paths.split_data(split))
        neighbours = np.load(paths.neighbours(split))
        for steps in step_counts:
            for variant in variants:
                out = scores(work, seed, steps, split, variant)
                if out.is_file():
                    continue
                pred = work / "predictions" / f"steps{steps}" / f"seed{seed}" / f"{split}_{variant}.npy"
                pred.parent.mkdir(parents=True, exist_ok=True)
                r = generate_shard(paths, METHOD, {**block, "fad": {"sample_steps": steps}}, variant, seed, split,
                                   (0, data.n_rows), N_PREDICTIONS, pred, threads=1, progress=False)
                res = evaluate(r.emotion, data.listener_emotion, data.speaker_emotion, neighbours, threads=1,
                               progress=False)
                write_json(out, res.metrics)
    return f"seed {seed} done"


def table(work: Path, seeds: list[int], step_counts: list[int], splits: list[str], variants: list[str]) -> list[str]:
    lines = ["| steps | split | variant | seeds | " + " | ".join(SHOWN) + " |",
             "|---:|---|---|---:|" + "---:|" * len(SHOWN)]
    for steps in step_counts:
        for split in splits:
            for variant in variants:
                rows = [json.loads(p.read_text()) for s in seeds
                        if (p := scores(work, s, steps, split, variant)).is_file()]
                if not rows:
                    continue
                cells = mean_sd_cells(rows, SHOWN)
                lines.append(f"| {steps} | {split} | {variant} | {len(rows)} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, nargs="+", default=[1, 2, 5, 10])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--splits", nargs="+", default=["val", "test"])
    ap.add_argument("--variants", nargs="+", default=["offline", "online"])
    ap.add_argument("--results", default=str(REPO / "results"))
    ap.add_argument("--root", default=None, help="dataset root (default: the demo data under --results)")
    ap.add_argument("--work", default=None)
    ap.add_argument("--jobs", type=int, default=1, help="seeds at once, one thread each")
    ap.add_argument("--table-only", action="store_true")
    bench_results.add_option(ap)
    a = ap.parse_args()
    results = Path(a.results)
    work = Path(a.work or results / "ablation" / "efficient_listener")
    root = a.root or str(results / "demo_data")
    if not a.table_only:
        scratch(results, work)
        jobs = [(str(work), root, s, tuple(a.steps), tuple(a.splits), tuple(a.variants)) for s in a.seeds]
        with ProcessPoolExecutor(max_workers=a.jobs) as pool:
            for msg in pool.map(one, jobs):
                print(msg, flush=True)
    rows = table(work, a.seeds, a.steps, a.splits, a.variants)
    print("\n".join(rows))
    if a.record:
        bench_results.record("el_steps.py", " ".join(r.strip() for r in rows[2:]))


if __name__ == "__main__":
    main()
