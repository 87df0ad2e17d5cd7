"""ReactDiff-K ablations on the demo (priors, guidance, sampling settings), over training seeds.

    python benchmarks/reactdiffk_ablation.py --runs none-gain kinematics-gain-f0.5 both-gain-f0.5 both-gain --jobs 2
    python benchmarks/reactdiffk_ablation.py --runs none both both-f0.5 --seeds 0 1 2 --jobs 2
    python benchmarks/reactdiffk_ablation.py --runs none both-f0.5 --seeds 0 1 2 --generate '{"momentum": 0}'

Needs the demo's assembled splits, features and neighbours in ``results/`` (run ``make run`` first). Each run is
the ``demo`` preset plus the overrides named in ``RUNS``; its models train in a scratch results directory
(``--work``, default ``results/ablation/reactdiffk``: the demo's data, features, neighbours and caches are linked
into it, never copied or changed) with the same code the workflow calls (``mafrg.methods.run.train_stage`` and
``generate_shard``, at the workflow's one thread), and every (run, seed, split, variant) is scored with the
metric engine (FRCorr, FRDist, FRDiv, ...) and :class:`mafrg.metrics.smoothness.Smoothness`. ``--generate``
applies sampling-only settings (``momentum``, ``guidance``, ``edm``: no retraining; their results go under
their own label). Finished pieces are kept as JSON, so a rerun computes only what is missing.

Prints, per split and variant, mean ± std over the seeds of every run, and the GT row of the smoothness measures.
"""

from __future__ import annotations

import argparse
import json
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mafrg import bench_results

REPO = Path(__file__).resolve().parents[1]
METHOD = "ReactDiffK"


def merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# The demo preset without the input gain: sampling down to sigma 0.5, the priors on the 10 % least-noised draws.
# The runs named without "gain" start from it (the no-gain rows of docs/methods/reactdiffk.md).
NO_GAIN: dict[str, Any] = {"net": {"input_gain": False}, "edm": {"sigma_min": 0.5}, "priors": {"fraction": 0.1}}
_NO_GAIN_RUNS: dict[str, dict[str, Any]] = {
    "none": {"priors": {"kinematics_weight": 0.0, "dependency_weight": 0.0}},
    "kinematics": {"priors": {"dependency_weight": 0.0}},
    "both": {},
    "none-f0.5": {"priors": {"fraction": 0.5, "kinematics_weight": 0.0, "dependency_weight": 0.0}},
    "kinematics-f0.5": {"priors": {"fraction": 0.5, "dependency_weight": 0.0}},
    "both-f0.5": {"priors": {"fraction": 0.5}},
    "both-f0.5-all": {"priors": {"fraction": 0.5, "kinematics_channels": "all"}},
    # Five times the demo's training (100 epochs, 800 optimiser steps): can the priors act when the network has
    # learnt to produce frame-level detail?
    "none-e100": {"priors": {"kinematics_weight": 0.0, "dependency_weight": 0.0}, "train": {"epochs": 100}},
    "both-f0.5-e100": {"priors": {"fraction": 0.5}, "train": {"epochs": 100}},
}
# Training-time ablations, each the demo preset plus these overrides (the ones docs/methods/reactdiffk.md names).
RUNS: dict[str, dict[str, Any]] = {
    **{name: merge(NO_GAIN, over) for name, over in _NO_GAIN_RUNS.items()},
    # The current demo (input gain, priors on 50 %, sigma_min 1.0) and its ablations.
    "none-gain": {"priors": {"kinematics_weight": 0.0, "dependency_weight": 0.0}},
    "kinematics-gain-f0.5": {"priors": {"dependency_weight": 0.0}},
    "both-gain-f0.5": {},
    "both-gain": {"priors": {"fraction": 0.1}},  # the authors' 10 %
    "both-gain-f0.5-bf16": {"train": {"precision": "bf16"}},  # the current demo, trained under bf16 autocast
}
LINKED = ("data", "features", "neighbours", "cache", "validation")
SHOWN = ("FRCorr", "FRDist", "FRDiv", "Vel_3DMM", "Acc_3DMM", "Vel_pose", "Acc_pose", "Vel_emotion", "ExclAU")


def scores(work: Path, run: str, label: str, seed: int, split: str, variant: str) -> Path:
    """Where one (run, generation label, seed, split, variant) is scored."""
    return work / run / "scores" / label / f"seed{seed}" / f"{split}_{variant}.json"


def scratch(results: Path, work: Path) -> Path:
    """A results directory whose inputs are the demo's (links) and whose models are its own."""
    work.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link, target = work / name, (results / name).resolve()
        if target.exists() and not link.exists():
            link.symlink_to(target, target_is_directory=True)
    missing = [n for n in ("data", "features", "neighbours") if not (work / n).exists()]
    if missing:
        raise SystemExit(f"{results} has no {missing}: run `make run` first")
    return work


@dataclass(frozen=True)
class Job:
    """One (run, seed): train if its checkpoint is missing, then generate and score what is not scored yet."""

    run: str
    seed: int
    work: str  # the ablation's folder; this run's results directory is work/run
    root: str  # dataset root
    splits: tuple[str, ...]
    variants: tuple[str, ...]
    generate: str  # sampling-only overrides, JSON ("{}": none)
    threads: int = 1  # the workflow's ReactDiffK threads (config.yaml)

    @property
    def label(self) -> str:
        return "default" if self.generate == "{}" else self.generate


def one(job: Job) -> str:
    import numpy as np
    import torch

    from mafrg.atomic import write_json
    from mafrg.constants import N_PREDICTIONS
    from mafrg.data.assemble import SplitArrays
    from mafrg.methods.run import generate_shard, train_stage
    from mafrg.metrics.engine import evaluate
    from mafrg.metrics.smoothness import Smoothness
    from mafrg.paths import Paths

    torch.set_num_threads(job.threads)
    work = Path(job.work) / job.run
    paths = Paths(results=str(work), root=job.root)
    block = merge({"preset": "demo"}, RUNS[job.run])
    if not (Path(paths.model_dir(METHOD, job.seed)) / "edm.pt").is_file():
        train_stage(paths, METHOD, block, "edm", job.seed, threads=job.threads, progress=False)
    for split in job.splits:
        data = SplitArrays.load(paths.split_data(split))
        neighbours = np.load(paths.neighbours(split))
        for variant in job.variants:
            out = scores(Path(job.work), job.run, job.label, job.seed, split, variant)
            if out.is_file():
                continue
            pred = work / "predictions" / job.label / f"seed{job.seed}" / f"{split}_{variant}.npy"
            pred.parent.mkdir(parents=True, exist_ok=True)
            r = generate_shard(paths, METHOD, merge(block, json.loads(job.generate)), variant, job.seed, split,
                               (0, data.n_rows), N_PREDICTIONS, pred, threads=job.threads, progress=False)
            res = evaluate(r.emotion, data.listener_emotion, data.speaker_emotion, neighbours, threads=job.threads,
                           progress=False)
            sm, gt = Smoothness(), Smoothness()
            sm.update(r.emotion, r.tdmm)
            gt.update(data.listener_emotion[:, None], data.listener_tdmm[:, None])
            write_json(out, res.metrics | sm.value() | {f"GT_{k}": v for k, v in gt.value().items()})
    return f"{job.run} seed {job.seed} done"


def mean_sd_cells(rows: list[dict[str, float]], keys: tuple[str, ...]) -> list[str]:
    """Each key's mean over the seeds' rows, "± std" when there are several (FRDist 2 decimals, the rest 4)."""
    cells = []
    for k in keys:
        vals, d = [r[k] for r in rows], 2 if k == "FRDist" else 4
        sd = f" ± {statistics.stdev(vals):.{d}f}" if len(vals) > 1 else ""
        cells.append(f"{statistics.mean(vals):.{d}f}{sd}")
    return cells


def table(work: Path, labels: list[str], seeds: list[int], splits: list[str], variants: list[str]) -> list[str]:
    lines = ["| run | split | variant | seeds | " + " | ".join(SHOWN) + " |",
             "|---|---|---|---:|" + "---:|" * len(SHOWN)]
    gt: dict[str, dict[str, float]] = {}
    for run, label in labels:
        for split in splits:
            for variant in variants:
                rows = [json.loads(p.read_text()) for s in seeds
                        if (p := scores(work, run, label, s, split, variant)).is_file()]
                if not rows:
                    continue
                gt[split] = {k[3:]: v for k, v in rows[0].items() if k.startswith("GT_")}
                cells = mean_sd_cells(rows, SHOWN)
                lines.append(f"| {run}{'' if label == 'default' else ' ' + label} | {split} | {variant} | {len(rows)} | " + " | ".join(cells) + " |")
    for split, g in gt.items():
        lines.append(f"| true listeners | {split} | | | | | | " + " | ".join(f"{g[k]:.4f}" for k in SHOWN[3:]) + " |")
    return lines


JITTER = ("Vel_3DMM", "Acc_3DMM", "Vel_pose", "Acc_pose", "Vel_emotion", "ExclAU")


def check_lower(work: Path, control: str, run: str, label: str, seeds: list[int], splits: list[str],
                variants: list[str]) -> tuple[list[str], bool]:
    """The claim of docs/methods/reactdiffk.md about the priors, checked pair by pair: the same seed, split and variant share their
    training seed and generation noise, so ``run`` must be below ``control`` in each pair, for each measure."""
    pairs = []
    for s in seeds:
        for split, variant in ((sp, v) for sp in splits for v in variants):
            a, b = (scores(work, r, label, s, split, variant) for r in (control, run))
            if a.is_file() and b.is_file():
                pairs.append((json.loads(a.read_text()), json.loads(b.read_text())))
    if not pairs:
        return [f"no scored pairs of {control} and {run} under {work}"], False
    lines, ok = [], True
    for k in JITTER:
        lower = sum(b[k] < a[k] for a, b in pairs)
        ok &= lower == len(pairs)
        lines.append(f"{k}: {run} below {control} in {lower}/{len(pairs)} pairs")
    return lines + ["PASS" if ok else "FAIL"], ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", default=["none", "both"], choices=sorted(RUNS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--splits", nargs="+", default=["val", "test"])
    ap.add_argument("--variants", nargs="+", default=["offline", "online"])
    ap.add_argument("--generate", default="{}", help="sampling-only overrides (JSON), e.g. '{\"momentum\": 0}'")
    ap.add_argument("--results", default=str(REPO / "results"))
    ap.add_argument("--root", default=None, help="dataset root (default: the demo data under --results)")
    ap.add_argument("--work", default=None)
    ap.add_argument("--jobs", type=int, default=1, help="(run, seed) pieces at once, one thread each")
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("--check-lower", nargs=2, metavar=("CONTROL", "RUN"),
                    help="exit 1 unless RUN's jitter and ExclAU are below CONTROL's in every (seed, split, variant)")
    bench_results.add_option(ap)
    a = ap.parse_args()
    results = Path(a.results)
    work = Path(a.work or results / "ablation" / "reactdiffk")
    root = a.root or str(results / "demo_data")
    generate = json.loads(a.generate)
    generate_s = json.dumps(generate, sort_keys=True, separators=(",", ":")) if generate else "{}"
    jobs = [Job(run, s, str(work), root, tuple(a.splits), tuple(a.variants), generate_s)
            for s in a.seeds for run in a.runs]
    if not a.table_only:
        for run in a.runs:
            scratch(results, work / run)
        with ProcessPoolExecutor(max_workers=a.jobs) as pool:
            for msg in pool.map(one, jobs):
                print(msg, flush=True)
    labels = [(run, jobs[0].label) for run in a.runs]
    rows = table(work, labels, a.seeds, a.splits, a.variants)
    print("\n".join(rows))
    ok, lines = True, []
    if a.check_lower:
        lines, ok = check_lower(work, *a.check_lower, jobs[0].label, a.seeds, a.splits, a.variants)
        print("\n".join(lines))
    if a.record:
        bench_results.record("reactdiffk_ablation.py", " ".join(r.strip() for r in rows[2:]) + (
            " " + ("passes: " if ok else "FAILS: ") + "; ".join(lines) if lines else ""))
    if a.check_lower:
        raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
