"""ReactDiff settings, with the published (``paper``) and CPU-demo (``demo``) sizes as presets.

``paper`` is the paper (Li et al., Neural Networks 2025); where the paper is silent it is the authors' public
code (Hunan-Tiger/ReactDiff, configs ``1_farfusion_vae.yaml`` / ``2_farfusion_ldm.yaml``); where the two
disagree it is the paper and the code's value is named in the comment (set it as an override to get the code's
behaviour). Keys of the ``methods.ReactDiff`` config block override the chosen preset field by field.
Every place where ``demo`` differs from ``paper`` is listed, with its reason, in docs/methods/reactdiff.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mafrg.config import ConfigError, TrainConfig
from mafrg.schema import at_least, unit_interval


@dataclass
class MMTConfig:
    window: int = 50  # ws: frames per window (paper and code: 50)
    hidden_dim: int = 1024  # intra/inter-modal attention width (paper: f^v, f^a in R^{N x 1024})
    heads: int = 4  # attention heads of every MMT attention layer (code: 4)
    au_self_attention: bool = True  # the AU stream attends to itself before the intra-modal blocks (code)
    intra_depth: int = 2  # intra-modal blocks, each: attend to FE, then to VA (code: depth 2)
    inter_layers: int = 2  # inter-modal layers, video queries attend to audio (code: 2)
    latent_dim: int = 128  # per-frame latent, x0 in R^{N x 128} (paper: 128; code: feature_dim 256)
    map_hidden: int = 2048  # MLP from the fused 1024-d frame to the latent (code: 2 x hidden)
    decoder_layers: int = 2  # Transformer encoder layers of the decoder (code: 2)
    decoder_heads: int = 4  # (code: 4)
    decoder_ff: int = 256  # feed-forward width of a decoder layer (code: 2 x latent)
    # 0: two linear heads (paper); code: an MLP head of 2 x latent
    decoder_head_hidden: int = field(default=0, metadata=at_least(0))
    positional_encoding: bool = False  # sinusoidal frame positions in encoder and decoder (code: none)
    # What the encoder's attention spans in offline mode: "clip" (the paper: intra- and inter-modal cross-attention
    # over the clip's N frames, windows cut afterwards) or "window" (each window alone). Online mode always encodes
    # window by window, so that window w's latents depend on window w's frames only (its causality rests on it);
    # MMT training batches in online mode (causal_training_fraction) train that form.
    encoder_span: Literal["clip", "window"] = "clip"
    # Input standardisation (not in the paper; extractor features come at arbitrary scales): "dataset" uses the
    # training set's per-dimension mean and std; "clip" first removes each clip's running mean (frames <= t, so it
    # stays causal), which takes out what stays constant in a clip, such as the person's appearance.
    input_norm: Literal["dataset", "clip"] = "dataset"
    # Emotion reconstruction loss (paper: L1). L1's minimiser is the median, which for a binary AU column that is
    # mostly 0 is 0: the AU outputs lose their mean, which CCC (FRCorr) punishes; "mse" estimates the probability.
    emotion_loss: Literal["l1", "mse"] = "l1"
    dropout: float = field(default=0.1, metadata=unit_interval(closed=False))  # (code: 0.1 in the decoder layers)
    # Online mode decodes with a frame-causal mask; this share of MMT training batches uses it, so that one
    # decoder serves both modes (the authors train a separate model for online).
    causal_training_fraction: float = field(default=0.5, metadata=unit_interval())


@dataclass
class DDIMConfig:
    # z_bc = SiLU(GroupNorm(Linear(Flatten(speaker window latents)))), one per window (paper: R^{(N//ws) x 1024})
    cond_dim: int = 1024
    cond_groups: int = 32  # GroupNorm groups of z_bc (code: 32)
    # Speaker windows z_bc flattens: 1 = the window conditioned on (paper, code); k > 1 adds the k - 1 windows
    # before it (zeros before the clip), for listeners whose reaction lags into the next window.
    context_windows: int = 1
    # Noise predictor: ADM-style 1-D U-Net (DiffAE lineage, the authors' GDUnet_Latent): a window's ws frames are
    # the channels and the latent dimensions the length; time embedding (4 x model_channels) concatenated with z_bc
    # feeds every residual block.
    model_channels: int = 256  # (code: 256)
    channel_mult: tuple[int, ...] = (1, 2, 4, 8)  # (code)
    num_res_blocks: int = field(default=2, metadata=at_least(0))  # (code)
    # levels with self-attention (code: downsample rates 1, 2, 4)
    attention_levels: tuple[int, ...] = field(default=(0, 1, 2), metadata=at_least(0))
    attention_heads: int = 1  # (code: 1)
    unet_dropout: float = field(default=0.0, metadata=unit_interval(closed=False))  # (code: 0)
    train_timesteps: int = 20  # T (paper: 20; the code trains and samples with 20 steps)
    beta_schedule: Literal["squaredcos_cap_v2", "linear", "scaled_linear"] = "squaredcos_cap_v2"  # cosine (code)
    loss_weight: float = 10.0  # L1 noise loss multiplier (code: 10)
    sample_steps: int = 20  # DDIM steps at generation (paper: 20)
    eta: float = field(default=0.0, metadata=unit_interval())  # deterministic DDIM given the initial noise (code: 0)


@dataclass
class ReactDiffConfig:
    mmt: MMTConfig = field(default_factory=MMTConfig)
    ddim: DDIMConfig = field(default_factory=DDIMConfig)
    # Paper: batch 16, lr 5e-3, 100 epochs, AdamW (0.9, 0.999), weight decay 5e-4 (code: lr 1e-4 for the MMT,
    # 5e-5 for the DDIM, 200 epochs each). The code keeps an EMA of the weights (decay 0.999) and saves the average.
    train_mmt: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=100, batch_size=16, lr=5e-3, ema_decay=0.999))
    train_ddim: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=100, batch_size=16, lr=5e-3, ema_decay=0.999))
    generate_seed: int = field(default=1234, metadata=at_least(0))  # added to the run's seed
    # Rows sampled as one batch at generation (each with its α x windows). Blocks are fixed by row index, so a
    # shard equals those rows of a whole-split run bit for bit. 24 = the demo's evaluation shard; bigger blocks
    # amortise per-call overhead, and which size is fastest depends on the machine (benchmarks/generate_bench.py
    # --rows). Memory: a block of 24 REACT clips holds about 3.6 GB of AU features at its peak (8: ~1.2 GB).
    generate_rows: int = 24
    # Clips of any length (MARS): the MMT trains on random crops of this many frames, the DDIM on each pair's
    # consecutive chunks of it, and generation runs a clip chunk by chunk (the official baselines generate in
    # 750-frame chunks). A multiple of mmt.window. Fixed-length clips (REACT 2024) train and generate whole.
    crop: int = field(default=750, metadata=at_least(1))
    # The MMT reads every training clip's feature streams once per epoch. true: read them from memory-mapped
    # copies under results/cache/reactdiff/ (written once; the demo's 20 epochs spent half their time decoding
    # Parquet); false: decode the feature files every epoch (no extra disk: REACT's AU stream alone is ~110 GB as a copy).
    cache_inputs: bool = False

    def check(self) -> None:
        m, d = self.mmt, self.ddim
        if m.latent_dim % (2 ** (len(d.channel_mult) - 1)):
            raise ConfigError("methods.ReactDiff.mmt.latent_dim must be divisible by 2^(levels-1) of "
                              "methods.ReactDiff.ddim.channel_mult (the U-Net halves the latent length per level)")
        if d.cond_dim % d.cond_groups:
            raise ConfigError("methods.ReactDiff.ddim.cond_dim must be divisible by ddim.cond_groups")
        if any(not 0 <= lv < len(d.channel_mult) for lv in d.attention_levels):
            raise ConfigError("methods.ReactDiff.ddim.attention_levels must index ddim.channel_mult")
        for name, width, heads in (("mmt.hidden_dim", m.hidden_dim, m.heads),
                                   ("mmt.latent_dim", m.latent_dim, m.decoder_heads)):
            if width % heads:
                raise ConfigError(f"methods.ReactDiff.{name} must be divisible by its number of heads")
        if self.crop % m.window:
            raise ConfigError(f"methods.ReactDiff.crop must be a multiple of mmt.window ({m.window}), got {self.crop}")
        if d.sample_steps > d.train_timesteps:
            raise ConfigError("methods.ReactDiff.ddim.sample_steps cannot exceed ddim.train_timesteps")


def paper() -> ReactDiffConfig:
    return ReactDiffConfig()


def demo() -> ReactDiffConfig:
    """Sized for 2 CPU cores and the demo's 250-frame clips (docs/methods/reactdiff.md: presets)."""
    return ReactDiffConfig(
        mmt=MMTConfig(window=25, hidden_dim=64, heads=4, au_self_attention=False, latent_dim=16, map_hidden=128,
                      decoder_layers=2, decoder_heads=1, decoder_ff=64, dropout=0.0, input_norm="clip",
                      emotion_loss="mse", encoder_span="window"),
        ddim=DDIMConfig(cond_dim=64, cond_groups=16, model_channels=16, channel_mult=(1,), num_res_blocks=0,
                        attention_levels=()),
        train_mmt=TrainConfig(epochs=20, batch_size=4, lr=2e-3, ema_decay=0.95),
        train_ddim=TrainConfig(epochs=600, batch_size=8, lr=2e-3, ema_decay=0.95),
        cache_inputs=True,
        crop=100,
    )


PRESETS = {"paper": paper, "demo": demo}


def reactdiff_config(block: dict | None = None) -> ReactDiffConfig:
    """The config of a ``methods.ReactDiff`` block (``preset`` plus overrides); default preset ``paper``."""
    from mafrg.methods.settings import RESERVED, resolve_config
    from mafrg.methods import get

    block = dict(block or {})
    over = {k: v for k, v in block.items() if k not in RESERVED}
    return resolve_config(get("ReactDiff"), block.get("preset", "paper"), over)
