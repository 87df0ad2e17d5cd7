"""ReactDiff settings, with the published (``paper``) and CPU-demo (``demo``) sizes as presets.

Config keys under ``reactdiff`` override the chosen preset field by field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from mafrg.config import ConfigError


@dataclass
class MMTConfig:
    window: int = 50  # frames per latent window
    d_model: int = 256  # width of the intra/inter-modal attention
    au_token_dim: int = 256  # each of the 49 AU tokens (512-d) is projected to this before pooling
    au_pool: str = "attention"  # attention: one weighted sum of the 49 tokens; flatten: keep every token's place
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
    beta_schedule: str = "squaredcos_cap_v2"  # cosine
    sample_steps: int = 20
    eta: float = 0.0


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    ema_decay: float = 0.999
    seed: int = 0
    val_fraction: float = 0.1  # held out of the *training* split (val/test data never touch training)
    num_workers: int = 0


@dataclass
class ReactDiffConfig:
    preset: str = "paper"
    mmt: MMTConfig = field(default_factory=MMTConfig)
    ddim: DDIMConfig = field(default_factory=DDIMConfig)
    train_mmt: TrainConfig = field(default_factory=TrainConfig)
    train_ddim: TrainConfig = field(default_factory=lambda: TrainConfig(lr=1e-4))
    n_predictions: int = 10
    generate_seed: int = 1234

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _preset(name: str) -> ReactDiffConfig:
    if name == "paper":
        return ReactDiffConfig(preset="paper")
    if name == "demo":
        return ReactDiffConfig(
            preset="demo",
            mmt=MMTConfig(d_model=64, au_token_dim=16, au_pool="flatten", d_fused=96, latent_dim=32, latent_frame_dim=8, heads=4,
                          decoder_layers=2, decoder_dim=64, dropout=0.0),
            ddim=DDIMConfig(unet_channels=(32, 64), cond_dim=128, time_dim=64),
            train_mmt=TrainConfig(epochs=80, batch_size=4, lr=2e-3, ema_decay=0.95),
            train_ddim=TrainConfig(epochs=80, batch_size=16, lr=2e-3, ema_decay=0.95),
        )
    raise ConfigError(f"reactdiff.preset must be 'paper' or 'demo', got {name!r}")


def _merge(obj: Any, over: dict[str, Any], where: str) -> Any:
    names = {f.name: f for f in fields(obj)}
    changes = {}
    for k, v in over.items():
        if k not in names:
            raise ConfigError(f"unknown key {where}.{k}")
        cur = getattr(obj, k)
        if hasattr(cur, "__dataclass_fields__"):
            changes[k] = _merge(cur, v or {}, f"{where}.{k}")
        elif isinstance(cur, tuple):
            changes[k] = tuple(v)
        else:
            changes[k] = v
    return replace(obj, **changes)


def reactdiff_config(d: dict[str, Any] | None) -> ReactDiffConfig:
    d = dict(d or {})
    base = _preset(d.pop("preset", "paper"))
    cfg = _merge(base, d, "reactdiff")
    if cfg.mmt.latent_dim % (2 ** (len(cfg.ddim.unet_channels) - 1)):
        raise ConfigError("reactdiff.mmt.latent_dim must be divisible by 2^(levels-1) of reactdiff.ddim.unet_channels")
    return cfg
