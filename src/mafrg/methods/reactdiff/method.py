"""ReactDiff registered under the method contract: two training stages, offline and online generation."""

from __future__ import annotations

from mafrg.methods import register
from mafrg.methods.contract import GenerationContext, Method, Stage, TrainContext, Variant, to_jsonable
from mafrg.methods.reactdiff.config import PRESETS, ReactDiffConfig
from mafrg.predictions import Reactions


def _mmt_settings(cfg: ReactDiffConfig) -> dict:
    return to_jsonable({"mmt": cfg.mmt, "train_mmt": cfg.train_mmt, "cache_inputs": cfg.cache_inputs, "crop": cfg.crop})


def _ddim_settings(cfg: ReactDiffConfig) -> dict:
    ddim = to_jsonable(cfg.ddim)
    for k in ("sample_steps", "eta"):  # sampling only: no retraining
        ddim.pop(k)
    return {"mmt": to_jsonable(cfg.mmt), "ddim": ddim, "train_ddim": to_jsonable(cfg.train_ddim), "crop": cfg.crop}


@register
class ReactDiff(Method):
    name = "ReactDiff"
    description = "Multi-Modality Transformer + conditional latent DDIM (Li et al., Neural Networks 2025)"
    paper = "Li et al., ReactDiff: Latent Diffusion for Facial Reaction Generation, Neural Networks 2025"
    variants = (
        Variant("offline", causal=False, description="every window conditioned on the whole speaker clip"),
        Variant("online", causal=True, description="window by window from the current and past speaker windows"),
    )
    config_cls = ReactDiffConfig
    presets = PRESETS
    default_preset = "paper"
    ragged = True  # clips of any length: crops in training, chunks of ``crop`` frames in generation
    stages = (
        Stage("mmt", reads=("train_data", "train_features"), settings=_mmt_settings),
        Stage("ddim", reads=("train_data", "train_features"), settings=_ddim_settings),
    )
    reads = ("features",)
    feature_streams = ("au", "fe", "va", "mfcc", "wav2vec2")  # the MMT's five inputs (data.STREAMS)
    generate_mem_mb = 8000
    generate_runtime = 240

    def train(self, stage: str, ctx: TrainContext) -> None:
        from mafrg.methods.reactdiff import stages

        {"mmt": stages.train_mmt, "ddim": stages.train_ddim}[stage](ctx)

    def generate(self, ctx: GenerationContext, variant: str) -> Reactions:
        from mafrg.methods.reactdiff import stages

        return stages.generate(ctx, variant)
