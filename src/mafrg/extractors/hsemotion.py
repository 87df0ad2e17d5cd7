"""HSEmotion's facial-expression EfficientNets (Savchenko 2022; ``enet_b2_8`` and family) up to the pooled feature.

The feature is ``global_pool(act2(bn2(conv_head(blocks(act1(bn1(conv_stem(x))))))))`` (1408-d for B2): the
chain ReactDiff's authors call. HSEmotion pools by average; facetorch's TorchScript export, which the ReactDiff
authors load, pools by max -- ``features.fe.pool`` chooses.

HSEmotion publishes each network as a whole pickled timm model whose classifier is ``nn.Sequential(Linear)``
(keys ``classifier.0.*`` where timm has ``classifier.*``); timm state dicts load too. A pickled model says
which timm variant it is (``Conv2dSame`` stem and BatchNorm eps 1e-3: ``tf_efficientnet``); that must agree
with ``features.fe.variant``, which is all a state dict can go by.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from mafrg.backbones.efficientnet import EfficientNet, Pool, spec_from_state_dict
from mafrg.extractors import unpickle
from mafrg.extractors.reading import load_strict
from mafrg.extractors.errors import WeightsError

EXPECTED = ("a timm EfficientNet (HSEmotion's enet_b*_* networks): conv_stem, bn1, blocks.{stage}.{block}.*, "
            "conv_head, bn2, optional classifier(.0).*; as HSEmotion's whole pickled model or a state dict")


class HSEmotionFeatures(nn.Module):
    def __init__(self, net: EfficientNet, pool: Pool):
        super().__init__()
        self.net = net
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x, self.pool)


def pickled_variant(tree: Any) -> str | None:
    """'tf' or 'torch' from a pickled timm model's stem class and BatchNorm eps; None when it cannot tell."""
    cls = unpickle.module_classes(tree).get("conv_stem", "")
    eps = unpickle.module_attr(tree, "bn1", "eps")
    if cls.endswith("Conv2dSame") or eps == 1e-3:
        return "tf"
    if cls.endswith(".Conv2d") and eps == 1e-5:
        return "torch"
    return None


def is_efficientnet(sd: dict[str, Any]) -> bool:
    return "conv_stem.weight" in sd and "conv_head.weight" in sd and "blocks.0.0.conv_dw.weight" in sd


def build(sd: dict[str, Any], path: Path, variant: str, pool: Pool, tree: Any = None) -> tuple[HSEmotionFeatures, str]:
    sd = dict(sd)
    layout = "timm names"
    if "classifier.0.weight" in sd:  # HSEmotion's Sequential(Linear) classifier
        for p in ("weight", "bias"):
            sd[f"classifier.{p}"] = sd.pop(f"classifier.0.{p}")
        layout = "HSEmotion names (classifier.0)"
    if not is_efficientnet(sd):
        found = ", ".join(sorted({k.split(".")[0] for k in sd})[:10])
        raise WeightsError(f"{path}: not an EfficientNet: top-level names {found}. Expected {EXPECTED}")
    if tree is not None:
        found = pickled_variant(tree)
        if found is not None and found != variant:
            names = {"tf": "tf_efficientnet (TensorFlow SAME padding, BN eps 1e-3)",
                     "torch": "efficientnet (symmetric padding, BN eps 1e-5)"}
            raise WeightsError(f"{path}: the pickled model is timm's {names[found]}, but features.fe.variant is "
                               f"'{variant}'; set it to '{found}'")
    try:
        spec = spec_from_state_dict(sd)
    except KeyError as exc:
        raise WeightsError(f"{path}: {exc.args[0]}. Expected {EXPECTED}") from exc
    with torch.device("meta"):
        net = EfficientNet(spec, tf=variant == "tf")
    load_strict(net, sd, path, f"an EfficientNet ({sum(len(s) for s in spec.stages)} blocks, head {spec.head})",
                EXPECTED)
    name = f"{'tf_' if variant == 'tf' else ''}efficientnet (head {spec.head}, {len(spec.stages)} stages)"
    return HSEmotionFeatures(net.eval(), pool), f"HSEmotion {name}, {layout}, {pool} pool"
