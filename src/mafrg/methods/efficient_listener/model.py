"""Efficient Listener, top to bottom: perception (raw frames + audio -> per-frame condition), ELNet (a 1-D
temporal U-Net with FiLM conditioning), and Facial Action Diffusion (training loss, one-step sampler).

Shapes: a clip is l = 8 frames; a listener clip is x in R^{l x 83} (25 emotion channels, then 58 3DMM
coefficients, min-max normalised per channel to [-1, 1] with training statistics). Its condition is two slots
of l per-frame speaker vectors, ``[previous clip | own clip]``, plus one flag per slot saying whether the slot is
visible. ``offline`` shows the own clip (the paper: a clip sees its own speaker frames); ``online`` shows the
previous clip only, so listener frame t depends on speaker frames < l * floor(t / l) <= t (frame-causal). One
network is trained on both (each training clip draws its mode), so the two variants share one model.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from mafrg.backbones.resnet import ResNet
from mafrg.methods.efficient_listener.config import ELConfig, ELNetConfig, FADConfig, PerceptionConfig

TARGET_DIM = 25 + 58
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ------------------------------------------------------------------------------------------------ perception
def log_mel(samples: torch.Tensor, frames: int, fps: int, sample_rate: int, n_mels: int, windows: int
            ) -> torch.Tensor:
    """Mono samples of ``frames`` video frames -> (frames, windows, n_mels) log-mel frames, frame-aligned and
    causal: the windows of video frame t lie inside its own samples [b_t, b_t + floor(rate / fps)), b_t =
    floor(t * rate / fps) (``frame_bounds``; at 16 kHz and 30 fps frames own 533 or 534 samples), 25 ms each,
    evenly spaced. Where frames own whole samples (640 at 25 fps) these are exactly the frames."""
    from mafrg.torchaudio_import import load_torchaudio

    load_torchaudio()
    from torchaudio.functional import melscale_fbanks

    from mafrg.media.audio import frame_bounds

    spf = sample_rate // fps  # the shortest frame
    win = min(int(round(0.025 * sample_rate)), spf)
    hop = (spf - win) // (windows - 1) if windows > 1 else 0
    n_fft = 1 << (win - 1).bit_length()
    first = torch.from_numpy(frame_bounds(frames, sample_rate, fps)[:-1])  # each frame's first sample
    idx = first[:, None, None] + (torch.arange(windows) * hop)[None, :, None] + torch.arange(win)[None, None]
    segs = samples[idx]  # (T, K, win)
    spec = torch.fft.rfft(segs * torch.hann_window(win, periodic=False), n=n_fft).abs() ** 2
    fb = melscale_fbanks(n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate, norm="slaney", mel_scale="slaney")
    return torch.log(spec @ fb + 1e-6)


class SpatialSoftmax(nn.Module):
    """Keypoint pooling (Levine et al. 2016; robomimic): a 1x1 conv makes K heat maps, each a softmax over the
    positions, and a keypoint is the expected (x, y) in [-1, 1] under it. Unlike global average pooling it
    keeps *where* a feature fires (the mouth corners, the brows)."""

    def __init__(self, channels: int, keypoints: int):
        super().__init__()
        self.keypoints = nn.Conv2d(channels, keypoints, 1)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        b, _, h, w = fmap.shape
        att = self.keypoints(fmap).flatten(2).softmax(dim=-1)  # (B, K, H*W)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h, device=fmap.device),
                                torch.linspace(-1, 1, w, device=fmap.device), indexing="ij")
        pos = torch.stack([xs.flatten(), ys.flatten()], dim=-1)  # (H*W, 2)
        return (att @ pos).flatten(1)  # (B, 2K): x0, y0, x1, y1, ...


class Perception(nn.Module):
    """Raw speaker frames (N, S, S, 3) uint8 and log-mel frames (N, windows, n_mels) -> (N, dim) per frame."""

    def __init__(self, cfg: PerceptionConfig):
        super().__init__()
        self.cfg = cfg
        self.dim = 0
        if cfg.video:
            self.backbone = ResNet(cfg.arch, cfg.width, cfg.norm)
            self.pool = SpatialSoftmax(self.backbone.out_channels, cfg.keypoints)
            self.visual = nn.Linear(2 * cfg.keypoints, cfg.visual_dim)
            self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
            self.dim += cfg.visual_dim
        if cfg.audio:
            mel = cfg.mel_windows * cfg.n_mels
            self.register_buffer("mel_mean", torch.zeros(mel))  # training-set statistics (set_mel_stats)
            self.register_buffer("mel_std", torch.ones(mel))
            self.audio = nn.Linear(mel, cfg.audio_dim) if cfg.audio_dim else nn.Identity()
            self.dim += cfg.audio_dim or mel

    def set_mel_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """The training set's per-value log-mel mean and (unbiased) standard deviation, floored at 1e-3."""
        self.mel_mean.copy_(mean)
        self.mel_std.copy_(std.clamp_min(1e-3))

    def forward(self, frames: torch.Tensor | None, mel: torch.Tensor | None) -> torch.Tensor:
        parts = []
        if self.cfg.video:
            x = frames.permute(0, 3, 1, 2).float().div(255.0)
            x = (x - self.pixel_mean) / self.pixel_std
            parts.append(self.visual(self.pool(self.backbone.features(x))))
        if self.cfg.audio:
            parts.append(self.audio((mel.flatten(1) - self.mel_mean) / self.mel_std))
        return torch.cat(parts, dim=-1)


def slot_condition(feats: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
    """(..., l d) flattened speaker frames of one clip and (..., 2) visibility flags [previous, own] -> the
    condition (..., 2 l d + 2): the frames go into the visible slot, zeros elsewhere."""
    return torch.cat([feats * flags[..., :1], feats * flags[..., 1:], flags], dim=-1)


def clip_condition(per_frame: torch.Tensor, clip: int, online: bool) -> torch.Tensor:
    """(B, C * l, d) per-frame speaker vectors -> (B, C, 2 l d + 2) clip conditions (module docstring)."""
    b, t, d = per_frame.shape
    own = per_frame.reshape(b, t // clip, clip * d)
    flags = torch.zeros(b, t // clip, 2, device=per_frame.device)
    if not online:
        flags[..., 1] = 1.0
        return slot_condition(own, flags)
    prev = torch.cat([torch.zeros_like(own[:, :1]), own[:, :-1]], dim=1)  # clip 0: no previous clip, nothing shown
    flags[:, 1:, 0] = 1.0
    return slot_condition(prev, flags)


# ------------------------------------------------------------------------------------------------ ELNet
class CondResBlock(nn.Module):
    """Janner et al.'s temporal residual block (two Conv1d-GroupNorm-Mish blocks) with FiLM: the condition
    gives a per-channel scale and bias after the first block (Diffusion Policy's ConditionalResidualBlock1D)."""

    def __init__(self, cin: int, cout: int, cond_dim: int, kernel: int, groups: int):
        super().__init__()
        from diffusers.models.resnet import Conv1dBlock

        self.block1 = Conv1dBlock(cin, cout, kernel, n_groups=groups)
        self.block2 = Conv1dBlock(cout, cout, kernel, n_groups=groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * cout))
        self.residual = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, bias = self.film(cond).unsqueeze(-1).chunk(2, dim=1)
        h = self.block1(x) * scale + bias
        return self.block2(h) + self.residual(x)


class ELNet(nn.Module):
    """(B, l, 83) noisy listener clip, (B,) step, (B, cond) clip condition -> (B, l, 83)."""

    def __init__(self, cfg: ELNetConfig, cond_dim: int, target_dim: int = TARGET_DIM):
        super().__init__()
        from diffusers.models.embeddings import TimestepEmbedding, Timesteps
        from diffusers.models.resnet import Conv1dBlock, Downsample1D, Upsample1D

        e = cfg.step_embed_dim
        self.step_proj = Timesteps(e, flip_sin_to_cos=False, downscale_freq_shift=1)
        self.step_embed = TimestepEmbedding(e, 4 * e, act_fn="mish", out_dim=e)
        cdim = e + cond_dim
        dims = [target_dim, *cfg.down_dims]
        k, g = cfg.kernel_size, cfg.n_groups
        levels = list(zip(dims[:-1], dims[1:]))
        self.down = nn.ModuleList()
        for i, (cin, cout) in enumerate(levels):
            last = i == len(levels) - 1
            self.down.append(nn.ModuleList([CondResBlock(cin, cout, cdim, k, g), CondResBlock(cout, cout, cdim, k, g),
                                            nn.Identity() if last else Downsample1D(cout, use_conv=True)]))
        mid = dims[-1]
        self.mid = nn.ModuleList([CondResBlock(mid, mid, cdim, k, g), CondResBlock(mid, mid, cdim, k, g)])
        self.up = nn.ModuleList()
        for i, (cin, cout) in enumerate(reversed(levels[1:])):
            self.up.append(nn.ModuleList([CondResBlock(2 * cout, cin, cdim, k, g), CondResBlock(cin, cin, cdim, k, g),
                                          Upsample1D(cin, use_conv_transpose=True)]))
        start = cfg.down_dims[0]
        self.final = nn.Sequential(Conv1dBlock(start, start, k, n_groups=g), nn.Conv1d(start, target_dim, 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        c = torch.cat([self.step_embed(self.step_proj(t).to(x.dtype)), cond], dim=-1)
        h = x.transpose(1, 2)
        skips = []
        for r1, r2, down in self.down:
            h = r2(r1(h, c), c)
            skips.append(h)
            h = down(h)
        for r in self.mid:
            h = r(h, c)
        for r1, r2, up in self.up:
            h = up(r2(r1(torch.cat([h, skips.pop()], dim=1), c), c))
        return self.final(h).transpose(1, 2)


# ------------------------------------------------------------------------------------------------ FAD
class FacialActionDiffusion(nn.Module):
    """Perception + ELNet + the target normalisation; ``loss`` for training, ``sample`` for generation."""

    def __init__(self, cfg: ELConfig):
        super().__init__()
        self.cfg = cfg
        self.perception = Perception(cfg.perception)
        self.cond_dim = 2 * cfg.elnet.clip * self.perception.dim + 2
        self.elnet = ELNet(cfg.elnet, self.cond_dim)
        self.register_buffer("lo", torch.zeros(TARGET_DIM))  # training listener min / max per channel
        self.register_buffer("hi", torch.ones(TARGET_DIM))

    def set_target_range(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        self.lo.copy_(lo)
        self.hi.copy_(torch.maximum(hi, lo + 1e-6))

    def normalise(self, y: torch.Tensor) -> torch.Tensor:
        return 2 * (y - self.lo) / (self.hi - self.lo) - 1

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 1) * (self.hi - self.lo) / 2 + self.lo

    def scheduler(self, cfg: FADConfig | None = None):
        """diffusers' DDPM scheduler. 'trailing' spacing: with one step it evaluates t = T - 1 (pure noise);
        the default 'leading' spacing would evaluate t = 0, a model that never saw noise."""
        from diffusers import DDPMScheduler

        f = cfg or self.cfg.fad
        return DDPMScheduler(num_train_timesteps=f.train_timesteps, beta_schedule=f.beta_schedule,
                             prediction_type=f.prediction_type, clip_sample=f.clip_sample, clip_sample_range=1.0,
                             timestep_spacing="trailing")

    def loss(self, target: torch.Tensor, cond: torch.Tensor, sched,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """MSE of ELNet's prediction (noise or clean clip) at a random step: the only loss (paper eq. 6)."""
        x0 = self.normalise(target)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device)
        t = torch.randint(0, sched.config.num_train_timesteps, (x0.shape[0],), generator=generator, device=x0.device)
        pred = self.elnet(sched.add_noise(x0, noise, t), t, cond)
        return F.mse_loss(pred, noise if self.cfg.fad.prediction_type == "epsilon" else x0)

    @torch.no_grad()
    def sample(self, cond: torch.Tensor, noise: torch.Tensor, steps: int,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Denoise ``noise`` (N, l, 83) under ``cond`` (N, cond_dim) in ``steps`` steps -> denormalised clips."""
        sched = self.scheduler()
        sched.set_timesteps(steps)
        x = noise
        for t in sched.timesteps:
            out = self.elnet(x, t.expand(x.shape[0]).to(x.device), cond)
            x = sched.step(out.float(), t, x, generator=generator).prev_sample  # (float: bf16 autocast)
        return self.denormalise(x)


def n_clips(frames: int, clip: int) -> int:
    return math.ceil(frames / clip)
