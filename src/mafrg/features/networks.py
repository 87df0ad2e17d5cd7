"""Per-frame visual feature networks: the published extractors, or small untrained stand-ins.

Real weight files load through :mod:`mafrg.extractors` in the formats their authors distribute (state dicts,
ELIM's three files, ResMaskNet's checkpoint, HSEmotion's pickled model, facetorch's TorchScript predictors), from paths in
``config.yaml``; at load one dummy batch checks that the network gives the configured number of values per
frame. ``untrained`` builds a small random network with the right output size (deterministic by seed) so that
the demo and the tests run without weights; features from it are marked ``untrained`` in every feature file and report.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from mafrg.features.config import STREAM_HELP, UNTRAINED, WEIGHTED_STREAMS, FeatureConfig
from mafrg.extractors.errors import WeightsError
from mafrg.provenance import file_sha256

log = logging.getLogger(__name__)
_STREAM_SEED_OFFSET = {"va": 101, "au": 202, "fe": 303, "wav2vec2": 404}


def stream_seed(stream: str, seed: int) -> int:
    """The seed of a stream's untrained network: distinct per stream for one configured seed."""
    return seed + _STREAM_SEED_OFFSET[stream]


def _untrained(stream: str, dim: int, seed: int):
    """A small random network with the stream's output size that keeps the image's information.

    Random *linear* features of a downsampled face (a fixed random projection, as in Johnson-Lindenstrauss)
    preserve its geometry, so expression changes stay decodable; deep random conv stacks with global pooling
    do not (measured: a linear probe on them explained none of the valence/AU variance of the demo data).
    AU gives 7 x 7 spatial tokens (a random projection of each 8 x 8 patch of a 56 x 56 image), token-major like
    ME-GraphAU; VA and FE project the whole downsampled image.
    """
    import torch
    from torch import nn

    class RandomFeatures(nn.Module):
        def __init__(self, dim: int, tokens: bool):
            super().__init__()
            self.tokens = tokens
            if tokens:
                self.pool = nn.AdaptiveAvgPool2d(56)
                self.proj = nn.Conv2d(3, dim // 49, kernel_size=8, stride=8)
            else:
                side = 16 if dim <= 256 else 24
                self.pool = nn.AdaptiveAvgPool2d(side)
                self.proj = nn.Linear(3 * side * side, dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.pool(x)
            if self.tokens:
                return self.proj(h).flatten(2).transpose(1, 2).flatten(1)
            return self.proj(h.flatten(1))

    tokens = stream == "au"
    if tokens and dim % 49:
        raise WeightsError(f"features.au.dim must be a multiple of 49 (7 x 7 tokens), got {dim}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(stream, seed))
        net = RandomFeatures(dim, tokens)
    return net.eval()


def weights_identity(path: str | list[str], stream: str, seed: int) -> str:
    """What a stream's values depend on besides its settings: the weights' sha256 (of each file, for a set
    of files or a folder), or for untrained stand-ins the seed plus the code that builds them and the torch
    version (its initialisers draw the weights).

    Without the code part a changed stand-in would keep its identity, and feature file reuse would silently keep
    columns computed by the old networks (this happened: features of an earlier stand-in survived a rerun).
    """
    import hashlib

    if path == UNTRAINED:
        return f"untrained:{stream}:seed{seed}:code{_untrained_code()}:torch{_torch_version()}"
    if stream.startswith("wav2vec2"):  # folder: hash its config and weight files
        files = [f for f in sorted(Path(path).iterdir()) if f.suffix in {".json", ".bin", ".safetensors"}]
    else:
        from mafrg.extractors import weight_files

        files = weight_files(stream, path)
        if len(files) == 1:
            return f"sha256:{_cached_sha(str(files[0]))}"
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(_cached_sha(str(f)).encode())
    return f"sha256:{h.hexdigest()}"


@lru_cache(maxsize=1)
def _untrained_code() -> str:
    from mafrg.codehash import code_hash

    return code_hash(["mafrg.features.networks", "mafrg.features.wav2vec"])[:12]


@lru_cache(maxsize=1)
def _torch_version() -> str:
    from importlib.metadata import version

    return version("torch")


@lru_cache(maxsize=16)
def _cached_sha(path: str) -> str:
    return file_sha256(path)


def check_stream_weights(stream: str, path: str | list[str]) -> None:
    """Fail at once, before any decoding, when the configured weights is missing."""
    if path == UNTRAINED:
        return
    if stream.startswith("wav2vec2"):
        p = Path(path)
        if not (p / "config.json").is_file():
            raise WeightsError(f"features.wav2vec2.model_dir: {p} not found (wav2vec2 stream). Put "
                               f"{STREAM_HELP['wav2vec2']} there, or set it to 'untrained' (random weights: for "
                               "demos and tests only).")
        return
    for p in map(Path, [path] if isinstance(path, str) else path):
        if not p.exists():
            raise WeightsError(
                f"features.{stream}.weights: {p} not found ({stream} stream). Put {STREAM_HELP[stream]} there, "
                f"or set features.{stream}.weights to 'untrained' (random weights: for demos and tests only)."
            )


def check_weights(fcfg: FeatureConfig) -> None:
    """check_stream_weights for every enabled stream that has weights."""
    for s in fcfg.enabled():
        if s in WEIGHTED_STREAMS:
            check_stream_weights(s, fcfg.weights_path(s))


def load_visual(stream: str, fcfg: FeatureConfig) -> tuple[object, str]:
    """The stream's network, mapping its preprocessed batch (N, 3, S, S) to (N, dim), and the format found."""
    import torch

    st = getattr(fcfg, stream)
    path = st.weights
    check_stream_weights(stream, path)
    if path == UNTRAINED:
        net, fmt = _untrained(stream, st.dim, fcfg.untrained_seed), "untrained stand-in"
    else:
        from mafrg import extractors

        loaded = extractors.load(stream, path, pool=getattr(st, "pool", "max"), variant=getattr(st, "variant", "tf"),
                                 network=getattr(st, "network", None))
        net, fmt = loaded.net, loaded.format
    dev = visual_device(fcfg.device)
    net = net.to(dev)
    size = fcfg.preprocessing(stream).geometry.crop
    with torch.inference_mode():
        try:
            out = net(torch.zeros(2, 3, size, size, device=dev))
        except Exception as exc:  # noqa: BLE001
            raise WeightsError(f"{path}: the {stream} network ({fmt}) fails on a {size} x {size} input: {exc}") from exc
    got = int(out.reshape(2, -1).shape[1]) if out.ndim >= 2 else -1
    if got != st.dim:
        raise WeightsError(
            f"{path}: the {stream} network ({fmt}) gives {got} values per frame (output shape {tuple(out.shape)}), "
            f"features.{stream}.dim expects {st.dim}"
        )
    return net, fmt


def visual_device(name: str):
    """The torch device of ``features.device`` (:func:`mafrg.devices.resolve`: TF32 off on a GPU)."""
    from mafrg.devices import resolve

    try:
        return resolve(name, "features.device")
    except (RuntimeError, ValueError) as exc:
        raise WeightsError(str(exc)) from exc


def run_visual(net, batch, device: str = "cpu") -> "object":
    import torch

    with torch.inference_mode():
        out = net(batch.to(device, non_blocking=True))
    return out.reshape(out.shape[0], -1).float().cpu().numpy()
