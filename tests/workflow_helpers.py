"""Helpers of the workflow tests: the tiny config, running Snakemake on it, reading a dry run's job counts."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from conftest import REPO

TINY = yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())

# A throwaway method, registered by a plugin module at run time: it trains (one stage), generates, is
# evaluated and reported through the generic rules, with no edit to any rule file.
TOY_PLUGIN = """
from dataclasses import dataclass

import numpy as np
import torch

from mafrg import checkpoint, methods
from mafrg.methods import Method, Stage, Variant
from mafrg.predictions import Reactions
from mafrg.training import write_losses


@dataclass
class ToyConfig:
    gain: float = 0.5


@methods.register
class Toy(Method):
    name = "Toy"
    variants = (Variant("live", causal=True),)
    config_cls = ToyConfig
    presets = {"default": ToyConfig}
    default_preset = "default"
    stages = (Stage("fit", reads=("train_data",), gpu=False, mem_mb=500, runtime=5),)

    def train(self, stage, ctx):
        mean = ctx.train_data.listener_emotion.mean(axis=(0, 1))
        checkpoint.save(ctx.out, "toy", {"mean": torch.from_numpy(mean)}, {"gain": ctx.config.gain})
        write_losses(ctx.losses, [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.0, "seconds": 0, "peak_rss_mb": 0}])

    def generate(self, ctx, variant):
        mean = checkpoint.load(ctx.checkpoint("fit"), "toy")[0]["mean"].numpy()
        rng = np.random.default_rng(ctx.row_seed(ctx.rows[0]))
        emo = np.stack([mean + ctx.config.gain * (ctx.speaker(k).emotion - mean) for k in ctx.row_ids()])
        emo = np.repeat(emo[:, None], ctx.n_predictions, 1) + rng.normal(0, 0.01, (len(emo), ctx.n_predictions, 1, 25))
        tdmm = np.zeros(emo.shape[:3] + (58,), np.float32)
        return Reactions(emo.astype(np.float32), tdmm)
"""


def snakemake(workdir, *args, env=None, timeout=900):
    # --configfile takes several values: it goes last so that targets are not read as config files
    import os

    cmd = [sys.executable, "-m", "snakemake", *args, "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=os.environ | (env or {}))


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """Job counts from the 'Job stats' table of a dry run."""
    counts: dict[str, int] = {}
    block = dry_run_output.split("Job stats:")[-1].split("Reasons:")[0]
    for name, n in re.findall(r"^(\w+)\s+(\d+)\s*$", block, flags=re.M):
        if name != "total":
            counts[name] = int(n)
    return counts
