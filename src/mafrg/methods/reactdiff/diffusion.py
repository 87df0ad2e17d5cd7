"""Stage 2: a conditional DDIM over the MMT's window latents (the MMT is frozen).

* Latents are normalised with training-set per-dimension min/max: ``2 (x - min) / (max - min) - 1`` and exactly
  ``(y + 1) (max - min) / 2 + min`` back. (The authors' code writes ``2*(x-min)/max-min-1``, which by operator
  precedence computes something else; this is the intended formula.)
* The speaker's window latents pass through an MLP to the behaviour-constraint vector z_bc (``cond_dim``): for
  window w it sees the speaker latent of window w and the mean of the speaker latents of all windows (offline) or
  of windows 0..w (online), plus a window-position and a mode embedding.
* The noise predictor is a 1-D U-Net over each window's latent vector, built from diffusers' residual temporal
  blocks, with time embedding + z_bc added in every residual block. diffusers' UNet1DModel has no input for a
  conditioning vector, so the network is assembled from its blocks here.
* Cosine schedule (``squaredcos_cap_v2``), epsilon prediction, L1 noise loss, DDIM sampling (diffusers).
"""

from __future__ import annotations

import torch
from torch import nn

from mafrg.methods.reactdiff.config import DDIMConfig, MMTConfig
from mafrg.methods.reactdiff.mmt import sinusoid


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


class BehaviourConstraint(nn.Module):
    """Speaker window latents (B, W, L) -> z_bc (B, W, cond_dim), offline or online context."""

    def __init__(self, latent_dim: int, cond_dim: int):
        super().__init__()
        self.cond_dim = cond_dim
        self.mode = nn.Embedding(2, cond_dim)
        self.mlp = nn.Sequential(nn.Linear(2 * latent_dim, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim),
                                 nn.SiLU(), nn.Linear(cond_dim, cond_dim))

    def forward(self, s: torch.Tensor, online: bool) -> torch.Tensor:
        b, w, _ = s.shape
        if online:  # mean of windows 0..w: never reads a later window
            ctx = torch.cumsum(s, dim=1) / torch.arange(1, w + 1, device=s.device, dtype=s.dtype)[None, :, None]
        else:
            ctx = s.mean(dim=1, keepdim=True).expand(-1, w, -1)
        pos = sinusoid(w, self.cond_dim, s.device)[None]
        mode = self.mode(torch.full((b, w), int(online), device=s.device, dtype=torch.long))
        return self.mlp(torch.cat([s, ctx], dim=-1)) + pos + mode


class ConditionalUNet1D(nn.Module):
    """1-D U-Net over a latent vector (channels 1, length L); every residual block gets time emb + z_bc."""

    def __init__(self, cfg: DDIMConfig):
        super().__init__()
        from diffusers.models.embeddings import TimestepEmbedding, Timesteps
        from diffusers.models.resnet import Downsample1D, ResidualTemporalBlock1D, Upsample1D

        ch = cfg.unet_channels
        e = cfg.time_dim
        self.time_proj = Timesteps(e, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_mlp = TimestepEmbedding(e, e)
        self.cond_mlp = nn.Sequential(nn.Linear(cfg.cond_dim, e), nn.SiLU(), nn.Linear(e, e))
        self.inp = nn.Conv1d(1, ch[0], 3, padding=1)
        self.down = nn.ModuleList()
        for i, c in enumerate(ch):
            prev = ch[max(0, i - 1)] if i else ch[0]
            self.down.append(nn.ModuleList([
                ResidualTemporalBlock1D(prev, c, e, kernel_size=3),
                ResidualTemporalBlock1D(c, c, e, kernel_size=3),
                Downsample1D(c, use_conv=True) if i < len(ch) - 1 else nn.Identity(),
            ]))
        self.mid = ResidualTemporalBlock1D(ch[-1], ch[-1], e, kernel_size=3)
        self.up = nn.ModuleList()
        for i in reversed(range(len(ch))):
            c = ch[i]
            out = ch[max(0, i - 1)]
            self.up.append(nn.ModuleList([
                ResidualTemporalBlock1D(2 * c, c, e, kernel_size=3),
                ResidualTemporalBlock1D(c, out, e, kernel_size=3),
                Upsample1D(out, use_conv_transpose=True) if i > 0 else nn.Identity(),
            ]))
        self.out = nn.Conv1d(ch[0], 1, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (N, L) noisy normalised latents, t (N,) timesteps, cond (N, cond_dim) -> predicted noise (N, L)."""
        emb = self.time_mlp(self.time_proj(t).to(x.dtype)) + self.cond_mlp(cond)
        h = self.inp(x[:, None])
        skips = []
        for res1, res2, down in self.down:
            h = res2(res1(h, emb), emb)
            skips.append(h)
            h = down(h)
        h = self.mid(h, emb)
        for (res1, res2, up), skip in zip(self.up, reversed(skips)):
            h = res2(res1(torch.cat([h, skip], dim=1), emb), emb)
            h = up(h)
        return self.out(h)[:, 0]


class LatentDiffusion(nn.Module):
    def __init__(self, mmt_cfg: MMTConfig, cfg: DDIMConfig):
        super().__init__()
        self.cfg = cfg
        self.norm = LatentNorm(mmt_cfg.latent_dim)
        self.constraint = BehaviourConstraint(mmt_cfg.latent_dim, cfg.cond_dim)
        self.unet = ConditionalUNet1D(cfg)

    def scheduler(self):
        from diffusers import DDIMScheduler

        return DDIMScheduler(num_train_timesteps=self.cfg.train_timesteps, beta_schedule=self.cfg.beta_schedule,
                             prediction_type="epsilon", clip_sample=True, clip_sample_range=1.0,
                             set_alpha_to_one=True)

    def loss(self, listener_z: torch.Tensor, speaker_z: torch.Tensor, online: bool, sched, generator=None) -> torch.Tensor:
        """L1 between true and predicted noise at a random timestep, per window."""
        x0 = self.norm(listener_z).reshape(-1, listener_z.shape[-1])
        cond = self.constraint(self.norm(speaker_z), online).reshape(x0.shape[0], -1)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device)
        t = torch.randint(0, sched.config.num_train_timesteps, (x0.shape[0],), generator=generator, device=x0.device)
        xt = sched.add_noise(x0, noise, t)
        return torch.mean(torch.abs(self.unet(xt, t, cond) - noise))

    @torch.no_grad()
    def sample(self, cond: torch.Tensor, noise: torch.Tensor, steps: int, eta: float,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """DDIM from ``noise`` (N, L) under z_bc ``cond`` (N, cond_dim) -> denormalised latents (N, L)."""
        sched = self.scheduler()
        sched.set_timesteps(steps)
        x = noise
        for t in sched.timesteps:
            eps = self.unet(x, t.expand(x.shape[0]).to(x.device), cond)
            x = sched.step(eps, t, x, eta=eta, generator=generator).prev_sample
        return self.norm.inverse(x)
