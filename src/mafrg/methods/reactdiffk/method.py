"""ReactDiff-K registered under the method contract: one training stage, offline and online generation."""

from __future__ import annotations

from mafrg.methods import register
from mafrg.methods.contract import GenerationContext, Method, Stage, TrainContext, Variant, to_jsonable
from mafrg.methods.reactdiffk.config import PRESETS, ReactDiffKConfig
from mafrg.predictions import Reactions

SAMPLING_ONLY = {"edm": ("sample_steps", "algorithm", "sigma_min", "sigma_max", "rho"), "guidance": ("scale",)}


def _edm_settings(cfg: ReactDiffKConfig) -> dict:
    d = to_jsonable(cfg)
    for block, keys in SAMPLING_ONLY.items():
        for k in keys:
            d[block].pop(k)
    for k in ("momentum", "generate_seed", "generate_rows"):
        d.pop(k)
    return d


@register
class ReactDiffKMethod(Method):
    name = "ReactDiffK"
    description = "temporal EDM diffusion with kinematics and facial-action priors, CFG (Luo et al., arXiv 2510.04712)"
    paper = "Luo et al., ReactDiff: Fundamental Multiple Appropriate Facial Reaction Diffusion Model, arXiv 2510.04712"
    variants = (
        Variant("offline", causal=False, description="each window attends to the speaker frames of its span"),
        Variant("online", causal=True, description="each listener frame attends to speaker frames up to its own"),
    )
    config_cls = ReactDiffKConfig
    presets = PRESETS
    default_preset = "paper"
    stages = (Stage("edm", reads=("train_data", "train_features"), settings=_edm_settings),)
    reads = ("features",)
    feature_streams = ("wav2vec2",)  # its audio modality
    ragged = True  # windows of any clip length: trained on crops within each clip, generated row by row
    generate_mem_mb = 8000
    generate_runtime = 240

    def train(self, stage: str, ctx: TrainContext) -> None:
        from mafrg.methods.reactdiffk import stages

        stages.train_edm(ctx)

    def generate(self, ctx: GenerationContext, variant: str) -> Reactions:
        from mafrg.methods.reactdiffk import stages

        return stages.generate(ctx, variant)
