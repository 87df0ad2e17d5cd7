"""Per-frame visual feature networks: TorchScript checkpoints, or small untrained stand-ins.

The authors' code loads ELIM, ME-GraphAU and the FER network as TorchScript files; mafrg does the same from
paths in ``config.yaml`` and checks at load, with one dummy batch, that a network gives the configured number
of values per frame. ``untrained`` builds a small randomly initialised CNN with the right output size
(deterministic by seed) so that the demo and the tests run without weights; features from it are marked
``untrained`` in every shard and report.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from mafrg.features.config import STREAM_HELP, UNTRAINED
from mafrg.features.wav2vec import WeightsError
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


def weights_identity(path: str, stream: str, seed: int) -> str:
    """What a stream's values depend on besides its settings: the checkpoint's sha256, or for untrained
    stand-ins the seed plus the code that builds them and the torch version (its initialisers draw the weights).

    Without the code part a changed stand-in would keep its identity, and shard reuse would silently keep
    columns computed by the old networks (this happened: features of an earlier stand-in survived a rerun).
    """
    if path == UNTRAINED:
        return f"untrained:{stream}:seed{seed}:code{_untrained_code()}:torch{_torch_version()}"
    p = Path(path)
    if p.is_dir():  # wav2vec2 folder: hash its config and weight files
        import hashlib

        h = hashlib.sha256()
        for f in sorted(p.iterdir()):
            if f.suffix in {".json", ".bin", ".safetensors"}:
                h.update(f.name.encode())
                h.update(_cached_sha(str(f)).encode())
        return f"sha256:{h.hexdigest()}"
    return f"sha256:{_cached_sha(str(p))}"


@lru_cache(maxsize=1)
def _untrained_code() -> str:
    from mafrg.provenance import code_hash

    return code_hash(["features.networks", "features.wav2vec"])[:12]


@lru_cache(maxsize=1)
def _torch_version() -> str:
    from importlib.metadata import version

    return version("torch")


@lru_cache(maxsize=16)
def _cached_sha(path: str) -> str:
    return file_sha256(path)


def check_checkpoint(stream: str, path: str) -> None:
    """Fail at once, before any decoding, when a configured checkpoint is missing."""
    if path == UNTRAINED:
        return
    key = "model_dir" if stream == "wav2vec2" else "checkpoint"
    p = Path(path)
    ok = (p / "config.json").is_file() if stream == "wav2vec2" else p.is_file()
    if not ok:
        raise WeightsError(
            f"features.{stream}.{key}: {p} not found ({stream} stream). Put {STREAM_HELP[stream]} there, "
            f"or set features.{stream}.{key} to 'untrained' (random weights: for demos and tests only)."
        )


def load_visual(stream: str, path: str, dim: int, crop_size: int, seed: int):
    """A network mapping (N, 3, crop, crop) in [-1, 1] to (N, dim) (outputs are flattened per frame)."""
    import torch

    check_checkpoint(stream, path)
    if path == UNTRAINED:
        net = _untrained(stream, dim, seed)
    else:
        try:
            net = torch.jit.load(path, map_location="cpu").eval()
        except Exception as exc:  # noqa: BLE001
            raise WeightsError(f"{path}: cannot be loaded as TorchScript ({stream} stream): {exc}") from exc
    with torch.inference_mode():
        out = net(torch.zeros(2, 3, crop_size, crop_size))
    got = int(out.reshape(2, -1).shape[1]) if out.ndim >= 2 else -1
    if got != dim:
        raise WeightsError(
            f"{path}: the {stream} network gives {got} values per frame (output shape {tuple(out.shape)}), "
            f"features.{stream}.dim expects {dim}"
        )
    return net


def run_visual(net, batch) -> "object":
    import torch

    with torch.inference_mode():
        out = net(batch)
    return out.reshape(out.shape[0], -1).float().numpy()
