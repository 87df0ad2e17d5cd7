"""Swin Transformer (Liu et al. 2021) in plain torch, with the parameter names of Microsoft's implementation.

ME-GraphAU / OpenGraphAU uses Microsoft's Swin (``patch_embed``, ``layers.{i}.blocks.{j}.attn.qkv``,
``layers.{i}.downsample.reduction``, ``norm``), not timm's, and returns the token sequence after the final
LayerNorm: (B, 49, C) at a 224 x 224 input. These names are kept so that the ME-GraphAU weights loads with
``strict=True``. timm's Swin is not used: its names and relative-position layout differ, and a mapped
weights is known not to reproduce the original.

The window attention's two persistent buffers (``relative_position_index`` and, in shifted blocks,
``attn_mask``) are part of every upstream state dict. They depend only on the input size; :func:`expected_buffers`
computes them so that a loader can tell a weights file built for another resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SwinSpec:
    embed_dim: int
    depths: tuple[int, ...]
    heads: tuple[int, ...]
    window: int = 7
    patch: int = 4
    image_size: int = 224

    @property
    def num_features(self) -> int:
        return self.embed_dim * 2 ** (len(self.depths) - 1)


SIZES = {  # ME-GraphAU's swin_transformer_{tiny,small,base}
    "swin_tiny": SwinSpec(96, (2, 2, 6, 2), (3, 6, 12, 24)),
    "swin_small": SwinSpec(96, (2, 2, 18, 2), (3, 6, 12, 24)),
    "swin_base": SwinSpec(128, (2, 2, 18, 2), (4, 8, 16, 32)),
}


def relative_position_index(window: int) -> torch.Tensor:
    """(w*w, w*w) index into the (2w-1)^2 bias table for every (query, key) pair of a window."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


def window_partition(x: torch.Tensor, w: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * H/w * W/w, w*w, C)."""
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c)


def window_merge(x: torch.Tensor, w: int, h: int, wd: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B * nW, w*w, C) -> (B, H, W, C)."""
    c = x.shape[-1]
    b = x.shape[0] // ((h // w) * (wd // w))
    x = x.view(b, h // w, wd // w, w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, wd, c)


def shift_mask(res: int, window: int, shift: int) -> torch.Tensor:
    """(nW, w*w, w*w) additive mask of a shifted block: -100 between tokens that came from different image
    regions after the cyclic shift (so they do not attend to each other), 0 within a region."""
    regions = torch.zeros(1, res, res, 1)
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    label = 0
    for hs in cuts:
        for ws in cuts:
            regions[:, hs, ws, :] = label
            label += 1
    ids = window_partition(regions, window).squeeze(-1)  # (nW, w*w)
    diff = ids[:, None, :] - ids[:, :, None]
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, heads: int, window: int):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, c = x.shape
        q, k, v = self.qkv(x).reshape(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)  # the upstream order of operations (scale q, then matmul)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = (attn.view(bw // nw, nw, self.heads, n, n) + mask[None, :, None]).view(bw, self.heads, n, n)
        x = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(bw, n, c)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    """LayerNorm -> (shifted) window attention -> residual; LayerNorm -> MLP -> residual."""

    def __init__(self, dim: int, heads: int, res: int, window: int, shift: int):
        super().__init__()
        if res <= window:  # the window covers the whole map: no partition, no shift (the last stage at 224)
            window, shift = res, 0
        self.res, self.window, self.shift = res, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, 4 * dim)
        if shift:
            self.register_buffer("attn_mask", shift_mask(res, window, shift))
        else:
            self.attn_mask = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        h = self.norm1(x).view(b, self.res, self.res, c)
        if self.shift:
            h = torch.roll(h, shifts=(-self.shift, -self.shift), dims=(1, 2))
        h = self.attn(window_partition(h, self.window), self.attn_mask)
        h = window_merge(h, self.window, self.res, self.res)
        if self.shift:
            h = torch.roll(h, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + h.reshape(b, n, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2 x 2 neighbouring tokens concatenated (4C), normalised, projected to 2C: half the resolution."""

    def __init__(self, dim: int, res: int):
        super().__init__()
        self.res = res
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        x = x.view(b, self.res, self.res, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class Stage(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, res: int, window: int, downsample: bool):
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, heads, res, window, 0 if i % 2 == 0 else window // 2) for i in range(depth))
        self.downsample = PatchMerging(dim, res) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return x if self.downsample is None else self.downsample(x)


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class SwinTransformer(nn.Module):
    """Image (B, 3, S, S) -> tokens (B, (S/32)^2, num_features) after the final LayerNorm (no pooling, no head)."""

    def __init__(self, spec: SwinSpec):
        super().__init__()
        self.spec = spec
        res = spec.image_size // spec.patch
        self.patch_embed = PatchEmbed(spec.patch, spec.embed_dim)
        self.layers = nn.ModuleList()
        for i, (depth, heads) in enumerate(zip(spec.depths, spec.heads)):
            last = i == len(spec.depths) - 1
            self.layers.append(Stage(spec.embed_dim * 2**i, depth, heads, res // 2**i, spec.window, not last))
        self.norm = nn.LayerNorm(spec.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self.spec.image_size
        if x.shape[-2:] != (size, size):
            raise ValueError(f"Swin expects {size} x {size} input (its attention masks are fixed), got "
                             f"{tuple(x.shape[-2:])}")
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


def expected_buffers(spec: SwinSpec) -> dict[str, torch.Tensor]:
    """The non-learned buffers an upstream state dict carries, as this class computes them."""
    with torch.device("cpu"):
        ref = {}
        res = spec.image_size // spec.patch
        for i, depth in enumerate(spec.depths):
            r = res // 2**i
            for j in range(depth):
                w, s = (r, 0) if r <= spec.window else (spec.window, 0 if j % 2 == 0 else spec.window // 2)
                ref[f"layers.{i}.blocks.{j}.attn.relative_position_index"] = relative_position_index(w)
                if s:
                    ref[f"layers.{i}.blocks.{j}.attn_mask"] = shift_mask(r, w, s)
    return ref


def spec_from_state_dict(sd: dict[str, torch.Tensor], prefix: str = "") -> SwinSpec:
    """Embedding width, depths and heads read off a state dict's key names and shapes."""
    dim = sd[f"{prefix}patch_embed.proj.weight"].shape[0]
    patch = sd[f"{prefix}patch_embed.proj.weight"].shape[-1]
    depths, heads = [], []
    i = 0
    while f"{prefix}layers.{i}.blocks.0.norm1.weight" in sd:
        j = 0
        while f"{prefix}layers.{i}.blocks.{j}.norm1.weight" in sd:
            j += 1
        depths.append(j)
        heads.append(sd[f"{prefix}layers.{i}.blocks.0.attn.relative_position_bias_table"].shape[1])
        i += 1
    table = sd[f"{prefix}layers.0.blocks.0.attn.relative_position_bias_table"].shape[0]
    window = (int(round(table**0.5)) + 1) // 2
    image = 224
    mask = sd.get(f"{prefix}layers.0.blocks.1.attn_mask")
    if mask is not None:  # (nW, w*w, w*w): nW windows over the first stage's (S/patch)^2 tokens
        image = window * int(round(mask.shape[0] ** 0.5)) * patch
    return SwinSpec(dim, tuple(depths), tuple(heads), window=window, patch=patch, image_size=image)
