"""Efficient Listener settings, with the published (``paper``) and CPU-demo (``demo``) sizes as presets.

``paper`` is the paper (arXiv 2504.20685): 96 x 96 frames, ResNet-18 with spatial-softmax pooling trained end to
end, 16 kHz mel-spectrogram, clips of l = 8 frames, T = 100 training steps with the squared-cosine schedule, MSE
as the only loss, one denoising step at inference, AdamW, 20 epochs. No code is public; where the paper is silent
(its missing equations and unnamed numbers) the values are those of Diffusion Policy (Chi et al. 2023), whose
vision encoder (ResNet-18 + spatial softmax, GroupNorm) and conditional 1-D U-Net (Janner et al.'s temporal U-Net
with FiLM) the paper's description follows; each such value says so. Every place where ``demo`` differs from
``paper`` is listed, with its reason, in docs/methods/efficient-listener.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mafrg.config import ConfigError, TrainConfig
from mafrg.schema import at_least


@dataclass
class PerceptionConfig:
    image_size: int = 96  # speaker frames resized to 96 x 96 (paper)
    arch: Literal["resnet18", "resnet34"] = "resnet18"  # (paper: ResNet-18)
    width: int = 64  # channels of the first ResNet stage (published ResNet-18: 64)
    # BatchNorm in the published ResNet; GroupNorm as Diffusion Policy (the net is trained end to end inside a
    # diffusion model with EMA weights: BN running statistics are not averaged, and BN makes a frame's features
    # depend on the rest of its batch, which would break "clip batching equals clip by clip").
    norm: Literal["group", "batch"] = "group"
    keypoints: int = 32  # spatial-softmax keypoints (Diffusion Policy / robomimic: 32)
    visual_dim: int = 64  # linear map of the 2 x keypoints coordinates (Diffusion Policy: 64)
    n_mels: int = 80  # mel bands (paper: not given; 80 is the common speech choice)
    mel_windows: int = 4  # mel frames per video frame, each 25 ms, all inside the frame's own samples
    # The mel frames of a video frame go through one linear map before the concatenation (0: raw log-mel). It is
    # a low-rank factor of the FiLM layers' own linear map of the condition, which keeps those small.
    audio_dim: int = 64
    audio: bool = True  # ablations (paper Table 4): audio only / video only
    video: bool = True  # ablations (paper Table 4): speaker video on/off


@dataclass
class ELNetConfig:
    clip: int = 8  # l: frames per clip (paper)
    down_dims: tuple[int, ...] = (256, 512, 1024)  # U-Net widths (Diffusion Policy)
    kernel_size: int = 5  # (Diffusion Policy, Janner et al.)
    n_groups: int = 8  # GroupNorm groups (Diffusion Policy)
    step_embed_dim: int = 256  # diffusion-step embedding (Diffusion Policy)


@dataclass
class FADConfig:
    train_timesteps: int = 100  # T (paper)
    beta_schedule: Literal["squaredcos_cap_v2", "linear"] = "squaredcos_cap_v2"  # squared cosine (paper)
    # What ELNet predicts. With one step from pure noise an epsilon prediction must be divided by
    # sqrt(alpha_bar_99) ~ 5e-4 (ill-conditioned); "sample" predicts x0 directly. Measured on the demo (docs/methods/efficient-listener.md).
    prediction_type: Literal["sample", "epsilon"] = "sample"
    sample_steps: int = 1  # denoising steps at inference (paper: 1)
    clip_sample: bool = True  # x0 clipped to the training range ([-1, 1] after min-max normalisation)


@dataclass
class ELConfig:
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)
    elnet: ELNetConfig = field(default_factory=ELNetConfig)
    fad: FADConfig = field(default_factory=FADConfig)
    # Paper: AdamW, 20 epochs, lr and betas lost from the text: Diffusion Policy's lr 1e-4, betas (0.95, 0.999),
    # weight decay 1e-6, EMA of the weights. An epoch visits every training row in both directions; each
    # visit is `clips_per_row` random clips of l frames (Diffusion Policy samples windows the same way).
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=20, batch_size=64, lr=1e-4, weight_decay=1e-6, betas=(0.95, 0.999), ema_decay=0.999))
    clips_per_row: int = 32  # random l-frame clips drawn per training row and direction in one epoch
    # Training frames: "cache" writes each training clip once as a memory-mapped (T, S, S, 3) uint8 file under
    # results/cache/frames/ and reads the batches' frames from it; "video" decodes them from the videos each
    # time (no disk, slower). Neither holds the training set in memory.
    frame_source: Literal["cache", "video"] = "cache"
    generate_seed: int = field(default=4321, metadata=at_least(0))  # added to the run's seed

    def check(self) -> None:
        p, n = self.perception, self.elnet
        if not (p.audio or p.video):
            raise ConfigError("methods.EfficientListener.perception: audio and video cannot both be off")
        if p.image_size < 32:
            raise ConfigError("methods.EfficientListener.perception.image_size must be >= 32 (ResNet stride 32)")
        if n.clip % 2 ** (len(n.down_dims) - 1):
            raise ConfigError("methods.EfficientListener.elnet.clip must be divisible by 2^(levels-1) of elnet.down_dims")
        if any(d % n.n_groups for d in n.down_dims):
            raise ConfigError("methods.EfficientListener.elnet.down_dims must be divisible by elnet.n_groups")
        if self.fad.sample_steps > self.fad.train_timesteps:  # >= 1, like every count, is the schema's
            raise ConfigError("methods.EfficientListener.fad.sample_steps must be in [1, fad.train_timesteps]")


def paper() -> ELConfig:
    return ELConfig()


def demo() -> ELConfig:
    """Sized for 2 CPU cores and the demo budget (docs/methods/efficient-listener.md: presets)."""
    return ELConfig(
        perception=PerceptionConfig(image_size=64, width=16, keypoints=16, visual_dim=32, n_mels=40, audio_dim=16),
        elnet=ELNetConfig(down_dims=(32, 64), step_embed_dim=32),
        train=TrainConfig(epochs=12, batch_size=32, lr=2e-3, weight_decay=1e-6, betas=(0.95, 0.999),
                          ema_decay=0.9),
        clips_per_row=8,
    )


PRESETS = {"paper": paper, "demo": demo}
