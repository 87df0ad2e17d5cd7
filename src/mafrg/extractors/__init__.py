"""The published face feature extractors, loaded from the files their authors distribute.

| stream | network | feature | module |
|---|---|---|---|
| va (64) | ELIM (AlexNet encoder + regressor) | the regressor's 64-d latent | :mod:`.elim` |
| au (49 x 512) | ME-GraphAU MEFARG (Swin-T/S/B or ResNet backbone) | ``global_linear(backbone(x))`` | :mod:`.megraphau` |
| fe (1408) | HSEmotion EfficientNet (``enet_b2_8``) | pooled head activation | :mod:`.hsemotion` |

The networks are written in plain torch with the upstream parameter names (no torchvision or timm at run time)
and load with ``strict=True``. :func:`load` recognises a file by its content (:mod:`.reading`): state dicts,
plain or wrapped (``{'epoch', 'state_dict', 'optimizer'}``) or with ``module.`` prefixes; ELIM's three-file
set (a list of files or a folder); HSEmotion's whole pickled model, read without running its code; and
facetorch-style TorchScript predictors, called on their feature sub-modules (:mod:`.torchscript`). Anything
else is an error that says what was found and what is expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mafrg.extractors.errors import WeightsError

WEIGHT_SUFFIXES = (".t7", ".pth", ".pt", ".pkl", ".bin", ".tar")


@dataclass
class Loaded:
    net: Any  # nn.Module: a normalised image batch (N, 3, S, S) -> features (N, dim)
    format: str  # the file layout and the network found, in words (recorded with every feature file)
    files: list[Path]

    @property
    def params(self) -> int:
        seen, n = set(), 0
        for p in self.net.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
        return n


def weight_files(stream: str, weights: str | list[str]) -> list[Path]:
    """The files the configured weights names: one file, a list of files, or (VA: ELIM) a folder."""
    items = [weights] if isinstance(weights, str) else list(weights)
    if not items:
        raise WeightsError(f"features.{stream}.weights: an empty list")
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            if stream != "va":
                raise WeightsError(f"features.{stream}.weights: {item} is a folder; the {stream} stream takes "
                                   "one file (only ELIM's VA network comes as a set of files)")
            found = sorted(f for f in item.iterdir() if f.is_file() and f.suffix in WEIGHT_SUFFIXES)
            if not found:
                raise WeightsError(f"features.va.weights: {item} holds no {'/'.join(WEIGHT_SUFFIXES)} files")
            files += found
        elif item.is_file():
            files.append(item)
        else:
            raise WeightsError(f"features.{stream}.weights: {item} not found")
    if len(files) > 1 and stream != "va":
        raise WeightsError(f"features.{stream}.weights: {len(files)} files given; the {stream} stream takes one")
    return files


def load(stream: str, weights: str | list[str], pool: str = "max", variant: str = "tf") -> Loaded:
    """The feature network of a stream's configured weights (eval mode, on the CPU)."""
    from mafrg.extractors import elim, hsemotion, megraphau, reading, torchscript

    files = weight_files(stream, weights)
    raws = [reading.read(f) for f in files]
    scripts = [r for r in raws if r.script is not None]
    if scripts:
        if len(raws) > 1:
            raise WeightsError(f"features.{stream}.weights: {scripts[0].path} is TorchScript, which holds the "
                               "whole network: give it alone")
        net, how = torchscript.wrap(stream, scripts[0].script, pool)
        return Loaded(net.eval(), how, files)
    if stream == "va":
        net, what = elim.build([(r.path, r.state_dict) for r in raws])
        layouts = "; ".join(sorted({r.layout for r in raws}))
        return Loaded(net, f"{what} ({layouts})", files)
    raw = raws[0]
    if stream == "au":
        net, what = megraphau.build(raw.state_dict, raw.path)
    elif stream == "fe":
        net, what = hsemotion.build(raw.state_dict, raw.path, variant, pool, tree=raw.pickled)
    else:
        raise WeightsError(f"no extractor for stream {stream!r}")
    return Loaded(net, f"{what} ({raw.layout})", files)


def published(stream: str, backbone: str = "swin_base", pool: str = "max"):
    """A stream's published architecture with random weights (for timing and FLOP counts: speed does not
    depend on the weights). ``backbone`` (AU): ``swin_base`` (what ReactDiff used), ``swin_small``,
    ``swin_tiny``, ``resnet50`` or ``resnet18``."""
    from mafrg.backbones.efficientnet import EfficientNet, template_spec
    from mafrg.backbones.swin import SIZES, SwinTransformer
    from mafrg.extractors.elim import ElimFeatures
    from mafrg.extractors.hsemotion import HSEmotionFeatures
    from mafrg.extractors.megraphau import MEGraphAUFeatures, ResNetTokens

    if stream == "va":
        return ElimFeatures().eval()
    if stream == "fe":
        return HSEmotionFeatures(EfficientNet(template_spec("b2"), tf=True).eval(), pool)
    if stream != "au":
        raise ValueError(f"no published network for stream {stream!r}")
    if backbone in SIZES:
        bb = SwinTransformer(SIZES[backbone])
        width = SIZES[backbone].num_features
        return MEGraphAUFeatures(bb, width, width // 2).eval()
    bb = ResNetTokens(backbone)
    return MEGraphAUFeatures(bb, bb.out_channels, bb.out_channels // 4).eval()
