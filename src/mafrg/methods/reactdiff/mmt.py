"""Stage 1: the Multi-Modality Transformer (MMT), an autoencoder of one person's facial behaviour.

Encoder, frame by frame; its attention runs over sequences of frames: the whole clip offline with
``encoder_span: clip`` (the paper), windows of ``window`` frames otherwise and always online (attention never
crosses a window boundary there):
  * intra-modal, facial: the AU stream (49 x 512 per frame, flattened) attends to itself, then ``intra_depth``
    blocks each attend to the FE stream and then to the VA stream, at width ``hidden_dim`` (paper: f^v, 1024);
  * intra-modal, acoustic: wav2vec2 queries attend to MFCC keys/values (f^a, 1024);
  * inter-modal: ``inter_layers`` layers of video queries attending to audio;
  * an MLP maps each fused frame to its latent: x0 in R^{N x latent_dim} (paper: 128), one latent per frame.
Decoder: Transformer encoder layers over the clip's per-frame latents and two heads, 58 3DMM coefficients and
25 emotion channels. Offline it attends over the whole clip; online with a frame-causal mask (frame i sees
latents of frames <= i), so each output frame depends on latents of its own and earlier frames only.

The attention layer is the authors': optional input projections, one multi-head attention, a residual to the
projected queries and a LayerNorm (their feed-forward sub-layer is built but never called, so it is absent).
Departures, each a config field (docs/methods/reactdiff.md): online mode encodes window by window, which keeps
window w's latents a function of window w's frames, the property its causality rests on; inputs are
standardised with training-set statistics (extractor features come at arbitrary scales); emotion outputs are bounded (AUs by a sigmoid, valence/arousal by tanh, expression
probabilities by softmax; the authors' heads are linear); the 3DMM head predicts the offset from the training
set's mean face, which is stored with the model and added back.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from mafrg.methods.reactdiff.config import MMTConfig
from mafrg.methods.reactdiff.data import running_mean

STREAM_DIMS = {"au": 25088, "fe": 1408, "va": 64, "mfcc": 26, "wav2vec2": 1536}


def sinusoid(n: int, dim: int, device=None) -> torch.Tensor:
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    i = torch.arange(0, dim, 2, device=device, dtype=torch.float32)
    ang = pos / torch.pow(10000.0, i / dim)
    pe = torch.zeros(n, dim, device=device)
    pe[:, 0::2] = torch.sin(ang)
    pe[:, 1::2] = torch.cos(ang[:, : dim // 2])
    return pe


class Attention(nn.Module):
    """Queries attend to keys/values; residual to the projected queries; LayerNorm."""

    def __init__(self, d_query: int, d_context: int, width: int, heads: int, dropout: float):
        super().__init__()
        self.q = nn.Linear(d_query, width) if d_query != width else nn.Identity()
        self.k = nn.Linear(d_context, width) if d_context != width else nn.Identity()
        self.v = nn.Linear(d_context, width) if d_context != width else nn.Identity()
        self.attention = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(width)

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.attend(self.q(query), self.k(context), self.v(context))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The layer after its input projections (the encoder projects its wide input streams itself)."""
        return self.norm(self.attention(q, k, v, need_weights=False)[0] + q)


class IntraBlock(nn.Module):
    """One facial intra-modal block: attend to the FE stream, then to the VA stream."""

    def __init__(self, width: int, d_fe: int, d_va: int, heads: int, dropout: float):
        super().__init__()
        self.fe = Attention(width, d_fe, width, heads, dropout)
        self.va = Attention(width, d_va, width, heads, dropout)

    def forward(self, q: torch.Tensor, fe: tuple[torch.Tensor, torch.Tensor], va: tuple[torch.Tensor, torch.Tensor]
                ) -> torch.Tensor:
        """``fe``, ``va``: each stream's keys and values, already projected (MMTEncoder.project)."""
        h = self.fe.attend(self.fe.q(q), *fe)
        return self.va.attend(self.va.q(h), *va)


def pad_to_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, T, d) -> (B, W*window, d), the last frame repeated to fill the final window."""
    pad = -x.shape[1] % window
    return torch.cat([x, x[:, -1:].expand(-1, pad, -1)], dim=1) if pad else x


class MMTEncoder(nn.Module):
    def __init__(self, cfg: MMTConfig, dims: dict[str, int] | None = None):
        super().__init__()
        self.cfg = cfg
        dims = dict(dims or STREAM_DIMS)
        h, heads, p = cfg.hidden_dim, cfg.heads, cfg.dropout
        self.au = Attention(dims["au"], dims["au"], h, heads, p) if cfg.au_self_attention else nn.Linear(dims["au"], h)
        self.intra = nn.ModuleList([IntraBlock(h, dims["fe"], dims["va"], heads, p) for _ in range(cfg.intra_depth)])
        self.audio = Attention(dims["wav2vec2"], dims["mfcc"], h, heads, p)
        self.inter = nn.ModuleList([Attention(h, h, h, heads, p) for _ in range(cfg.inter_layers)])
        self.to_latent = nn.Sequential(nn.Linear(h, cfg.map_hidden), nn.LayerNorm(cfg.map_hidden), nn.ReLU(),
                                       nn.Linear(cfg.map_hidden, cfg.latent_dim))
        # Per-dimension standardisation with training-set statistics (set_input_stats; saved with the weights).
        for s, n in dims.items():
            self.register_buffer(f"mu_{s}", torch.zeros(n))
            self.register_buffer(f"sd_{s}", torch.ones(n))

    def set_input_stats(self, stats: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        for s, (mu, sd) in stats.items():
            getattr(self, f"mu_{s}").copy_(mu)
            getattr(self, f"sd_{s}").copy_(sd.clamp_min(1e-6))

    def sequences(self, x: torch.Tensor, span: str) -> torch.Tensor:
        """(B, W*window, d) -> the sequences attention runs over: (B*W, window, d) for span "window", unchanged
        (B, W*window, d) for span "clip"."""
        return x.reshape(-1, self.cfg.window, x.shape[-1]) if span == "window" else x

    def normalised(self, s: str, v: torch.Tensor, span: str = "window") -> torch.Tensor:
        """Stream s (B, T, dim) centred on each clip's running mean (input_norm "clip"), standardised with the
        training statistics, padded to whole windows and cut into the attention's sequences (:meth:`sequences`)."""
        v = v.float()
        if self.cfg.input_norm == "clip":
            v = v - running_mean(v, axis=1)
        v = pad_to_windows((v - getattr(self, f"mu_{s}")) / getattr(self, f"sd_{s}"), self.cfg.window)
        return self.sequences(v, span)

    def project(self, s: str, layer: nn.Module, v: torch.Tensor, span: str = "window") -> torch.Tensor:
        """``layer(normalised(s, v, span))`` for a per-frame layer (Linear or Identity) -> (B*W, window, width)
        (span "window") or (B, W*window, width) (span "clip").

        A Linear layer is computed in its projected space: it commutes with the running mean over frames and with
        the last-frame padding, and the standardisation folds into its weights, so a wide stream (AU 25,088, FE
        1,408, wav2vec2 1,536 per frame) is read once by the matmul instead of being centred, standardised and
        padded at full width first. The same function up to float rounding (tested); it is what makes the demo's
        MMT epoch and generation fast (docs/methods/reactdiff.md)."""
        if not isinstance(layer, nn.Linear):
            return layer(self.normalised(s, v, span))
        w = layer.weight / getattr(self, f"sd_{s}")  # standardisation folded into the weights
        z = F.linear(v.float(), w)  # (B, T, width)
        if self.cfg.input_norm == "clip":
            z = z - running_mean(z, axis=1)
        z = pad_to_windows(z + (layer.bias - w @ getattr(self, f"mu_{s}")), self.cfg.window)
        return self.sequences(z, span)

    def forward(self, feats: dict[str, torch.Tensor], span: str | None = None) -> torch.Tensor:
        """feats[s]: (B, T, dim_s) -> per-frame latents (B, W*window, latent_dim), W = ceil(T / window).
        ``span``: what attention spans, "window" or "clip" (None: ``cfg.encoder_span``)."""
        span = span or self.cfg.encoder_span
        ws = self.cfg.window

        def p(s: str, layer: nn.Module, v: torch.Tensor) -> torch.Tensor:
            return self.project(s, layer, v, span)

        b = feats["fe"].shape[0]
        t = n_windows(feats["fe"].shape[1], ws) * ws
        au = feats["au"]
        if self.cfg.au_self_attention:
            face = self.au.attend(p("au", self.au.q, au), p("au", self.au.k, au), p("au", self.au.v, au))
        else:
            face = p("au", self.au, au)
        mfcc = feats["mfcc"]
        audio = self.audio.attend(p("wav2vec2", self.audio.q, feats["wav2vec2"]), p("mfcc", self.audio.k, mfcc),
                                  p("mfcc", self.audio.v, mfcc))
        if self.cfg.positional_encoding:
            pe = sinusoid(face.shape[1], self.cfg.hidden_dim, face.device)  # positions within each sequence
            face, audio = face + pe, audio + pe
        for block in self.intra:
            fe = (p("fe", block.fe.k, feats["fe"]), p("fe", block.fe.v, feats["fe"]))
            va = (p("va", block.va.k, feats["va"]), p("va", block.va.v, feats["va"]))
            face = block(face, fe, va)
        for layer in self.inter:
            face = layer(face, audio)
        return self.to_latent(face).reshape(b, t, -1)


class MMTDecoder(nn.Module):
    def __init__(self, cfg: MMTConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.latent_dim
        layer = nn.TransformerEncoderLayer(d, cfg.decoder_heads, cfg.decoder_ff, cfg.dropout, batch_first=True)
        self.body = nn.TransformerEncoder(layer, cfg.decoder_layers, enable_nested_tensor=False)

        def head(n: int) -> nn.Module:
            if not cfg.decoder_head_hidden:
                return nn.Linear(d, n)
            k = cfg.decoder_head_hidden
            return nn.Sequential(nn.Linear(d, k), nn.LayerNorm(k), nn.ReLU(), nn.Linear(k, n))

        self.head_3dmm = head(58)
        self.head_emotion = head(25)
        self.register_buffer("tdmm_mean", torch.zeros(58))  # training set's mean face, added to the 3DMM head

    @staticmethod
    def causal_mask(t: int, device=None) -> torch.Tensor:
        """Boolean (T, T), True = blocked: frame i sees frame j iff j <= i."""
        return torch.ones(t, t, dtype=torch.bool, device=device).triu(1)

    def forward(self, z: torch.Tensor, causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame latents z (B, T, L) -> (3DMM (B, T, 58), emotion (B, T, 25))."""
        t = z.shape[1]
        if self.cfg.positional_encoding:
            z = z + sinusoid(t, z.shape[-1], z.device)
        h = self.body(z, mask=self.causal_mask(t, z.device) if causal else None)
        emo = self.head_emotion(h)
        emotion = torch.cat([torch.sigmoid(emo[..., :15]), torch.tanh(emo[..., 15:17]), torch.softmax(emo[..., 17:], -1)], -1)
        return self.head_3dmm(h) + self.tdmm_mean, emotion


class MMT(nn.Module):
    def __init__(self, cfg: MMTConfig, dims: dict[str, int] | None = None):
        super().__init__()
        self.cfg = cfg
        self.encoder = MMTEncoder(cfg, dims)
        self.decoder = MMTDecoder(cfg)

    def forward(self, feats: dict[str, torch.Tensor], causal: bool = False):
        """Online mode (``causal``): the encoder window by window, the decoder frame-causal; offline: the encoder
        over ``cfg.encoder_span``, the decoder over the whole clip."""
        z = self.encoder(feats, "window" if causal else None)
        return self.decoder(z, causal), z


def mmt_loss(pred_3dmm: torch.Tensor, pred_emotion: torch.Tensor, tdmm: torch.Tensor, emotion: torch.Tensor,
             emotion_loss: str = "l1") -> torch.Tensor:
    """10 * MSE(3DMM) + 10 * L1(emotion) as in the paper (``emotion_loss="mse"``: squared error instead)."""
    err = pred_emotion - emotion
    emo = torch.mean(err * err) if emotion_loss == "mse" else torch.mean(torch.abs(err))
    return 10.0 * torch.mean((pred_3dmm - tdmm) ** 2) + 10.0 * emo


def n_windows(frames: int, window: int) -> int:
    return math.ceil(frames / window)
