"""ResNet (He et al. 2016) in plain torch, with torchvision's parameter names.

torchvision cannot be installed here (its wheel needs CUDA libraries), so the few backbones mafrg needs are
written out. The module and parameter names are torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer1.0.downsample.0``, ``fc``), so a torchvision / ImageNet state dict loads with ``load_state_dict``.

Two knobs beyond torchvision's, both off by default:
* ``width``: channels of the first stage (64 in the published nets); the stages have width x (1, 2, 4, 8).
* ``norm``: ``"batch"`` (published) or ``"group"``. GroupNorm keeps the ``bnN`` names (weight and bias load from
  a BatchNorm state dict; its running statistics are dropped). A network trained end to end inside a diffusion
  model with an EMA of its weights uses GroupNorm (Diffusion Policy, Chi et al. 2023): BatchNorm's running
  statistics are not averaged with the weights, and its output would depend on what else is in the batch.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Norm = Literal["batch", "group"]


def norm_layer(kind: Norm, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    return nn.GroupNorm(max(1, ch // 16), ch)  # 16 channels per group (Diffusion Policy's choice)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, ch: int, stride: int, norm: Norm):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, ch, 3, stride, 1, bias=False)
        self.bn1 = norm_layer(norm, ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, 1, 1, bias=False)
        self.bn2 = norm_layer(norm, ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, ch, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        h = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(h)) + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, ch: int, stride: int, norm: Norm):
        super().__init__()
        out = ch * self.expansion
        self.conv1 = nn.Conv2d(cin, ch, 1, bias=False)
        self.bn1 = norm_layer(norm, ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, stride, 1, bias=False)  # stride on the 3x3 (torchvision's "v1.5")
        self.bn2 = norm_layer(norm, ch)
        self.conv3 = nn.Conv2d(ch, out, 1, bias=False)
        self.bn3 = norm_layer(norm, out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, out, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.relu(self.bn2(self.conv2(h)))
        return self.relu(self.bn3(self.conv3(h)) + idt)


def _shortcut(cin: int, out: int, stride: int, norm: Norm) -> nn.Module | None:
    if stride == 1 and cin == out:
        return None
    return nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), norm_layer(norm, out))


ARCHS: dict[str, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
}


class ResNet(nn.Module):
    """``features(x)`` is the last stage's map (B, C, H/32, W/32); ``forward`` adds global pooling and ``fc``
    (``num_classes=0``: no ``fc``, the pooled features)."""

    def __init__(self, arch: str = "resnet18", width: int = 64, norm: Norm = "batch", num_classes: int = 0):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown ResNet {arch!r}; choose from {', '.join(ARCHS)}")
        block, layers = ARCHS[arch]
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = norm_layer(norm, width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = width
        for i, n in enumerate(layers):
            ch = width * 2**i
            blocks = []
            for j in range(n):
                blocks.append(block(cin, ch, 2 if (j == 0 and i > 0) else 1, norm))
                cin = ch * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.out_channels = cin
        self.fc = nn.Linear(cin, num_classes) if num_classes else None
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x).mean(dim=(2, 3))
        return h if self.fc is None else self.fc(h)
