"""EfficientNet (Tan & Le 2019) in plain torch, with timm's parameter names.

HSEmotion's facial-expression networks (``enet_b2_8`` and family) are timm EfficientNets; timm cannot be
imported here (it needs torchvision), so the network is written out with timm's names (``conv_stem``, ``bn1``,
``blocks.{stage}.{block}.conv_dw`` / ``conv_pw`` / ``conv_pwl``, ``se.conv_reduce``, ``conv_head``, ``bn2``,
``classifier``) and a timm state dict loads with ``strict=True``.

The architecture is read off a state dict (:func:`spec_from_state_dict`): blocks per stage, widths, expansion
and kernel sizes are all in the key names and shapes. Only the strides are not; they are the family's fixed
per-stage strides. Two behaviours share the same keys and cannot be told apart from a state dict:

* ``tf=True``, timm ``tf_efficientnet_*`` (ported TensorFlow weights; HSEmotion's): TensorFlow "SAME" padding,
  asymmetric for stride-2 convolutions (timm's ``Conv2dSame``), BatchNorm eps 1e-3;
* ``tf=False``, timm ``efficientnet_*``: symmetric padding, eps 1e-5.

With the same weights the two differ by up to 15 in a feature whose largest value is 44 (measured by the
fixtures' authors), so the choice is a setting, never a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)  # every EfficientNet-B* (the B0 template's strides)
# B0 template: (kind, repeats, kernel, expansion, channels); each stage's first block has STAGE_STRIDES[i]
B0 = (("ds", 1, 3, 1, 16), ("ir", 2, 3, 6, 24), ("ir", 2, 5, 6, 40), ("ir", 3, 3, 6, 80), ("ir", 3, 5, 6, 112),
      ("ir", 4, 5, 6, 192), ("ir", 1, 3, 6, 320))
SCALING = {"b0": (1.0, 1.0), "b1": (1.0, 1.1), "b2": (1.1, 1.2), "b3": (1.2, 1.4), "b4": (1.4, 1.8)}  # width, depth
Pool = Literal["avg", "max"]


@dataclass(frozen=True)
class BlockSpec:
    kind: str  # "ds": depthwise-separable (no expansion); "ir": inverted residual (MBConv)
    cin: int
    cout: int
    mid: int
    kernel: int
    stride: int
    se: int  # squeeze-excite reduced channels (0: no SE)


@dataclass(frozen=True)
class EfficientNetSpec:
    stem: int
    stages: tuple[tuple[BlockSpec, ...], ...]
    head: int
    num_classes: int = 0

    @property
    def num_features(self) -> int:
        return self.head


def _divisible(v: float, divisor: int = 8) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def template_spec(size: str = "b2", num_classes: int = 8) -> EfficientNetSpec:
    """The EfficientNet-B* layout from the B0 template (timm's channel rounding, depth rounded up)."""
    width, depth = SCALING[size]
    cin = stem = _divisible(32 * width)
    stages = []
    for (kind, reps, k, exp, ch), stride in zip(B0, STAGE_STRIDES):
        cout = _divisible(ch * width)
        blocks = []
        for j in range(math.ceil(reps * depth)):
            blocks.append(BlockSpec(kind, cin, cout, cin * exp, k, stride if j == 0 else 1, round(cin * 0.25)))
            cin = cout
        stages.append(tuple(blocks))
    return EfficientNetSpec(stem, tuple(stages), _divisible(1280 * width), num_classes)


def spec_from_state_dict(sd: dict[str, torch.Tensor]) -> EfficientNetSpec:
    """The layout of a timm EfficientNet state dict (classifier as ``classifier.*``)."""
    stages = []
    i = 0
    while f"blocks.{i}.0.conv_dw.weight" in sd:
        if i >= len(STAGE_STRIDES):
            raise KeyError(f"blocks.{i}: more stages than an EfficientNet has ({len(STAGE_STRIDES)})")
        blocks = []
        j = 0
        while (p := f"blocks.{i}.{j}.") + "conv_dw.weight" in sd:
            dw = sd[p + "conv_dw.weight"]
            se = sd[p + "se.conv_reduce.weight"].shape[0] if p + "se.conv_reduce.weight" in sd else 0
            if p + "conv_pwl.weight" in sd:  # inverted residual: expand (pw), depthwise, project (pwl)
                cin, cout = sd[p + "conv_pw.weight"].shape[1], sd[p + "conv_pwl.weight"].shape[0]
                blocks.append(BlockSpec("ir", cin, cout, dw.shape[0], dw.shape[-1], STAGE_STRIDES[i] if j == 0 else 1, se))
            else:  # depthwise-separable: depthwise, project (pw)
                blocks.append(BlockSpec("ds", dw.shape[0], sd[p + "conv_pw.weight"].shape[0], dw.shape[0], dw.shape[-1],
                                        STAGE_STRIDES[i] if j == 0 else 1, se))
            j += 1
        stages.append(tuple(blocks))
        i += 1
    n_cls = sd["classifier.weight"].shape[0] if "classifier.weight" in sd else 0
    return EfficientNetSpec(sd["conv_stem.weight"].shape[0], tuple(stages), sd["conv_head.weight"].shape[0], n_cls)


class Conv2dSame(nn.Conv2d):
    """TensorFlow "SAME" padding, computed per input size (asymmetric when the total is odd: more at the end)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, tf: bool = True, bias: bool = False) -> nn.Conv2d:
    if tf and stride > 1:  # stride 1 "SAME" is the symmetric (k-1)/2
        return Conv2dSame(cin, cout, k, stride, 0, groups=groups, bias=bias)
    return nn.Conv2d(cin, cout, k, stride, ((stride - 1) + (k - 1)) // 2, groups=groups, bias=bias)


class SqueezeExcite(nn.Module):
    def __init__(self, ch: int, rd: int):
        super().__init__()
        self.conv_reduce = nn.Conv2d(ch, rd, 1)
        self.conv_expand = nn.Conv2d(rd, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.conv_expand(F.silu(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(s)


class DepthwiseSeparable(nn.Module):
    def __init__(self, b: BlockSpec, tf: bool, eps: float):
        super().__init__()
        self.conv_dw = conv(b.cin, b.cin, b.kernel, b.stride, groups=b.cin, tf=tf)
        self.bn1 = nn.BatchNorm2d(b.cin, eps=eps)
        self.se = SqueezeExcite(b.cin, b.se) if b.se else nn.Identity()
        self.conv_pw = conv(b.cin, b.cout, 1, tf=tf)
        self.bn2 = nn.BatchNorm2d(b.cout, eps=eps)
        self.skip = b.stride == 1 and b.cin == b.cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn2(self.conv_pw(self.se(F.silu(self.bn1(self.conv_dw(x))))))
        return x + h if self.skip else h


class InvertedResidual(nn.Module):
    def __init__(self, b: BlockSpec, tf: bool, eps: float):
        super().__init__()
        self.conv_pw = conv(b.cin, b.mid, 1, tf=tf)
        self.bn1 = nn.BatchNorm2d(b.mid, eps=eps)
        self.conv_dw = conv(b.mid, b.mid, b.kernel, b.stride, groups=b.mid, tf=tf)
        self.bn2 = nn.BatchNorm2d(b.mid, eps=eps)
        self.se = SqueezeExcite(b.mid, b.se) if b.se else nn.Identity()
        self.conv_pwl = conv(b.mid, b.cout, 1, tf=tf)
        self.bn3 = nn.BatchNorm2d(b.cout, eps=eps)
        self.skip = b.stride == 1 and b.cin == b.cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.bn1(self.conv_pw(x)))
        h = self.se(F.silu(self.bn2(self.conv_dw(h))))
        h = self.bn3(self.conv_pwl(h))
        return x + h if self.skip else h


class EfficientNet(nn.Module):
    """``features(x, pool)``: the pooled head activation (B, head) -- HSEmotion's / ReactDiff's feature;
    ``forward``: the classifier's logits."""

    def __init__(self, spec: EfficientNetSpec, tf: bool = True):
        super().__init__()
        eps = 1e-3 if tf else 1e-5
        self.spec, self.tf = spec, tf
        self.conv_stem = conv(3, spec.stem, 3, 2, tf=tf)
        self.bn1 = nn.BatchNorm2d(spec.stem, eps=eps)
        self.blocks = nn.Sequential(*[
            nn.Sequential(*[(DepthwiseSeparable if b.kind == "ds" else InvertedResidual)(b, tf, eps) for b in stage])
            for stage in spec.stages])
        cin = spec.stages[-1][-1].cout
        self.conv_head = conv(cin, spec.head, 1, tf=tf)
        self.bn2 = nn.BatchNorm2d(spec.head, eps=eps)
        self.classifier = nn.Linear(spec.head, spec.num_classes) if spec.num_classes else None

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        return F.silu(self.bn2(self.conv_head(x)))

    def features(self, x: torch.Tensor, pool: Pool = "avg") -> torch.Tensor:
        return global_pool(self.feature_map(x), pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        return f if self.classifier is None else self.classifier(f)


def global_pool(x: torch.Tensor, pool: Pool) -> torch.Tensor:
    """(B, C, H, W) -> (B, C): timm's SelectAdaptivePool2d with flatten."""
    if pool == "avg":
        return x.mean((2, 3))
    if pool == "max":
        return x.amax((2, 3))
    raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
