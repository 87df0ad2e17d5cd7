"""ResMaskNet's facial-expression feature (Pham et al. 2020; the ``rmn`` package's ``resmasking_dropout1``).

The ReactDiff paper names this network for its FE stream ("extracted from ResMaskNet without a classifier"): the
feature is the 512-d global average pool of the masked last stage, the input of ``fc``. The ``rmn`` package
downloads one checkpoint, ``Z_resmasking_dropout1_rot30_2019Nov30_13.32``: a ``torch.save``d dict whose ``'net'``
entry is the state dict (with training statistics beside it), read here with ``weights_only=True``.
Architecture: :mod:`mafrg.backbones.resmasking`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from mafrg.backbones.resmasking import ResMaskNet
from mafrg.extractors.errors import WeightsError
from mafrg.extractors.reading import load_strict

EXPECTED = ("the Residual Masking Network resmasking_dropout1 (rmn's Z_resmasking_dropout1_rot30_2019Nov30_13.32, a "
            "dict whose 'net' entry is the state dict): conv1, bn1, layer1-4 (ResNet-34), mask1-4, fc.1")


def is_resmasknet(sd: dict[str, Any]) -> bool:
    """True for a state dict with ResMaskNet's masking blocks."""
    return "mask1.conv1.conv1.weight" in sd and "layer4.0.conv1.weight" in sd


class ResMaskNetFeatures(nn.Module):
    def __init__(self, net: ResMaskNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build(sd: dict[str, Any], path: Path) -> tuple[ResMaskNetFeatures, str]:
    if not is_resmasknet(sd):
        found = ", ".join(sorted({k.split(".")[0] for k in sd})[:10])
        raise WeightsError(f"{path}: not a ResMaskNet: top-level names {found}. Expected {EXPECTED}")
    with torch.device("meta"):
        net = ResMaskNet()
    load_strict(net, sd, path, "ResMaskNet (resmasking_dropout1: ResNet-34 + 4 masking blocks, 7 classes)", EXPECTED)
    return ResMaskNetFeatures(net.eval()), "ResMaskNet resmasking_dropout1, 512-d pooled feature (the input of fc)"
