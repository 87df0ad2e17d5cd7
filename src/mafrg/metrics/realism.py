"""Realism: FRRea (FID of rendered reactions against real listener frames) and its renderer-free stand-in.

FRRea as the REACT challenge defines it: the Fréchet Inception Distance between real listener face frames and
frames rendered from the predicted 3DMM coefficients, using each row's *first* prediction and every 30th frame,
on InceptionV3 pool3 features (2048-d). mafrg renders with its own renderer (:mod:`mafrg.render`, neutral
identity) and loads the image network from a configured local TorchScript file (nothing is downloaded); it
must map (N, 3, S, S) RGB in [-1, 1] to (N, dim) features. Without such a file FRRea is reported as not
available, and ``FD_behaviour`` is computed instead: the Fréchet distance between predicted and real
*frames in emotion + 3DMM space* (25 + 58 values, same frame sampling). It measures the same kind of thing
(distribution realism) but is a different number and is always labelled as such.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from mafrg.metrics.listener import frechet_distance, gaussian_fit

log = logging.getLogger(__name__)
NOT_AVAILABLE = "none"


class RealismError(ValueError):
    pass


def sampled(x: np.ndarray, stride: int) -> np.ndarray:
    """Frames 0, stride, 2 stride, ... of (..., T, C) sequences, flattened to (n, C)."""
    return np.asarray(x)[..., ::stride, :].reshape(-1, x.shape[-1])


def behaviour_fd(pred_emotion: np.ndarray, pred_3dmm: np.ndarray, real_emotion: np.ndarray, real_3dmm: np.ndarray,
                 stride: int = 30) -> float:
    """Fréchet distance in emotion + 3DMM space (pred: first prediction of each row, (R, T, .); real: (R, T, .))."""
    fake = np.concatenate([sampled(pred_emotion, stride), sampled(pred_3dmm, stride)], axis=1).astype(np.float64)
    real = np.concatenate([sampled(real_emotion, stride), sampled(real_3dmm, stride)], axis=1).astype(np.float64)
    return frechet_distance(*gaussian_fit(fake), *gaussian_fit(real))


def load_image_net(path: str, image_size: int, dim: int):
    """The FRRea feature network from a TorchScript file, checked with one dummy batch."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise RealismError(f"evaluation.frrea_weights: {p} not found (a TorchScript InceptionV3 pool3 network "
                           f"giving {dim} values per image; or 'none' to report FD_behaviour instead)")
    try:
        net = torch.jit.load(str(p), map_location="cpu").eval()
    except Exception as exc:  # noqa: BLE001
        raise RealismError(f"{p}: cannot be loaded as TorchScript: {exc}") from exc
    with torch.inference_mode():
        out = net(torch.zeros(2, 3, image_size, image_size))
    if out.reshape(2, -1).shape[1] != dim:
        raise RealismError(f"{p}: gives {out.reshape(2, -1).shape[1]} values per image, evaluation.frrea_dim is {dim}")
    return net


def image_features(net, frames: Iterable[np.ndarray], image_size: int, batch: int = 32) -> np.ndarray:
    """(n, dim) features of RGB uint8 frames (resized to image_size, scaled to [-1, 1])."""
    import cv2
    import torch

    feats, buf = [], []

    def flush():
        x = torch.from_numpy(np.stack(buf)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        with torch.inference_mode():
            feats.append(net(x).reshape(len(buf), -1).double().numpy())
        buf.clear()

    for f in frames:
        buf.append(cv2.resize(f, (image_size, image_size), interpolation=cv2.INTER_AREA))
        if len(buf) == batch:
            flush()
    if buf:
        flush()
    if not feats:
        raise RealismError("no frames to compute FRRea on")
    return np.concatenate(feats)


def rendered_frames(pred_3dmm_first: np.ndarray, stride: int, size: int) -> Iterator[np.ndarray]:
    """RGB frames rendered (neutral identity) from every stride-th frame of each row's first prediction."""
    from mafrg.render import render_frame

    for seq in pred_3dmm_first:
        for coeffs in seq[::stride]:
            yield render_frame(coeffs, None, size)[..., ::-1]  # renderer gives BGR


def real_frames(videos: Iterable[str | Path], frames: int, stride: int, fps: int) -> Iterator[np.ndarray]:
    """RGB frames 0, stride, ... (of the fps grid) of each real listener video."""
    from mafrg.media.video import plan_grid, read_frames

    for v in videos:
        plan = plan_grid(v, fps)
        grid = plan.indices[:frames][::stride]
        yield from read_frames(v, grid)


def frrea(net, real: Iterable[np.ndarray], fake: Iterable[np.ndarray], image_size: int) -> float:
    fr = image_features(net, real, image_size)
    ff = image_features(net, fake, image_size)
    return frechet_distance(*gaussian_fit(ff), *gaussian_fit(fr))
