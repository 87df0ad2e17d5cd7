"""ReactDiff-K settings, with the authors' (``paper``) and CPU-demo (``demo``) sizes as presets.

The paper (arXiv 2510.04712) gives no numbers beyond the method's outline, so ``paper`` is the authors' public
code (lingjivoo/ReactDiff, ``configs/config_train.json``, ``scripts/train.py``, ``scripts/sample.py``), with its
bugs fixed. Every place where ``demo`` differs from ``paper`` is listed, with its reason, in docs/methods/reactdiffk.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mafrg.config import ConfigError, TrainConfig
from mafrg.schema import at_least, positive, unit_interval


@dataclass
class NetConfig:
    depths: tuple[int, ...] = (2, 4, 4)  # residual blocks per U-Net level (authors)
    widths: tuple[int, ...] = (128, 256, 512)  # channels per level, no temporal down-sampling (authors)
    mapping_dim: int = 256  # noise-level / frame-index embedding width (authors: mapping_out 256)
    group_size: int = 32  # channels per GroupNorm group (authors)
    head_size: int = 64  # channels per attention head (authors)
    key_dim: int = 256  # width the speaker tokens are projected to before cross-attention
    dropout: float = field(default=0.05, metadata=unit_interval(closed=False))  # (authors)
    # GroupNorm statistics: the authors take them over the window's channels and frames, which lets a frame see
    # later ones. "causal": over frames 0..t of the window (running); "frame": each frame alone.
    norm: Literal["causal", "frame"] = "causal"
    # Not in the authors' network: a per-channel gain g(sigma) (zero-initialised Linear of the noise-level and
    # mode embedding) on the network's own input added to F, so the denoiser can choose how much of the noisy frame
    # it keeps (D = (c_skip + c_out c_in g) x + ...). docs/methods/reactdiffk.md: the input gain.
    input_gain: bool = False


@dataclass
class EDMConfig:
    sigma_data: float = field(default=0.5, metadata=positive())  # (authors)
    sigma_min: float = field(default=0.01, metadata=positive())  # sampling schedule (authors)
    # largest noise level of the sampling schedule (authors)
    sigma_max: float = field(default=80.0, metadata=positive())
    rho: float = field(default=7.0, metadata=positive())  # Karras schedule exponent (authors)
    # Training noise levels: the truncated v-diffusion ("cosine") density of k-diffusion, with its default
    # bounds (the authors' config names the type only).
    # lower bound of the training noise density (k-diffusion's default)
    density_min: float = field(default=1e-3, metadata=positive())
    # upper bound of the training noise density (k-diffusion's default)
    density_max: float = field(default=1e3, metadata=positive())
    sample_steps: int = 50  # sampler steps (authors: 50)
    # DPM-Solver++(2M) SDE (authors' sample.py); "dpmsolver++" is the deterministic ODE variant.
    algorithm: Literal["sde-dpmsolver++", "dpmsolver++"] = "sde-dpmsolver++"


@dataclass
class PriorConfig:
    """The two priors; both act only on the training samples of the lowest noise levels (``fraction``)."""

    # share of the noise-level draws (the lowest ones) the priors apply to (authors: 10 %)
    fraction: float = field(default=0.1, metadata=unit_interval())
    kinematics_weight: float = 1.0  # prior (i): first differences of the head pose (authors' weight_velocity_loss)
    pose_scale: float = 10.0  # pose terms x10 (authors)
    # Which channels prior (i) constrains: the head pose (authors) or every channel (pose still x pose_scale).
    kinematics_channels: Literal["pose", "all"] = "pose"
    dependency_weight: float = 0.01  # prior (ii): facial-action pair differences (authors' weight_kinematics_loss)
    # Which pair lists prior (ii) uses: the authors' 3DMM expression pairs, mafrg's REACT AU pairs, or both.
    pairs: Literal["3dmm", "au", "both"] = "both"


@dataclass
class GuidanceConfig:
    """Classifier-free guidance (named by the paper, absent from the authors' code)."""

    # training: share of samples whose speaker condition is dropped (null token)
    cond_dropout: float = field(default=0.1, metadata=unit_interval(closed=False))
    # Sampling: D = D_uncond + scale * (D_cond - D_uncond); 1 = conditional only (no extra pass), 0 = unconditional.
    # 2: the sweep on the demo over 3 seeds (docs/methods/reactdiffk.md, guidance scale) -- against 1, FRCorr and
    # FRDist better in 6 of 6 (seed, variant) pairs; 3 raises FRCorr again but no longer lowers FRDist.
    scale: float = 2.0


@dataclass
class ReactDiffKConfig:
    net: NetConfig = field(default_factory=NetConfig)
    edm: EDMConfig = field(default_factory=EDMConfig)
    priors: PriorConfig = field(default_factory=PriorConfig)
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    window: int = 16  # frames generated per window, one window after another (authors: 16)
    # Speaker frames a window's cross-attention sees around it: [start - context, end + context) offline,
    # [start - context, current frame] online. Authors: the window's own frames only (0).
    context: int = field(default=0, metadata=at_least(0))
    speaker_emotion: bool = False  # also attend to the speaker's 25 emotion channels (REACT; not in the authors' code)
    # width of the speaker's wav2vec2 stream per frame: 1536 at 25 fps (two 20 ms states), 768 at 30 fps
    # (interpolated, docs/features.md); training takes it from the training features and stores it with the model
    audio_width: int = 1536
    # Head-pose momentum across windows at inference (authors: 0.99 on translation, half of it on rotation,
    # in standardised units, towards the previous window's last frame). 0 switches it off.
    momentum: float = field(default=0.99, metadata=unit_interval(closed=False))
    crop: int = 256  # training crops of this many frames (authors: clip_length 256), a whole number of windows
    crops_per_row: int = 1  # random crops per training row and epoch
    # Authors: AdamW lr 1e-4, betas (0.95, 0.999), eps 1e-6, wd 1e-3, batch 100, constant lr, gradient clipping
    # 1.0; their EMA warms up ("inverse", power 2/3) to 0.9999 (k-diffusion's EMAWarmup), as here.
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=100, batch_size=100, lr=1e-4, weight_decay=1e-3, betas=(0.95, 0.999), ema_decay=0.9999,
        ema_warmup="inverse", ema_power=2 / 3))
    generate_seed: int = field(default=9173, metadata=at_least(0))  # added to the run's seed
    # Rows sampled as one batch at generation (each with its n reactions). Blocks are fixed by row index, so a
    # shard equals those rows of a whole-split run; larger blocks amortise the per-call overhead
    # (benchmarks/generate_bench.py).
    generate_rows: int = 8

    def check(self) -> None:
        n, w = self.net, "methods.ReactDiffK"
        if len(n.depths) != len(n.widths) or not n.depths:
            raise ConfigError(f"{w}.net.depths and net.widths must have the same (non-zero) length")
        if any(c % n.group_size and c > n.group_size for c in n.widths):
            raise ConfigError(f"{w}.net.widths must be multiples of net.group_size")
        if self.window < 2 or self.crop % self.window or self.crop < self.window:
            raise ConfigError(f"{w}.crop must be a positive multiple of window (>= 2), got crop {self.crop}, "
                              f"window {self.window}")
        if self.guidance.scale != 1 and self.guidance.cond_dropout == 0:
            raise ConfigError(f"{w}.guidance.scale {self.guidance.scale} needs an unconditional model: "
                              "set guidance.cond_dropout > 0")
        # ranges of single settings (sample_steps >= 1, fractions, ...) are the schema's (mafrg.schema)
        if not self.edm.sigma_min < self.edm.sigma_max:
            raise ConfigError(f"{w}.edm: sigma_min must be below sigma_max")


def paper() -> ReactDiffKConfig:
    return ReactDiffKConfig()


def demo() -> ReactDiffKConfig:
    """Sized for 2 CPU cores and the demo budget (docs/methods/reactdiffk.md: departures and demo measurements)."""
    return ReactDiffKConfig(
        # The input gain: without it the demo network (160 optimiser steps) passes on exactly c_skip of the noisy
        # frame, so neither prior can change the sampled jitter; with it both priors lower jitter and exclusive-AU
        # co-activation on every seed (docs/methods/reactdiffk.md: the input gain).
        net=NetConfig(depths=(1, 1), widths=(64, 128), mapping_dim=64, group_size=16, head_size=32, key_dim=64,
                      dropout=0.0, input_gain=True),
        # Sampling stops at sigma 1.0 (the last step returns D(x; 1.0)): the demo network does not denoise below
        # about that level, so the authors' steps down to 0.01 only add the SDE's fresh noise -- jitter. Chosen so
        # the 3DMM's frame-to-frame velocity meets the true listeners' (docs/methods/reactdiffk.md: the sigma_min sweep).
        edm=EDMConfig(sample_steps=10, sigma_min=1.0),
        # The priors on the 50 % least-noised training draws (sigma below about 0.5) instead of the authors' 10 %
        # (below about 0.08): the demo samples nowhere near the latter (docs/methods/reactdiffk.md: the input gain).
        priors=PriorConfig(fraction=0.5),
        # Guidance scale 2 (the conditional and the unconditional pass each step): measured on this demo over three
        # seeds, FRCorr higher in 12 of 12 pairs and FRDist lower in 9 of 12 than scale 1, FRDiv even (docs/methods/reactdiffk.md).
        guidance=GuidanceConfig(scale=2.0),
        speaker_emotion=True,  # measured on the demo: lower FRDist on both splits and variants (docs/methods/reactdiffk.md)
        crop=64,
        crops_per_row=4,
        train=TrainConfig(epochs=20, batch_size=32, lr=1e-3, weight_decay=1e-3, betas=(0.95, 0.999), ema_decay=0.99),
    )


PRESETS = {"paper": paper, "demo": demo}
