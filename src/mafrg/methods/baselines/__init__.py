"""The naive baselines of the REACT 2024 challenge (and GT, the reference row) as registered methods.

They have no training stage; the mean baselines and B_Random read the assembled training split (means, and
the 3DMM range of B_Random's companion). Definitions are those of the official code (:mod:`.naive`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mafrg.methods import register
from mafrg.methods.baselines.naive import (  # noqa: F401 - re-exported
    BASELINES, NEEDS_TRAIN, make_baseline, make_baseline_3dmm, training_3dmm_stats, training_means,
)
from mafrg.methods.contract import DEFAULT_VARIANT, GenerationContext, Method, Variant
from mafrg.predictions import Reactions


@dataclass
class NoSettings:
    """A baseline without settings."""


class NaiveBaseline(Method):
    """GT / B_Random / B_Mime / B_MeanSeq / B_MeanFr: one variant, no training."""

    config_cls = NoSettings
    presets = {"default": NoSettings}
    default_preset = "default"
    reference = True
    stochastic = False
    generate_runtime = 10

    def generate(self, ctx: GenerationContext, variant: str) -> Reactions:
        lo, hi = ctx.rows
        data = ctx.data
        means = stats = None
        if self.name in NEEDS_TRAIN:
            train = ctx.train_data
            means = training_means(train.speaker_emotion, train.listener_emotion)
            stats = training_3dmm_stats(train.speaker_tdmm, train.listener_tdmm)
        speaker = [ctx.speaker(k) for k in range(lo, hi)]  # the speaker only through the contract
        sp_e = np.stack([s.emotion for s in speaker])
        sp_t = np.stack([s.tdmm for s in speaker])
        emo = make_baseline(self.name, sp_e, data.listener_emotion[lo:hi], ctx.n_predictions, ctx.seed, means,
                            start=lo)
        tdmm = make_baseline_3dmm(self.name, sp_t, data.listener_tdmm[lo:hi], stats, ctx.n_predictions, ctx.seed,
                                  start=lo)
        return Reactions(emo, tdmm)


def _baseline(name: str, description: str, causal: bool, stochastic: bool = False) -> type[Method]:
    cls = type(name, (NaiveBaseline,), {
        "name": name, "description": description, "stochastic": stochastic,
        "variants": (Variant(DEFAULT_VARIANT, causal=causal),),
        "reads": ("train_data",) if name in NEEDS_TRAIN else (),
    })
    return register(cls)


_baseline("GT", "the true listener (reference row; not a generation)", causal=False)
_baseline("B_Random", "uniform [0, 1) in all 25 channels (official baseline)", causal=True, stochastic=True)
_baseline("B_Mime", "the speaker's own behaviour", causal=True)
_baseline("B_MeanSeq", "per-frame mean of the training clips", causal=True)
_baseline("B_MeanFr", "the global mean frame of the training clips", causal=True)
