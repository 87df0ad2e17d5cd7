"""facetorch-style TorchScript predictors, called on their feature sub-modules as the ReactDiff authors do.

Called as ``net(x)``, facetorch's predictors return their final outputs (2 VA values, 41 AU probabilities,
8 expression logits). The features sit on named sub-modules (``extract_feature.py`` of the ReactDiff code):

* va: ``regressor(encoder(regressor.avgpool, x))`` -- facetorch's ELIM encoder takes the pooling module as its
  first argument; an encoder taking only ``x`` is called as ``encoder(x)``;
* au: ``global_linear(backbone(x)).flatten(1)``;
* fe: ``global_pool(act2(bn2(conv_head(blocks(act1(bn1(conv_stem(x))))))))``, where ``act1``/``act2`` exist
  only in timm < 0.6 exports (later ones fold the activation into ``bn1``/``bn2``); the pooling is
  ``features.fe.pool``, applied here, so that the setting means the same for every format.

A TorchScript file with none of these sub-modules is taken as a network that maps the image batch straight to
the feature (the format mafrg accepted first); its output size is checked like every other's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mafrg.backbones.efficientnet import Pool, global_pool

LAYOUTS = {
    "va": ("encoder", "regressor"),
    "au": ("backbone", "global_linear"),
    "fe": ("conv_stem", "bn1", "blocks", "conv_head", "bn2"),
}


def _has(m: Any, name: str) -> bool:
    try:
        return isinstance(getattr(m, name), torch.nn.Module)
    except (AttributeError, RuntimeError):
        return False


class FacetorchVA(nn.Module):
    def __init__(self, script: Any):
        super().__init__()
        self.script = script
        self.pool_first = len(script.encoder.forward.schema.arguments) == 3  # (self, avgpool, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.script
        h = s.encoder(s.regressor.avgpool, x) if self.pool_first else s.encoder(x)
        return s.regressor(h)


class FacetorchAU(nn.Module):
    def __init__(self, script: Any):
        super().__init__()
        self.script = script

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.script.global_linear(self.script.backbone(x)).flatten(1)


class FacetorchFE(nn.Module):
    def __init__(self, script: Any, pool: Pool):
        super().__init__()
        self.script = script
        self.pool = pool
        self.act1 = script.act1 if _has(script, "act1") else None
        self.act2 = script.act2 if _has(script, "act2") else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.script
        h = s.bn1(s.conv_stem(x))
        h = s.blocks(self.act1(h) if self.act1 is not None else h)
        h = s.bn2(s.conv_head(h))
        return global_pool(self.act2(h) if self.act2 is not None else h, self.pool)


class PlainFeatures(nn.Module):
    def __init__(self, script: Any):
        super().__init__()
        self.script = script

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.script(x)
        return out.reshape(out.shape[0], -1)


def wrap(stream: str, script: Any, pool: Pool) -> tuple[nn.Module, str]:
    """The feature network of a TorchScript file and a description of the calling convention used."""
    if all(_has(script, n) for n in LAYOUTS[stream]):
        if stream == "va":
            net = FacetorchVA(script)
            how = "regressor(encoder(regressor.avgpool, x))" if net.pool_first else "regressor(encoder(x))"
            return net, f"TorchScript predictor (facetorch layout), features = {how}"
        if stream == "au":
            return FacetorchAU(script), "TorchScript predictor (facetorch layout), features = global_linear(backbone(x))"
        return FacetorchFE(script, pool), f"TorchScript predictor (facetorch layout), features = {pool} pool of the head"
    return PlainFeatures(script), "TorchScript feature network (features = net(x))"
