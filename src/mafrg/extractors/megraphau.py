"""ME-GraphAU / OpenGraphAU (Luo et al., IJCAI 2022) up to the feature ReactDiff takes, with the authors' names.

``MEFARG`` = ``backbone`` (Microsoft Swin-T/S/B, or a ResNet whose output is its last map as 49 tokens) ->
``global_linear`` (``LinearBlock``: Linear C -> C/2 (Swin) or C/4 (ResNet), BatchNorm1d over channels, ReLU)
-> the AU graph ``head``. The feature is ``global_linear(backbone(x)).flatten(1)``: 49 tokens x 512 = 25088
for Swin-B and ResNet-50, token-major.

The backbone is read off the weights' keys; the ``head.*`` keys (stage 1's ANFL head or stage 2's MEFL
head) are recognised and left out, since no part of the feature depends on them. The authors' ``.pth`` files
are ``{'epoch', 'state_dict', 'optimizer'}`` saved from ``nn.DataParallel`` (``module.`` prefixes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from mafrg.backbones.resnet import ARCHS, ResNet
from mafrg.backbones.swin import SwinTransformer, expected_buffers, spec_from_state_dict
from mafrg.extractors.reading import load_strict, sub_dict
from mafrg.extractors.errors import WeightsError

EXPECTED = ("an ME-GraphAU MEFARG state dict: backbone.* (Swin: patch_embed, layers, norm; or ResNet: conv1, bn1, "
            "layer1-4) and global_linear.{fc,bn}.*, optionally head.* (github.com/CVI-SZU/ME-GraphAU, "
            "OpenGraphAU weight files)")


class LinearBlock(nn.Module):
    """Linear over the channel axis of (B, N, C) tokens, BatchNorm1d over channels, ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.fc = nn.Linear(cin, cout)
        self.bn = nn.BatchNorm1d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.fc(x).transpose(1, 2))).transpose(1, 2)


class ResNetTokens(ResNet):
    """ME-GraphAU's ResNet backbone: the last stage's map as (B, H*W, C) tokens."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(2).transpose(1, 2)


class MEGraphAUFeatures(nn.Module):
    def __init__(self, backbone: nn.Module, cin: int, cout: int):
        super().__init__()
        self.backbone = backbone
        self.global_linear = LinearBlock(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.global_linear(self.backbone(x)).flatten(1)


def head_kind(sd: dict[str, Any]) -> str:
    head = sub_dict(sd, "head.")
    if not head:
        return "no head"
    if any(k.startswith("edge_extractor.") for k in head):
        return f"stage-2 MEFL head ({len(head)} keys) left out"
    return f"stage-1 ANFL head ({len(head)} keys) left out"


def _resnet_arch(bb: dict[str, Any], path: Path) -> str:
    bottleneck = "layer1.0.conv3.weight" in bb
    counts = []
    for i in range(1, 5):
        j = 0
        while f"layer{i}.{j}.conv1.weight" in bb:
            j += 1
        counts.append(j)
    for name, (block, layers) in ARCHS.items():
        if tuple(counts) == layers and (block.expansion == 4) == bottleneck:
            return name
    raise WeightsError(f"{path}: a ResNet backbone with {counts} blocks per stage "
                       f"({'bottleneck' if bottleneck else 'basic'} blocks) is none of {', '.join(ARCHS)}")


def build(sd: dict[str, Any], path: Path) -> tuple[MEGraphAUFeatures, str]:
    other = sorted({k.split(".")[0] for k in sd} - {"backbone", "global_linear", "head"})
    if other or "global_linear.fc.weight" not in sd:
        found = ", ".join(sorted({k.split(".")[0] for k in sd})[:10])
        raise WeightsError(f"{path}: not an ME-GraphAU network: top-level names {found}"
                           + (f" (unexpected: {', '.join(other)})" if other else ", no global_linear.fc.weight")
                           + f". Expected {EXPECTED}")
    bb = sub_dict(sd, "backbone.")
    cout, cin = sd["global_linear.fc.weight"].shape
    with torch.device("meta"):  # built without initialising weights that the weights replaces
        if "patch_embed.proj.weight" in bb:
            spec = spec_from_state_dict(bb)
            backbone: nn.Module = SwinTransformer(spec)
            arch = f"Swin (embed {spec.embed_dim}, depths {list(spec.depths)}, heads {list(spec.heads)})"
        elif "conv1.weight" in bb:
            name = _resnet_arch(bb, path)
            backbone = ResNetTokens(name, width=bb["conv1.weight"].shape[0])
            arch = name
        else:
            raise WeightsError(f"{path}: backbone.* is neither a Swin Transformer (patch_embed) nor a ResNet "
                               f"(conv1). Expected {EXPECTED}")
        net = MEGraphAUFeatures(backbone, cin, cout)
    feat = {k: v for k, v in sd.items() if not k.startswith("head.")}
    load_strict(net, feat, path, f"ME-GraphAU with a {arch} backbone", EXPECTED)
    if isinstance(backbone, SwinTransformer):
        for k, ref in expected_buffers(backbone.spec).items():
            if not torch.equal(bb[k].to(ref.dtype), ref):
                raise WeightsError(f"{path}: backbone.{k} is not the buffer a {backbone.spec.image_size} x "
                                   f"{backbone.spec.image_size} Swin builds (a weights file for another input size?)")
    return net.eval(), f"ME-GraphAU MEFARG, {arch} backbone, {head_kind(sd)}"
