"""ReactDiff-K's denoiser, top to bottom: noise-level and frame-index embeddings, speaker tokens, the residual
blocks with adaptive GroupNorm and cross-attention, the LSTM-framed U-Net, and the EDM-preconditioned wrapper.

One window of W listener frames x in R^{W x 83} (standardised) is denoised at a time, conditioned on

* the noise level sigma (Fourier features of c_noise = log(sigma) / 4 -> MLP; the authors' code fed
  ``c_noise // 50``, one bit, and spent the Fourier features on the frame index),
* the previous window's last frame (the initial state of the input and output LSTMs, as the authors'),
* the frame index *within the window* (0..W-1, a per-frame FiLM; the authors' absolute index reached 750 at test
  after 0..255 in training),
* the speaker: tokens of its 3DMM, audio (wav2vec2, 2 x 768 per frame) and optionally emotion, each attended to
  by its own cross-attention after every residual block. Each token carries its offset from the window start.
  A learned *null* token is always visible: with every speaker token masked the network is the unconditional
  model that classifier-free guidance needs (``cond=False``),
* the mode: offline (every speaker token of the window's span) or online (query frame t sees tokens <= t).

With ``net.input_gain`` (not in the authors' network; on in ``demo``) F also gains g(sigma) * (c_in x), a
per-channel gain of the noise level applied frame by frame: it lets a barely trained network choose how much of
the noisy frame the denoised estimate keeps, the one lever through which the priors reach the samples' jitter.

Frame-causality. Every operation is per frame or runs forward in time: Linear layers, the (unidirectional)
LSTMs, GroupNorm over the channels of each frame (the authors normalise over the window's frames too, which
lets a frame see later frames: per-frame normalisation is the one change their architecture needs for an
online model), FiLM, and cross-attention whose online mask hides tokens after the query frame. So listener frame
t depends on speaker frames <= t only, in the online mode.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from mafrg.methods.reactdiffk.config import EDMConfig, NetConfig, ReactDiffKConfig
from mafrg.methods.reactdiffk.priors import TARGET_DIM

MODALITIES = {"tdmm": 58, "audio": 1536, "emotion": 25}  # speaker token streams and their widths (audio: width())
OFFLINE, ONLINE = 0, 1


def modalities(cfg: ReactDiffKConfig) -> tuple[str, ...]:
    return ("tdmm", "audio", "emotion") if cfg.speaker_emotion else ("tdmm", "audio")


def width(cfg: ReactDiffKConfig, stream: str) -> int:
    """Per-frame width of a speaker stream (the audio's depends on the frame rate: ``cfg.audio_width``)."""
    return cfg.audio_width if stream == "audio" else MODALITIES[stream]


class FourierFeatures(nn.Module):
    """Random Fourier features of a scalar (fixed, a buffer): cos and sin of 2 pi w x."""

    def __init__(self, out: int, std: float = 1.0):
        super().__init__()
        self.register_buffer("weight", torch.randn(out // 2, 1) * std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = 2 * math.pi * x[..., None] @ self.weight.T
        return torch.cat([f.cos(), f.sin()], dim=-1)


def sinusoidal(pos: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer position features of integer positions (any shape) -> (..., dim)."""
    half = dim // 2
    freq = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32, device=pos.device) / half)
    a = pos.float()[..., None] * freq
    return torch.cat([a.sin(), a.cos()], dim=-1)


def mlp(d_in: int, d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d), nn.GELU(), nn.Linear(d, d), nn.GELU())


def frame_norm(x: torch.Tensor, groups: int, kind: str = "causal", eps: float = 1e-5) -> torch.Tensor:
    """GroupNorm of a window (B, T, C) that never lets a frame see a later one.

    ``frame``: statistics over each frame's group channels alone. ``causal``: over the group channels of frames
    0..t of the window (running statistics) -- the authors' GroupNorm over the whole window, made causal: it keeps
    the temporal pooling of their normalisation (a frame is normalised with the window's level and spread so far)."""
    b, t, c = x.shape
    if kind == "frame":
        return F.group_norm(x.reshape(b * t, c), groups, eps=eps).reshape(b, t, c)
    g = x.reshape(b, t, groups, c // groups)
    n = torch.arange(1, t + 1, device=x.device, dtype=x.dtype).view(1, t, 1)
    mean = g.mean(-1).cumsum(1) / n  # (B, T, G)
    sq = (g * g).mean(-1).cumsum(1) / n
    var = (sq - mean * mean).clamp_min(0)
    return ((g - mean[..., None]) / torch.sqrt(var[..., None] + eps)).reshape(b, t, c)


class AdaGN(nn.Module):
    """Per-frame GroupNorm with a scale and shift from a conditioning vector: (B, F) for the noise level, or
    (B, T, F) per frame for the frame index (the authors' TemporalAdaGN)."""

    def __init__(self, feats: int, channels: int, groups: int, kind: str = "causal"):
        super().__init__()
        self.groups, self.kind = groups, kind
        self.mapper = nn.Linear(feats, 2 * channels)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.mapper(cond).chunk(2, dim=-1)
        if cond.ndim == 2:
            scale, shift = scale[:, None], shift[:, None]
        return frame_norm(x, self.groups, self.kind) * (1 + scale) + shift


def groups(c: int, group_size: int) -> int:
    return max(1, c // group_size)


class ResBlock(nn.Module):
    """AdaGN -> GELU -> Linear -> Dropout -> AdaGN -> GELU -> frame FiLM -> Linear -> Dropout, plus a skip
    (orthogonal Linear where the width changes, followed by an LSTM there, as the authors')."""

    def __init__(self, n: NetConfig, c_in: int, c_mid: int, c_out: int):
        super().__init__()
        f = n.mapping_dim
        self.norm1 = AdaGN(f, c_in, groups(c_in, n.group_size), n.norm)
        self.lin1 = nn.Linear(c_in, c_mid)
        self.norm2 = AdaGN(f, c_mid, groups(c_mid, n.group_size), n.norm)
        self.film = AdaGN(f, c_mid, groups(c_mid, n.group_size), n.norm)
        self.lin2 = nn.Linear(c_mid, c_out)
        self.drop = nn.Dropout(n.dropout)
        self.skip = None if c_in == c_out else nn.Linear(c_in, c_out, bias=False)
        if self.skip is not None:
            nn.init.orthogonal_(self.skip.weight)  # orthogonal initialisation (authors), then trained freely
        self.rnn = None if c_in == c_out else nn.LSTM(c_out, c_out, batch_first=True)

    def forward(self, x: torch.Tensor, emb: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.lin1(F.gelu(self.norm1(x, emb))))
        h = self.drop(self.lin2(self.film(F.gelu(self.norm2(h, emb)), frames)))
        out = h + (x if self.skip is None else self.skip(x))
        return out if self.rnn is None else self.rnn(out)[0]


class CrossAttention(nn.Module):
    """Queries: the AdaGN-normed listener frames; keys/values: one speaker stream's tokens plus a learned null
    token (always visible). Zero-initialised output: a new block starts as the identity."""

    def __init__(self, n: NetConfig, c: int):
        super().__init__()
        self.heads = max(1, c // n.head_size)
        self.norm = AdaGN(n.mapping_dim, c, groups(c, n.group_size), n.norm)
        self.q = nn.Linear(c, c)
        self.kv = nn.Linear(n.key_dim, 2 * c)
        self.null = nn.Parameter(torch.randn(1, 1, n.key_dim) * 0.02)
        self.out = nn.Linear(c, c)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.drop = nn.Dropout(n.dropout)

    def forward(self, x: torch.Tensor, emb: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, W, C); tokens (B, L, key_dim); mask (B, W, L) bool, True = visible."""
        b, w, c = x.shape
        kv = self.kv(torch.cat([self.null.expand(b, 1, -1), tokens], dim=1))
        k, v = kv.chunk(2, dim=-1)
        split = lambda t: t.reshape(b, t.shape[1], self.heads, c // self.heads).transpose(1, 2)  # noqa: E731
        mask = torch.cat([mask.new_ones(b, w, 1), mask], dim=-1)[:, None]  # null token first, always visible
        att = F.scaled_dot_product_attention(split(self.q(self.norm(x, emb))), split(k), split(v), attn_mask=mask)
        return x + self.drop(self.out(att.transpose(1, 2).reshape(b, w, c)))


class Level(nn.Module):
    """Residual blocks, each followed by one cross-attention per speaker stream."""

    def __init__(self, n: NetConfig, depth: int, c_in: int, c_mid: int, c_out: int, streams: tuple[str, ...]):
        super().__init__()
        self.blocks = nn.ModuleList()
        self.attn = nn.ModuleList()
        for i in range(depth):
            self.blocks.append(ResBlock(n, c_in if i == 0 else c_mid, c_mid, c_mid if i < depth - 1 else c_out))
            self.attn.append(nn.ModuleDict({s: CrossAttention(n, c_mid if i < depth - 1 else c_out) for s in streams}))

    def forward(self, x, emb, frames, tokens, mask):
        for block, attn in zip(self.blocks, self.attn):
            x = block(x, emb, frames)
            for s, a in attn.items():
                x = a(x, emb, tokens[s], mask)
        return x


class Denoiser(nn.Module):
    """F(c_in * x, c_noise; condition): the network inside the EDM preconditioning."""

    def __init__(self, cfg: ReactDiffKConfig):
        super().__init__()
        n = cfg.net
        self.cfg = cfg
        self.streams = modalities(cfg)
        w0, f = n.widths[0], n.mapping_dim
        self.noise_embed = FourierFeatures(f)
        self.mode_embed = nn.Embedding(2, f)
        self.mapping = mlp(f, f)
        self.frame_mapping = mlp(f, f)
        self.token_proj = nn.ModuleDict({s: nn.Linear(width(cfg, s), n.key_dim) for s in self.streams})
        self.offset_proj = nn.Linear(n.key_dim, n.key_dim)
        self.proj_in = nn.Linear(TARGET_DIM, w0)
        self.prev_proj = nn.Linear(TARGET_DIM + 1, w0)  # previous frame and whether there is one
        self.lstm_in = nn.LSTM(w0, w0, batch_first=True)
        depths, widths = n.depths, n.widths
        self.down = nn.ModuleList(Level(n, depths[i], widths[max(0, i - 1)], widths[i], widths[i], self.streams)
                                  for i in range(len(depths)))
        # up level i takes [h, skip of down level i] (the deepest takes h only) and ends at the width above it
        self.up = nn.ModuleList(Level(n, depths[i], widths[i] * (2 if i < len(depths) - 1 else 1), widths[i],
                                      widths[max(0, i - 1)], self.streams) for i in range(len(depths)))
        self.lstm_out = nn.LSTM(w0, w0, batch_first=True)
        self.proj_out = nn.Linear(w0, TARGET_DIM)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)
        self.input_gain = nn.Linear(f, TARGET_DIM) if n.input_gain else None
        if self.input_gain is not None:
            nn.init.zeros_(self.input_gain.weight)
            nn.init.zeros_(self.input_gain.bias)

    def speaker_tokens(self, spk: dict[str, torch.Tensor], offsets: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-stream tokens (B, L, key_dim) of the speaker frames (B, L, dim), each with its offset from the
        window start. Independent of the noise level: computed once per window and reused by every step."""
        pos = self.offset_proj(sinusoidal(offsets, self.cfg.net.key_dim))
        return {s: self.token_proj[s](spk[s]) + pos for s in self.streams}

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, prev: torch.Tensor, has_prev: torch.Tensor,
                tokens: dict[str, torch.Tensor], mask: torch.Tensor, mode: torch.Tensor) -> torch.Tensor:
        """x (B, W, 83) already scaled by c_in; c_noise (B,); prev (B, 83); has_prev (B,) bool; tokens from
        :meth:`speaker_tokens`; mask (B, W, L) bool; mode (B,) OFFLINE/ONLINE -> F (B, W, 83)."""
        b, w, _ = x.shape
        emb = self.mapping(self.noise_embed(c_noise) + self.mode_embed(mode))
        frames = self.frame_mapping(sinusoidal(torch.arange(w, device=x.device), self.cfg.net.mapping_dim))
        frames = frames.expand(b, w, -1)
        h0 = self.prev_proj(torch.cat([prev * has_prev[:, None], has_prev[:, None].to(prev.dtype)], dim=-1))[None]
        state = (h0.contiguous(), torch.zeros_like(h0))
        h = self.lstm_in(self.proj_in(x), state)[0]
        skips = []
        for level in self.down:
            h = level(h, emb, frames, tokens, mask)
            skips.append(h)
        for i in reversed(range(len(self.up))):
            if i < len(self.up) - 1:
                h = torch.cat([h, skips[i]], dim=-1)
            h = self.up[i](h, emb, frames, tokens, mask)
        out = self.proj_out(self.lstm_out(h, state)[0])
        return out if self.input_gain is None else out + self.input_gain(emb)[:, None] * x


def token_mask(valid: torch.Tensor, offsets: torch.Tensor, window: int, mode: torch.Tensor,
               cond: torch.Tensor) -> torch.Tensor:
    """(B, W, L) visibility of the speaker tokens: valid tokens (inside the clip); online, only those at or
    before the query frame; none where ``cond`` is False (the unconditional model: the null token alone)."""
    q = torch.arange(window, device=valid.device)[None, :, None]
    causal = offsets[:, None, :] <= q  # (B, W, L)
    allowed = valid[:, None, :] & (causal | (mode == OFFLINE)[:, None, None])
    return allowed & cond[:, None, None]


# ------------------------------------------------------------------------------------------------ EDM wrapper
def scalings(sigma: torch.Tensor, sigma_data: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Karras et al. (2022) preconditioning: c_skip, c_out, c_in."""
    s2, d2 = sigma**2, sigma_data**2
    return d2 / (s2 + d2), sigma * sigma_data / (s2 + d2).sqrt(), 1 / (s2 + d2).sqrt()


class ReactDiffK(nn.Module):
    """The denoiser with its EDM preconditioning and the training statistics that standardise targets and
    speaker streams (buffers: they travel with the checkpoint)."""

    def __init__(self, cfg: ReactDiffKConfig):
        super().__init__()
        self.cfg = cfg
        self.net = Denoiser(cfg)
        self.register_buffer("target_mean", torch.zeros(TARGET_DIM))
        self.register_buffer("target_std", torch.ones(TARGET_DIM))
        for s in modalities(cfg):
            self.register_buffer(f"{s}_mean", torch.zeros(width(cfg, s)))
            self.register_buffer(f"{s}_std", torch.ones(width(cfg, s)))

    @property
    def edm(self) -> EDMConfig:
        return self.cfg.edm

    def set_stats(self, name: str, mean: torch.Tensor, std: torch.Tensor) -> None:
        getattr(self, f"{name}_mean").copy_(mean)
        getattr(self, f"{name}_std").copy_(std.clamp_min(1e-4))

    def standardise(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return (x - getattr(self, f"{name}_mean")) / getattr(self, f"{name}_std")

    def destandardise_target(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.target_std + self.target_mean

    def raw(self, x_noised: torch.Tensor, sigma: torch.Tensor, cond: "WindowCondition") -> torch.Tensor:
        """The network output F at noise level sigma (B,)."""
        _, _, c_in = scalings(sigma, self.edm.sigma_data)
        return self.net(x_noised * c_in[:, None, None], sigma.log() / 4, cond.prev, cond.has_prev, cond.tokens,
                        cond.mask, cond.mode)

    def denoise(self, x_noised: torch.Tensor, sigma: torch.Tensor, cond: "WindowCondition") -> torch.Tensor:
        """D(x; sigma) = c_skip x + c_out F."""
        c_skip, c_out, _ = scalings(sigma, self.edm.sigma_data)
        return c_skip[:, None, None] * x_noised + c_out[:, None, None] * self.raw(x_noised, sigma, cond)


class WindowCondition:
    """Everything a window is conditioned on, in the network's terms."""

    def __init__(self, prev, has_prev, tokens, mask, mode):
        self.prev, self.has_prev, self.tokens, self.mask, self.mode = prev, has_prev, tokens, mask, mode

    def select(self, idx: torch.Tensor) -> "WindowCondition":
        return WindowCondition(self.prev[idx], self.has_prev[idx], {s: t[idx] for s, t in self.tokens.items()},
                               self.mask[idx], self.mode[idx])

    def unconditional(self) -> "WindowCondition":
        """The same windows with every speaker token hidden (the null token alone)."""
        return WindowCondition(self.prev, self.has_prev, self.tokens, torch.zeros_like(self.mask), self.mode)

    @staticmethod
    def cat(a: "WindowCondition", b: "WindowCondition") -> "WindowCondition":
        return WindowCondition(torch.cat([a.prev, b.prev]), torch.cat([a.has_prev, b.has_prev]),
                               {s: torch.cat([a.tokens[s], b.tokens[s]]) for s in a.tokens},
                               torch.cat([a.mask, b.mask]), torch.cat([a.mode, b.mode]))
