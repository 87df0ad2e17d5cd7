"""The baselines as registered methods: the naive ones of the REACT 2024 challenge (and GT, the reference row;
definitions of the official code, :mod:`.naive`) and the classical ones of the learning-to-listen protocol that
Efficient Listener compares with (:mod:`.classical`).

None has a training stage; those that need the training split read it (means, medians, nearest neighbours).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mafrg.methods import register
from mafrg.methods.baselines import classical
from mafrg.methods.baselines.naive import (  # noqa: F401 - re-exported
    BASELINES, NEEDS_TRAIN, clip_means, make_baseline, make_baseline_3dmm, ragged_baseline, training_3dmm_stats,
    training_means,
)
from mafrg.methods.contract import DEFAULT_VARIANT, GenerationContext, Method, Variant
from mafrg.predictions import Reactions


@dataclass
class NoSettings:
    """A baseline without settings."""


class Baseline(Method):
    """A reference method: no settings, one variant, no training, drawn as a reference line."""

    config_cls = NoSettings
    presets = {"default": NoSettings}
    default_preset = "default"
    reference = True
    stochastic = False
    generate_runtime = 10


class NaiveBaseline(Baseline):
    """GT / B_Random / B_Mime / B_MeanSeq / B_MeanFr."""

    ragged = True

    def generate(self, ctx: GenerationContext, variant: str) -> Reactions:
        if ctx.ragged:
            return self._generate_clips(ctx)
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

    def _generate_clips(self, ctx: GenerationContext) -> Reactions:
        """Clips of any length: each row at its speaker's length (:func:`.naive.ragged_baseline`)."""
        lo, hi = ctx.rows
        data = ctx.data
        means = means3 = bounds = None
        if self.name in NEEDS_TRAIN:
            train = ctx.train_data
            means, means3 = clip_means(train.emotion, train.offsets), clip_means(train.tdmm, train.offsets)
            bounds = (train.tdmm.min(axis=0), train.tdmm.max(axis=0))
        emo, tdmm = [], []
        for k in range(lo, hi):
            sp = ctx.speaker(k)  # the speaker only through the contract
            emo.append(ragged_baseline(self.name, sp.emotion, data.listener_emotion_of(k), ctx.n_predictions,
                                       ctx.seed, k, means))
            tdmm.append(ragged_baseline(self.name, sp.tdmm, data.listener_tdmm_of(k), ctx.n_predictions, ctx.seed,
                                        k, means3, stream=3, bounds=bounds))
        return Reactions.from_rows(emo, tdmm)


def _baseline(name: str, description: str, causal: bool, stochastic: bool = False) -> type[Method]:
    cls = type(name, (NaiveBaseline,), {
        "name": name, "description": description, "stochastic": stochastic,
        "variants": (Variant(DEFAULT_VARIANT, causal=causal),),
        "reads": ("train_data",) if name in NEEDS_TRAIN else (),
    })
    return register(cls)


_baseline("GT", "the true listener (reference row; not a generation)", causal=False)
_baseline("B_Random", "uniform [0, 1) in all 25 channels (official baseline)", causal=True, stochastic=True)
_baseline("B_Mime", "the speaker's own behaviour (learning-to-listen's Mirror)", causal=True)
_baseline("B_MeanSeq", "per-frame mean of the training clips", causal=True)
_baseline("B_MeanFr", "the global mean frame of the training clips", causal=True)


class ClassicalBaseline(Baseline):
    """NN_motion / NN_audio / Random_listener / Median (:mod:`.classical`)."""

    ragged = True

    def generate(self, ctx: GenerationContext, variant: str) -> Reactions:
        if ctx.ragged:
            return self._generate_clips(ctx)
        lo, hi = ctx.rows
        t, n = ctx.frames, ctx.n_predictions
        sp_rel, sp, le, lt, _ = classical.candidates(ctx.train_data)
        emo = np.empty((hi - lo, n, t, 25), np.float32)
        tdmm = np.empty((hi - lo, n, t, 58), np.float32)
        if self.name == "Median":
            med = classical.median_frame(np.concatenate([le, lt], -1))
            emo[:], tdmm[:] = med[:25], med[25:]
            return Reactions(emo, tdmm)
        if self.name == "NN_audio":
            cands = np.stack([ctx.train_features(r, ["mfcc"])["mfcc"][:t] for r in sp_rel]).astype(np.float32)
        else:
            cands = sp
        mean, std = classical.standardiser(cands)
        cands = ((cands - mean) / std).astype(np.float32)
        for i, k in enumerate(range(lo, hi)):
            s = ctx.speaker(k)  # the speaker only through the contract
            if self.name == "Random_listener":
                pick = np.random.default_rng([ctx.seed, ctx.row_seed(k)]).integers(0, len(le), n)
            else:
                q = s.features(["mfcc"])["mfcc"] if self.name == "NN_audio" else np.concatenate([s.emotion, s.tdmm], -1)
                pick = classical.nearest(((q - mean) / std).astype(np.float32), cands, n)
            for j, c in enumerate(pick):
                emo[i, j] = classical.fit_frames(le[c], t)
                tdmm[i, j] = classical.fit_frames(lt[c], t)
        return Reactions(emo, tdmm)


    def _generate_clips(self, ctx: GenerationContext) -> Reactions:
        """Clips of any length: candidates of their own lengths, each reaction cut to (or its last frame repeated
        up to) the row's speaker length."""
        lo, hi = ctx.rows
        n = ctx.n_predictions
        sp_rel, sp, le, lt = classical.clip_candidates(ctx.train_data)
        if self.name == "NN_audio":
            sp = [ctx.train_features(r, ["mfcc"])["mfcc"][: len(c)].astype(np.float32) for r, c in zip(sp_rel, sp)]
        mean, std = classical.standardiser(np.concatenate(sp))
        cands = [((c - mean) / std).astype(np.float32) for c in sp]
        med = classical.median_frame(np.concatenate([np.concatenate([e, t], -1) for e, t in zip(le, lt)]))
        emo, tdmm = [], []
        for k in range(lo, hi):
            s = ctx.speaker(k)  # the speaker only through the contract
            t = s.frames
            if self.name == "Median":
                emo.append(np.broadcast_to(med[:25], (n, t, 25)).astype(np.float32))
                tdmm.append(np.broadcast_to(med[25:], (n, t, 58)).astype(np.float32))
                continue
            if self.name == "Random_listener":
                pick = np.random.default_rng([ctx.seed, ctx.row_seed(k)]).integers(0, len(le), n)
            else:
                q = s.features(["mfcc"])["mfcc"] if self.name == "NN_audio" else np.concatenate([s.emotion, s.tdmm], -1)
                pick = classical.nearest_clips(((q - mean) / std).astype(np.float32), cands, n)
            emo.append(np.stack([classical.fit_frames(le[c], t) for c in pick]).astype(np.float32))
            tdmm.append(np.stack([classical.fit_frames(lt[c], t) for c in pick]).astype(np.float32))
        return Reactions.from_rows(emo, tdmm)


def _classical(name: str, description: str, causal: bool, reads: tuple[str, ...], stochastic: bool = False,
               feature_streams: tuple[str, ...] = ()):
    return register(type(name, (ClassicalBaseline,), {
        "name": name, "description": description, "stochastic": stochastic, "reads": reads,
        "feature_streams": feature_streams, "variants": (Variant(DEFAULT_VARIANT, causal=causal),)}))


_classical("NN_motion", "listeners of the nearest training speakers by emotion + 3DMM (learning-to-listen)",
           causal=False, reads=("train_data",))
_classical("NN_audio", "listeners of the nearest training speakers by MFCC (learning-to-listen)", causal=False,
           reads=("train_data", "train_features", "features"), feature_streams=("mfcc",))
_classical("Random_listener", "random training listener sequences (learning-to-listen's Random)", causal=True,
           reads=("train_data",), stochastic=True)
_classical("Median", "the median training listener frame, repeated (learning-to-listen)", causal=True,
           reads=("train_data",))
