"""ReactDiff settings, with the published (``paper``) and CPU-demo (``demo``) sizes as presets.

Keys of the ``methods.ReactDiff`` config block override the chosen preset field by field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mafrg.config import ConfigError, TrainConfig


@dataclass
class MMTConfig:
    window: int = 50  # frames per latent window
    d_model: int = 256  # width of the intra/inter-modal attention
    au_token_dim: int = 256  # each of the 49 AU tokens (512-d) is projected to this before pooling
    au_pool: Literal["attention", "flatten"] = "attention"  # attention: weighted sum of the 49 tokens; flatten: keep places
    d_fused: int = 1024  # facial/acoustic features are projected to this (paper: 1024)
    latent_dim: int = 256  # paper text: 128; the authors' code: 256
    latent_frame_dim: int = 64  # per-frame width before the window is flattened into the latent MLP
    heads: int = 8
    decoder_layers: int = 4
    decoder_dim: int = 512
    dropout: float = 0.1
    causal_training_fraction: float = 0.5  # share of batches decoded with a window-causal mask (online mode)


@dataclass
class DDIMConfig:
    unet_channels: tuple[int, ...] = (64, 128, 256)
    cond_dim: int = 1024  # behaviour-constraint vector z_bc
    time_dim: int = 256
    train_timesteps: int = 1000
    beta_schedule: Literal["squaredcos_cap_v2", "linear", "scaled_linear"] = "squaredcos_cap_v2"  # cosine
    sample_steps: int = 20
    eta: float = 0.0


@dataclass
class ReactDiffConfig:
    mmt: MMTConfig = field(default_factory=MMTConfig)
    ddim: DDIMConfig = field(default_factory=DDIMConfig)
    train_mmt: TrainConfig = field(default_factory=TrainConfig)
    train_ddim: TrainConfig = field(default_factory=lambda: TrainConfig(lr=1e-4))
    generate_seed: int = 1234  # added to the run's seed

    def check(self) -> None:
        if self.mmt.latent_dim % (2 ** (len(self.ddim.unet_channels) - 1)):
            raise ConfigError("methods.ReactDiff.mmt.latent_dim must be divisible by 2^(levels-1) of "
                              "methods.ReactDiff.ddim.unet_channels")


def paper() -> ReactDiffConfig:
    return ReactDiffConfig()


def demo() -> ReactDiffConfig:
    return ReactDiffConfig(
        mmt=MMTConfig(d_model=64, au_token_dim=16, au_pool="flatten", d_fused=96, latent_dim=32, latent_frame_dim=8,
                      heads=4, decoder_layers=2, decoder_dim=64, dropout=0.0),
        ddim=DDIMConfig(unet_channels=(32, 64), cond_dim=128, time_dim=64),
        train_mmt=TrainConfig(epochs=80, batch_size=4, lr=2e-3, ema_decay=0.95),
        train_ddim=TrainConfig(epochs=80, batch_size=16, lr=2e-3, ema_decay=0.95),
    )


PRESETS = {"paper": paper, "demo": demo}


def reactdiff_config(block: dict | None = None) -> ReactDiffConfig:
    """The config of a ``methods.ReactDiff`` block (``preset`` plus overrides); default preset ``paper``."""
    from mafrg.methods.settings import RESERVED, resolve_config
    from mafrg.methods import get

    block = dict(block or {})
    over = {k: v for k, v in block.items() if k not in RESERVED}
    return resolve_config(get("ReactDiff"), block.get("preset", "paper"), over)
