"""ELIM (Kim & Song, NeurIPS 2022) valence/arousal network up to its 64-d feature, with the authors' names.

``Encoder_AL_ELIM``: AlexNet's convolutional ``features`` (torchvision's, through pretrainedmodels) ->
AdaptiveAvgPool(6, 6) -> flatten (9216). ``Regressor_AL_ELIM(64)``: ``lin0`` (256) -> ReLU -> ``lin1`` (64) ->
``bn`` (BatchNorm1d) -> ReLU: the 64-d feature the ReactDiff authors take. ``Task_Header(64, 2)`` maps it to
valence/arousal; it is not part of the feature, but a header file given with the set is loaded and checked.

The authors distribute three plain state dicts (``enc*.t7``, ``reg*.t7``, ``header*.t7``); a single dict with
``encoder.`` / ``regressor.`` / ``task_header.`` prefixes is accepted too. Which file is which is read from
its keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from mafrg.extractors.reading import load_strict, sub_dict
from mafrg.extractors.errors import WeightsError

ROLES = ("encoder", "regressor", "header")
PREFIXES = (("encoder", "encoder."), ("regressor", "regressor."), ("header", "task_header."), ("header", "header."))
ROLE_KEY = {"encoder": "features.0.weight", "regressor": "lin0.weight", "header": "linear1.weight"}


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(  # torchvision AlexNet.features: indices 0, 3, 6, 8, 10 are the convs
            nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.features(x)), 1)


class Regressor(nn.Module):
    def __init__(self, dim: int = 64):
        super().__init__()
        self.lin0 = nn.Linear(9216, 256)
        self.lin1 = nn.Linear(256, dim)
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.lin1(torch.relu(self.lin0(x)))))


class TaskHeader(nn.Module):
    """``layer_blocks`` holds the same two Linear modules (their weights appear twice in the state dict);
    ``bn1`` is in the state dict but never used by the authors' forward."""

    def __init__(self, dim: int = 64, out: int = 2):
        super().__init__()
        self.linear1 = nn.Linear(dim, dim * 20)
        self.linear2 = nn.Linear(dim * 20, out)
        self.bn1 = nn.BatchNorm1d(dim * 20)
        self.layer_blocks = nn.Sequential(self.linear1, nn.ReLU(inplace=True), self.linear2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer_blocks(x)


class ElimFeatures(nn.Module):
    """Image -> the regressor's 64-d latent (ReactDiff's VA feature); ``va`` gives the header's 2 outputs."""

    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.regressor = Regressor()
        self.header: TaskHeader | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.regressor(self.encoder(x))

    def va(self, x: torch.Tensor) -> torch.Tensor:
        if self.header is None:
            raise RuntimeError("no ELIM header was loaded")
        return self.header(self(x))


EXPECTED = ("ELIM's encoder (features.{0,3,6,8,10}.*), regressor (lin0.*, lin1.*, bn.*) and optionally header "
            "(linear1.*, linear2.*, bn1.*, layer_blocks.*) state dicts: the three .t7 files of "
            "github.com/kdhht2334/ELIM_FER, or one dict with encoder./regressor./task_header. prefixes")


def role_of(sd: dict[str, Any]) -> str | None:
    found = [r for r, k in ROLE_KEY.items() if k in sd]
    return found[0] if len(found) == 1 else None


def split_roles(parts: list[tuple[Path, dict[str, Any]]]) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Assign each state dict (from one or more files) to encoder / regressor / header by its keys."""
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path, sd in parts:
        pieces = [(r, d) for r, p in PREFIXES if (d := sub_dict(sd, p))]
        if pieces:  # one combined dict
            rest = [k for k in sd if not k.startswith(tuple(p for _, p in PREFIXES))]
            if rest:
                raise WeightsError(f"{path}: unexpected keys {', '.join(rest[:6])} beside the encoder./regressor./"
                                   f"task_header. parts. Expected {EXPECTED}")
        else:  # one of the three files
            role = role_of(sd)
            if role is None:
                raise WeightsError(f"{path}: not an ELIM encoder, regressor or header state dict (keys: "
                                   f"{', '.join(list(sd)[:8])}{', ...' if len(sd) > 8 else ''}). Expected {EXPECTED}")
            pieces = [(role, sd)]
        for role, d in pieces:
            if role in out:
                raise WeightsError(f"ELIM: two {role} state dicts, {out[role][0]} and {path}: give exactly one "
                                   "set (features.va.weights as a list of files)")
            out[role] = (path, d)
    for role in ("encoder", "regressor"):
        if role not in out:
            raise WeightsError(f"ELIM: no {role} state dict among {', '.join(sorted({str(p) for p, _ in parts}))}. "
                               f"Expected {EXPECTED}")
    return out


def build(parts: list[tuple[Path, dict[str, Any]]]) -> tuple[ElimFeatures, str]:
    roles = split_roles(parts)
    net = ElimFeatures()
    load_strict(net.encoder, roles["encoder"][1], roles["encoder"][0], "ELIM's encoder", EXPECTED)
    load_strict(net.regressor, roles["regressor"][1], roles["regressor"][0], "ELIM's regressor", EXPECTED)
    if "header" in roles:
        path, sd = roles["header"]
        for a, b in (("layer_blocks.0", "linear1"), ("layer_blocks.2", "linear2")):
            for p in ("weight", "bias"):
                if f"{a}.{p}" in sd and f"{b}.{p}" in sd and not torch.equal(sd[f"{a}.{p}"], sd[f"{b}.{p}"]):
                    raise WeightsError(f"{path}: {a}.{p} and {b}.{p} differ; in ELIM's header they are one tensor")
        net.header = TaskHeader()
        load_strict(net.header, sd, path, "ELIM's header", EXPECTED)
    return net.eval(), "ELIM " + " + ".join(r for r in ROLES if r in roles)
