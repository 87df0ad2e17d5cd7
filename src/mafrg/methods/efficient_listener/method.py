"""Efficient Listener registered under the method contract: one training stage, offline and online generation."""

from __future__ import annotations

from mafrg.methods import register
from mafrg.methods.contract import GenerationContext, Method, Stage, TrainContext, Variant, to_jsonable
from mafrg.methods.efficient_listener.config import PRESETS, ELConfig
from mafrg.predictions import Reactions


def _fad_settings(cfg: ELConfig) -> dict:
    d = to_jsonable(cfg)
    d["fad"].pop("sample_steps")  # sampling only: no retraining
    d.pop("generate_seed")
    return d


@register
class EfficientListener(Method):
    name = "EfficientListener"
    description = "FAD + ELNet: raw speaker frames and audio, one-step diffusion (arXiv 2504.20685)"
    paper = "Efficient Listener: Dyadic Facial Motion Synthesis via Action Diffusion, arXiv 2504.20685"
    variants = (
        Variant("offline", causal=False, description="each clip of 8 frames sees its own 8 speaker frames"),
        Variant("online", causal=True, description="each clip sees the 8 speaker frames before it"),
    )
    config_cls = ELConfig
    presets = PRESETS
    default_preset = "paper"
    ragged = True  # clips of any length: training clips drawn within each clip, generation over the whole clip
    stages = (Stage("fad", reads=("train_data", "train_media"), settings=_fad_settings),)
    reads = ("media",)
    generate_mem_mb = 8000
    generate_runtime = 120

    def train(self, stage: str, ctx: TrainContext) -> None:
        from mafrg.methods.efficient_listener import stages

        stages.train_fad(ctx)

    def generate(self, ctx: GenerationContext, variant: str) -> Reactions:
        from mafrg.methods.efficient_listener import stages

        return stages.generate(ctx, variant)
