"""Stage 2: a conditional latent DDIM over windows of the MMT's per-frame latents (the MMT is frozen).

* x0: a window of ``ws`` per-frame latents, (ws, latent_dim), normalised per latent dimension with training-set
  min/max: ``2 (x - min) / (max - min) - 1``, and exactly ``(y + 1) (max - min) / 2 + min`` back. (The authors'
  code writes ``2*(x-min) + eps/(max-min+eps) - 1``: it never divides by the range, and its inverse is not its
  inverse. This is the formula it was meant to be.)
* z_bc = SiLU(GroupNorm(Linear(Flatten(speaker window)))), one vector per window (paper eq. 6); a learned
  mode embedding (offline / online) is added before the GroupNorm because one model serves both modes.
  Offline, listener window w is conditioned on speaker window w. Online, on speaker window w - 1 (the
  authors' shift; window 0 gets an all-zero speaker window): the DDIM denoises a window's frames jointly, so a
  frame-causal mask inside it could not keep the window's first frame from seeing its last speaker frame;
  shifting by one window makes every listener frame depend on strictly earlier speaker frames.
* Noise predictor: the ADM-style 1-D U-Net of DiffAE that the authors use (GDUnet_Latent): the window's frames
  are the channels and the latent dimensions the length; the time embedding (4 x model_channels) concatenated
  with z_bc feeds every residual block. Written here in plain torch: diffusers has no 1-D ADM residual block
  with an embedding input (its ResidualTemporalBlock1D is the Mish/conv block of Diffuser, a different net).
  Its timestep embedding, attention block and DDIM scheduler are diffusers'.
* Cosine schedule over T = 20 training timesteps, epsilon prediction, L1 noise loss, DDIM sampling with x0
  clipped to [-1, 1].
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mafrg.methods.reactdiff.config import DDIMConfig, MMTConfig


class LatentNorm(nn.Module):
    """Training-set min/max normalisation to [-1, 1] and its exact inverse (stored with the checkpoint)."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("lo", torch.zeros(dim))
        self.register_buffer("hi", torch.ones(dim))

    @torch.no_grad()
    def fit(self, latents: torch.Tensor) -> None:
        flat = latents.reshape(-1, latents.shape[-1])
        self.lo.copy_(flat.min(0).values)
        hi = flat.max(0).values
        self.hi.copy_(torch.where(hi - self.lo > 1e-6, hi, self.lo + 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * (x - self.lo) / (self.hi - self.lo) - 1.0

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return (y + 1.0) * (self.hi - self.lo) / 2.0 + self.lo


def windows(z: torch.Tensor, window: int) -> torch.Tensor:
    """(B, W*window, L) per-frame latents -> (B, W, window, L)."""
    b, t, d = z.shape
    return z.reshape(b, t // window, window, d)


def shift_one_window(s: torch.Tensor) -> torch.Tensor:
    """(B, W, ws, L) speaker windows -> the window before each one, zeros before the first."""
    return torch.cat([torch.zeros_like(s[:, :1]), s[:, :-1]], dim=1)


class BehaviourConstraint(nn.Module):
    """Speaker windows (B, W, ws, L), normalised -> z_bc (B, W, cond_dim)."""

    def __init__(self, window: int, latent_dim: int, cfg: DDIMConfig):
        super().__init__()
        self.context = cfg.context_windows
        self.proj = nn.Linear(self.context * window * latent_dim, cfg.cond_dim)
        self.mode = nn.Embedding(2, cfg.cond_dim)
        self.norm = nn.GroupNorm(cfg.cond_groups, cfg.cond_dim)

    def forward(self, s: torch.Tensor, online: bool) -> torch.Tensor:
        b, w = s.shape[:2]
        if online:
            s = shift_one_window(s)
        if self.context > 1:  # the last `context` windows up to the one conditioned on, earliest first
            parts = [s]
            for _ in range(self.context - 1):
                parts.insert(0, shift_one_window(parts[0]))
            s = torch.cat(parts, dim=2)
        h = self.proj(s.reshape(b * w, -1)) + self.mode.weight[int(online)]
        return torch.nn.functional.silu(self.norm(h)).reshape(b, w, -1)


def _groups(ch: int) -> int:
    """ADM's 32 GroupNorm groups, but never fewer than 4 channels per group. A residual block adds the embedding
    (time step and z_bc) as one constant per channel and then normalises: with one channel per group that
    normalisation removes it completely (measured on the demo's 16-channel U-Net: the predicted noise moved by
    1e-7 when z_bc changed, so every reaction was independent of the speaker). The paper's 256+ channels keep 32."""
    return math.gcd(32, max(1, ch // 4))


class ResBlock(nn.Module):
    """ADM residual block (1-D, no scale-shift norm): GN-SiLU-conv, + projected embedding, GN-SiLU-dropout-conv."""

    def __init__(self, ch: int, emb_dim: int, out: int, dropout: float):
        super().__init__()
        self.in_layers = nn.Sequential(nn.GroupNorm(_groups(ch), ch), nn.SiLU(), nn.Conv1d(ch, out, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, out))
        self.out_layers = nn.Sequential(nn.GroupNorm(_groups(out), out), nn.SiLU(), nn.Dropout(dropout),
                                        nn.Conv1d(out, out, 3, padding=1))
        nn.init.zeros_(self.out_layers[-1].weight)  # ADM: a residual block starts as the identity
        nn.init.zeros_(self.out_layers[-1].bias)
        self.skip = nn.Identity() if ch == out else nn.Conv1d(ch, out, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x) + self.emb_layers(emb)[..., None]
        return self.skip(x) + self.out_layers(h)


class AttentionBlock(nn.Module):
    """Self-attention over the length axis (diffusers' Attention with group norm and residual)."""

    def __init__(self, ch: int, heads: int):
        super().__init__()
        from diffusers.models.attention_processor import Attention

        self.attn = Attention(ch, heads=heads, dim_head=ch // heads, norm_num_groups=_groups(ch), bias=True,
                              residual_connection=True, upcast_softmax=True, _from_deprecated_attn_block=True)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        return self.attn(x.transpose(1, 2)).transpose(1, 2)


class UNet1D(nn.Module):
    """(N, ws, L) noisy windows, timesteps (N,), z_bc (N, cond_dim) -> predicted noise (N, ws, L)."""

    def __init__(self, window: int, cfg: DDIMConfig):
        super().__init__()
        from diffusers.models.embeddings import TimestepEmbedding, Timesteps

        mc, p = cfg.model_channels, cfg.unet_dropout
        emb = 4 * mc + cfg.cond_dim
        self.time_proj = Timesteps(mc, flip_sin_to_cos=True, downscale_freq_shift=0)  # ADM's [cos, sin] embedding
        self.time_embed = TimestepEmbedding(mc, 4 * mc)
        self.inp = nn.Conv1d(window, mc, 3, padding=1)
        self.down = nn.ModuleList()
        chans, ch = [mc], mc
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                blocks = [ResBlock(ch, emb, mult * mc, p)]
                ch = mult * mc
                if level in cfg.attention_levels:
                    blocks.append(AttentionBlock(ch, cfg.attention_heads))
                self.down.append(nn.ModuleList(blocks))
                chans.append(ch)
            if level < len(cfg.channel_mult) - 1:
                self.down.append(nn.ModuleList([nn.Conv1d(ch, ch, 3, stride=2, padding=1)]))
                chans.append(ch)
        self.mid = nn.ModuleList([ResBlock(ch, emb, ch, p), AttentionBlock(ch, cfg.attention_heads),
                                  ResBlock(ch, emb, ch, p)])
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.channel_mult))):
            for i in range(cfg.num_res_blocks + 1):
                blocks = [ResBlock(ch + chans.pop(), emb, mult * mc, p)]
                ch = mult * mc
                if level in cfg.attention_levels:
                    blocks.append(AttentionBlock(ch, cfg.attention_heads))
                if level and i == cfg.num_res_blocks:
                    blocks.append(nn.Upsample(scale_factor=2, mode="nearest"))
                    blocks.append(nn.Conv1d(ch, ch, 3, padding=1))
                self.up.append(nn.ModuleList(blocks))
        self.out = nn.Sequential(nn.GroupNorm(_groups(ch), ch), nn.SiLU(), nn.Conv1d(ch, window, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    @staticmethod
    def _run(blocks: nn.ModuleList, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for blk in blocks:
            h = blk(h, emb) if isinstance(blk, (ResBlock, AttentionBlock)) else blk(h)
        return h

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        emb = torch.cat([self.time_embed(self.time_proj(t).to(x.dtype)), cond], dim=1)
        h = self.inp(x)
        skips = [h]
        for blocks in self.down:
            h = self._run(blocks, h, emb)
            skips.append(h)
        h = self._run(self.mid, h, emb)
        for blocks in self.up:
            h = self._run(blocks, torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h)


class LatentDiffusion(nn.Module):
    def __init__(self, mmt_cfg: MMTConfig, cfg: DDIMConfig):
        super().__init__()
        self.cfg = cfg
        self.window = mmt_cfg.window
        self.norm = LatentNorm(mmt_cfg.latent_dim)
        self.constraint = BehaviourConstraint(mmt_cfg.window, mmt_cfg.latent_dim, cfg)
        self.unet = UNet1D(mmt_cfg.window, cfg)

    def scheduler(self):
        from diffusers import DDIMScheduler

        return DDIMScheduler(num_train_timesteps=self.cfg.train_timesteps, beta_schedule=self.cfg.beta_schedule,
                             prediction_type="epsilon", clip_sample=True, clip_sample_range=1.0,
                             set_alpha_to_one=True)

    def condition(self, speaker_z: torch.Tensor, online: bool) -> torch.Tensor:
        """Per-frame speaker latents (B, W*ws, L) -> z_bc (B, W, cond_dim)."""
        return self.constraint(windows(self.norm(speaker_z), self.window), online)

    def loss(self, listener_z: torch.Tensor, speaker_z: torch.Tensor, online: bool, sched,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Weighted L1 between true and predicted noise at a random timestep, over every window of the batch."""
        x0 = windows(self.norm(listener_z), self.window).flatten(0, 1)  # (B*W, ws, L)
        cond = self.condition(speaker_z, online).flatten(0, 1)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device)
        t = torch.randint(0, sched.config.num_train_timesteps, (x0.shape[0],), generator=generator, device=x0.device)
        xt = sched.add_noise(x0, noise, t)
        return self.cfg.loss_weight * torch.mean(torch.abs(self.unet(xt, t, cond) - noise))

    @torch.no_grad()
    def sample(self, cond: torch.Tensor, noise: torch.Tensor, steps: int, eta: float,
               generator: torch.Generator | list[torch.Generator] | None = None) -> torch.Tensor:
        """DDIM from ``noise`` (N, ws, L) under z_bc ``cond`` (N, cond_dim) -> denormalised windows (N, ws, L).
        With eta > 0 each step draws fresh noise: from one generator, or window i's from ``generator[i]``."""
        sched = self.scheduler()
        sched.set_timesteps(steps)
        x = noise
        for t in sched.timesteps:
            eps = self.unet(x, t.expand(x.shape[0]).to(x.device), cond)
            x = sched.step(eps.float(), t, x, eta=eta, generator=generator).prev_sample  # (float: bf16 autocast)
        return self.norm.inverse(x)
