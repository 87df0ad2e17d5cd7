"""The published face feature extractors, loaded from the files their authors distribute.

| stream | network | feature | module |
|---|---|---|---|
| va (64) | ELIM (AlexNet encoder + regressor) | the regressor's 64-d latent | :mod:`.elim` |
| au (49 x 512) | ME-GraphAU MEFARG (Swin-T/S/B or ResNet backbone) | ``global_linear(backbone(x))`` | :mod:`.megraphau` |
| fe (512) | ResMaskNet (``resmasking_dropout1``; the ReactDiff paper's choice) | pooled masked last stage | :mod:`.resmasknet` |
| fe (1408) | HSEmotion EfficientNet (``enet_b2_8``; what the ReactDiff code loads) | pooled head activation | :mod:`.hsemotion` |

The networks are written in plain torch with the upstream parameter names (no torchvision or timm at run time)
and load with ``strict=True``. :func:`load` recognises a file by its content (:mod:`.reading`): state dicts,
plain or wrapped (``{'epoch', 'state_dict', 'optimizer'}``, ResMaskNet's ``{'net', ...}``) or with ``module.``
prefixes; ELIM's three-file set (a list of files or a folder); HSEmotion's whole pickled model, read without
running its code; and facetorch-style TorchScript predictors, called on their feature sub-modules
(:mod:`.torchscript`). Anything else is an error that says what was found and what is expected.
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


FE_NETWORKS = {"resmasknet": "ResMaskNet", "hsemotion": "HSEmotion's EfficientNet"}


def load(stream: str, weights: str | list[str], pool: str = "max", variant: str = "tf",
         network: str | None = None) -> Loaded:
    """The feature network of a stream's configured weights (eval mode, on the CPU). ``network`` (fe): the
    configured ``features.fe.network``; the file must hold it (it is found from the content, and a mismatch
    says which value to set). None accepts either."""
    from mafrg.extractors import elim, hsemotion, megraphau, reading, resmasknet, torchscript

    def agree(found: str, path: Path) -> None:
        if network is not None and found != network:
            raise WeightsError(f"{path}: holds {FE_NETWORKS[found]}, but features.fe.network is '{network}' "
                               f"({FE_NETWORKS.get(network, 'unknown')}); set it to '{found}'")

    files = weight_files(stream, weights)
    raws = [reading.read(f) for f in files]
    scripts = [r for r in raws if r.script is not None]
    if scripts:
        if len(raws) > 1:
            raise WeightsError(f"features.{stream}.weights: {scripts[0].path} is TorchScript, which holds the "
                               "whole network: give it alone")
        net, how = torchscript.wrap(stream, scripts[0].script, pool)
        if stream == "fe" and isinstance(net, torchscript.FacetorchFE):
            agree("hsemotion", scripts[0].path)  # facetorch's fer predictor is HSEmotion's EfficientNet
        return Loaded(net.eval(), how, files)
    if stream == "va":
        net, what = elim.build([(r.path, r.state_dict) for r in raws])
        layouts = "; ".join(sorted({r.layout for r in raws}))
        return Loaded(net, f"{what} ({layouts})", files)
    raw = raws[0]
    if stream == "au":
        net, what = megraphau.build(raw.state_dict, raw.path)
    elif stream == "fe" and (resmasknet.is_resmasknet(raw.state_dict)
                             or (network == "resmasknet" and not hsemotion.is_efficientnet(raw.state_dict))):
        net, what = resmasknet.build(raw.state_dict, raw.path)  # names what it found when it is neither
        agree("resmasknet", raw.path)
    elif stream == "fe":
        net, what = hsemotion.build(raw.state_dict, raw.path, variant, pool, tree=raw.pickled)
        agree("hsemotion", raw.path)
    else:
        raise WeightsError(f"no extractor for stream {stream!r}")
    return Loaded(net, f"{what} ({raw.layout})", files)


def published(stream: str, backbone: str = "swin_base", pool: str = "max", network: str = "hsemotion"):
    """A stream's published architecture with random weights (for timing and FLOP counts: speed does not
    depend on the weights). ``backbone`` (AU): ``swin_base`` (what ReactDiff used), ``swin_small``,
    ``swin_tiny``, ``resnet50`` or ``resnet18``; ``network`` (FE): ``hsemotion`` (what the ReactDiff code loads,
    and what the recorded benchmark figures time) or ``resmasknet``."""
    from mafrg.backbones.efficientnet import EfficientNet, template_spec
    from mafrg.backbones.resmasking import ResMaskNet
    from mafrg.backbones.swin import SIZES, SwinTransformer
    from mafrg.extractors.elim import ElimFeatures
    from mafrg.extractors.hsemotion import HSEmotionFeatures
    from mafrg.extractors.megraphau import MEGraphAUFeatures, ResNetTokens
    from mafrg.extractors.resmasknet import ResMaskNetFeatures

    if stream == "va":
        return ElimFeatures().eval()
    if stream == "fe" and network == "resmasknet":
        return ResMaskNetFeatures(ResMaskNet().eval())
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
