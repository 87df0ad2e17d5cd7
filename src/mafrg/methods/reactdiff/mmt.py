"""Stage 1: the Multi-Modality Transformer, an autoencoder of one person's facial behaviour.

Encoder, per window of ``window`` frames (so window w's latent depends on frames of window w only):
  * intra-modal, facial: AU tokens (49 x 512 per frame, attention-pooled to one vector per frame) are the queries;
    they attend to the FE sequence, then to the VA sequence; the result is projected to ``d_fused``;
  * intra-modal, acoustic: wav2vec2 queries attend to the MFCC sequence, projected to ``d_fused``;
  * inter-modal: video queries attend to audio keys/values;
  * an MLP maps the window (per-frame projection, flattened in time order) to one latent vector.
Decoder: window latents are expanded to per-frame tokens, Transformer layers run over the whole clip, and two
linear heads give 58 3DMM coefficients and 25 emotion channels (AUs as probabilities, valence/arousal in
[-1, 1], expression probabilities by softmax).

Positional information (absent from the authors' code): sinusoidal encodings of the frame index inside the
window (encoder) and of the absolute frame index (decoder). Without them attention is permutation-invariant:
the 50 frames decoded from one window latent would all be identical and the encoder could not tell early from
late frames. Online mode decodes with a window-causal mask (a frame sees frames of its own and earlier windows);
training uses that mask for a share of batches so one decoder serves both modes.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mafrg.methods.reactdiff.config import MMTConfig

STREAM_DIMS = {"au": 25088, "fe": 1408, "va": 64, "mfcc": 26, "wav2vec2": 1536}


def sinusoid(n: int, dim: int, device=None) -> torch.Tensor:
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    i = torch.arange(0, dim, 2, device=device, dtype=torch.float32)
    ang = pos / torch.pow(10000.0, i / dim)
    pe = torch.zeros(n, dim, device=device)
    pe[:, 0::2] = torch.sin(ang)
    pe[:, 1::2] = torch.cos(ang[:, : dim // 2])
    return pe


class CrossBlock(nn.Module):
    """Pre-norm cross-attention (queries attend to a context) followed by a feed-forward layer."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.nq, self.nk = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * d, d))

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        k = self.nk(kv)
        q = q + self.attn(self.nq(q), k, k, need_weights=False)[0]
        return q + self.ff(q)


class MMTEncoder(nn.Module):
    def __init__(self, cfg: MMTConfig, dims: dict[str, int] | None = None):
        super().__init__()
        self.cfg = cfg
        dims = dims or STREAM_DIMS
        d = cfg.d_model
        if dims["au"] % 49:
            raise ValueError(f"AU stream dim {dims['au']} is not 49 tokens x channels")
        if cfg.au_pool not in ("attention", "flatten"):
            raise ValueError(f"reactdiff.mmt.au_pool must be 'attention' or 'flatten', got {cfg.au_pool!r}")
        self.au_tok = nn.Linear(dims["au"] // 49, cfg.au_token_dim)
        if cfg.au_pool == "attention":
            self.au_score = nn.Linear(cfg.au_token_dim, 1)  # attention pooling over the 49 spatial tokens
            self.au_out = nn.Linear(cfg.au_token_dim, d)
        else:  # keep where each token is: the face region a token covers is what tells one AU from another
            self.au_out = nn.Linear(49 * cfg.au_token_dim, d)
        self.proj = nn.ModuleDict({s: nn.Linear(dims[s], d) for s in ("fe", "va", "mfcc", "wav2vec2")})
        self.au_fe = CrossBlock(d, cfg.heads, cfg.dropout)
        self.au_va = CrossBlock(d, cfg.heads, cfg.dropout)
        self.w2v_mfcc = CrossBlock(d, cfg.heads, cfg.dropout)
        self.face_out = nn.Linear(d, cfg.d_fused)
        self.audio_out = nn.Linear(d, cfg.d_fused)
        self.inter = CrossBlock(cfg.d_fused, cfg.heads, cfg.dropout)
        self.frame_proj = nn.Linear(cfg.d_fused, cfg.latent_frame_dim)
        self.to_latent = nn.Sequential(
            nn.LayerNorm(cfg.window * cfg.latent_frame_dim),
            nn.Linear(cfg.window * cfg.latent_frame_dim, 2 * cfg.latent_dim), nn.GELU(),
            nn.Linear(2 * cfg.latent_dim, cfg.latent_dim),
        )
        self.register_buffer("pos", sinusoid(cfg.window, d), persistent=False)
        # Per-dimension standardisation with training-set statistics (set by set_input_stats, saved with the
        # weights): extractor features come at arbitrary scales, and what varies from frame to frame can be a
        # tiny part of each dimension's range.
        for s, n in dims.items():
            self.register_buffer(f"mu_{s}", torch.zeros(n))
            self.register_buffer(f"sd_{s}", torch.ones(n))

    def set_input_stats(self, stats: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        for s, (mu, sd) in stats.items():
            getattr(self, f"mu_{s}").copy_(mu)
            getattr(self, f"sd_{s}").copy_(sd.clamp_min(1e-6))

    def _std(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {s: (x.float() - getattr(self, f"mu_{s}")) / getattr(self, f"sd_{s}") for s, x in feats.items()}

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """feats[s]: (B, W, window, dim_s) -> latents (B, W, latent_dim)."""
        feats = self._std(feats)
        b, w, f, _ = feats["fe"].shape
        n = b * w
        au = feats["au"].reshape(n * f, 49, -1)
        tok = torch.nn.functional.gelu(self.au_tok(au))
        if self.cfg.au_pool == "attention":
            pooled = (torch.softmax(self.au_score(tok), dim=1) * tok).sum(dim=1)
        else:
            pooled = tok.flatten(1)
        q = self.au_out(pooled).reshape(n, f, -1) + self.pos
        x = {s: self.proj[s](feats[s].reshape(n, f, -1).float()) + self.pos for s in ("fe", "va", "mfcc", "wav2vec2")}
        face = self.face_out(self.au_va(self.au_fe(q, x["fe"]), x["va"]))
        audio = self.audio_out(self.w2v_mfcc(x["wav2vec2"], x["mfcc"]))
        fused = self.inter(face, audio)
        z = self.to_latent(self.frame_proj(fused).reshape(n, -1))
        return z.reshape(b, w, -1)


class MMTDecoder(nn.Module):
    def __init__(self, cfg: MMTConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.decoder_dim
        self.expand = nn.Linear(cfg.latent_dim, cfg.window * d)
        layer = nn.TransformerEncoderLayer(d, cfg.heads, 2 * d, cfg.dropout, batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, cfg.decoder_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head_3dmm = nn.Linear(d, 58)
        self.head_emotion = nn.Linear(d, 25)

    @staticmethod
    def window_causal_mask(n_windows: int, window: int, device=None) -> torch.Tensor:
        """Boolean (T, T) mask, True = blocked: frame i may see frame j iff window(j) <= window(i)."""
        wi = torch.arange(n_windows * window, device=device) // window
        return wi[None, :] > wi[:, None]

    def forward(self, z: torch.Tensor, causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, W, latent) -> (3DMM (B, W*window, 58), emotion (B, W*window, 25))."""
        b, w, _ = z.shape
        t = w * self.cfg.window
        h = self.expand(z).reshape(b, t, -1) + sinusoid(t, self.cfg.decoder_dim, z.device)
        mask = self.window_causal_mask(w, self.cfg.window, z.device) if causal else None
        h = self.norm(self.body(h, mask=mask))
        emo = self.head_emotion(h)
        emotion = torch.cat([torch.sigmoid(emo[..., :15]), torch.tanh(emo[..., 15:17]), torch.softmax(emo[..., 17:], -1)], -1)
        return self.head_3dmm(h), emotion


class MMT(nn.Module):
    def __init__(self, cfg: MMTConfig, dims: dict[str, int] | None = None):
        super().__init__()
        self.cfg = cfg
        self.encoder = MMTEncoder(cfg, dims)
        self.decoder = MMTDecoder(cfg)

    def forward(self, feats: dict[str, torch.Tensor], causal: bool = False):
        z = self.encoder(feats)
        return self.decoder(z, causal), z


def mmt_loss(pred_3dmm: torch.Tensor, pred_emotion: torch.Tensor, tdmm: torch.Tensor, emotion: torch.Tensor) -> torch.Tensor:
    """10 * MSE(3DMM) + 10 * L1(emotion), as in the paper."""
    return 10.0 * torch.mean((pred_3dmm - tdmm) ** 2) + 10.0 * torch.mean(torch.abs(pred_emotion - emotion))


def windowed(feats: dict[str, torch.Tensor], window: int) -> tuple[dict[str, torch.Tensor], int]:
    """(B, T, dim) streams -> (B, W, window, dim), the last frame repeated to fill the final window."""
    t = next(iter(feats.values())).shape[1]
    w = math.ceil(t / window)
    out = {}
    for s, x in feats.items():
        pad = w * window - t
        if pad:
            x = torch.cat([x, x[:, -1:].expand(-1, pad, -1)], dim=1)
        out[s] = x.reshape(x.shape[0], w, window, x.shape[-1])
    return out, w
