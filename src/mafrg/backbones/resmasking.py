"""Residual Masking Network (Pham, Vu and Tran, ICPR 2020) in plain torch, with the upstream parameter names.

The network the ``rmn`` package ships as ``resmasking_dropout1`` (FER2013, 7 classes): a ResNet-34 whose four
stages are each followed by a *masking block*, a small U-Net of BasicBlocks whose softmax over channels re-weights
the stage's output as ``x * (1 + mask(x))``. Deeper stages get shallower U-Nets (depth 4, 3, 2, 1 for 56, 28,
14 and 7 pixels). The classifier is ``fc = Sequential(Dropout(0.4), Linear(512, 7))``; the 512-d input of
``fc`` (global average pool of the masked last stage) is the feature the ReactDiff paper takes ("extracted from
ResMaskNet without a classifier").

Key names and their order are upstream's, including its aliases: each U-Net block's shortcut is also registered
as ``downsample{i}``, so a checkpoint holds both ``mask1.downsample1.*`` and ``mask1.conv1.downsample.*`` for one
tensor. Sharing the module here keeps ``load_state_dict(strict=True)`` exact.
"""

from __future__ import annotations

import torch
from torch import nn

from mafrg.backbones.resnet import BasicBlock, ResNet

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # FER2013 order
DEPTHS = (4, 3, 2, 1)  # masking block depth after stages 1-4


def up_pool(cin: int, cout: int) -> nn.Sequential:
    """x2 transposed convolution (with bias), BatchNorm, ReLU."""
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 2, 2), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Masking(nn.Module):
    """A U-Net of ``depth`` levels on ``ch`` channels, ending in a softmax over channels.

    Encoder: ``conv1 .. conv{depth}`` double the width (max-pool 2 between them). Decoder: up-pool, concatenate
    the encoder map of the same size, BasicBlock halving the width, down to ``2 ch``; a last BasicBlock back to
    ``ch``. Every BasicBlock changes width, so each has a 1x1-conv + BN shortcut, aliased as ``downsample{i}``.
    """

    def __init__(self, ch: int, depth: int):
        super().__init__()
        if depth not in (1, 2, 3, 4):
            raise ValueError(f"masking depth must be 1 to 4, got {depth}")
        self.depth = depth
        f = [ch * 2**i for i in range(depth + 1)]
        widths = [(f[i], f[i + 1]) for i in range(depth)]  # encoder
        widths += [(f[depth - j], f[depth - j - 1]) for j in range(depth)]  # decoder
        blocks = [BasicBlock(cin, cout, 1, "batch") for cin, cout in widths]
        # registration order = upstream's state_dict order
        for i in range(depth):
            setattr(self, f"downsample{i + 1}", blocks[i].downsample)
        for i in range(depth):
            setattr(self, f"conv{i + 1}", blocks[i])
        if depth > 1:
            self.down_pooling = nn.MaxPool2d(2)
        for i in range(depth, 2 * depth):
            setattr(self, f"downsample{i + 1}", blocks[i].downsample)
        for i in range(depth, 2 * depth - 1):
            cin, cout = widths[i]
            setattr(self, f"up_pool{i + 1}", up_pool(cin, cout))
            setattr(self, f"conv{i + 1}", blocks[i])
        setattr(self, f"conv{2 * depth}", blocks[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.depth
        skips = []
        for i in range(1, d + 1):
            x = getattr(self, f"conv{i}")(x if i == 1 else self.down_pooling(x))
            skips.append(x)
        skips.pop()  # the bottom of the U is not concatenated with itself
        for i in range(d + 1, 2 * d):
            x = getattr(self, f"conv{i}")(torch.cat([getattr(self, f"up_pool{i}")(x), skips.pop()], dim=1))
        return torch.softmax(getattr(self, f"conv{2 * d}")(x), dim=1)


class ResMaskNet(ResNet):
    """``forward(x)``: the 512-d pooled feature (the input of ``fc``); ``logits(x)``: the 7 FER2013 scores."""

    def __init__(self, num_classes: int = len(CLASSES)):
        super().__init__("resnet34")
        self.fc = nn.Sequential(nn.Dropout(0.4), nn.Linear(self.out_channels, num_classes))
        for i, depth in enumerate(DEPTHS):
            setattr(self, f"mask{i + 1}", Masking(64 * 2**i, depth))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            x = x * (1 + getattr(self, f"mask{i}")(x))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward(x))
