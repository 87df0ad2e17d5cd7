"""The visual streams' preprocessing, in batches (frames decoded on the grid by :mod:`mafrg.media.video`).

Preprocessing (:mod:`mafrg.features.preprocess` names it per stream): optionally a face crop, then a resize
(bilinear, antialiased) and a centre crop on uint8, then per-channel normalisation. The ReactDiff authors'
transform: shorter side to 256, centre crop 224, mean 0.5 / std 0.5 -> [-1, 1].
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from mafrg.media.video import GridPlan, read_frames

log = logging.getLogger(__name__)


def face_box(path: str | Path, plan: GridPlan, margin: float, samples: int = 16) -> tuple[int, int, int, int] | None:
    """One square crop box (x0, y0, x1, y1) for the clip: the median of the largest Haar-cascade face on up to
    ``samples`` evenly spaced frames, scaled by ``margin``. A single box keeps the crop stable over time.
    None when no frame shows a face."""
    import cv2

    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))
    if cascade.empty():
        raise RuntimeError("OpenCV's Haar cascade haarcascade_frontalface_default.xml is missing (opencv 4.x needed)")
    pick = np.unique(np.linspace(0, plan.frames - 1, min(samples, plan.frames)).astype(int))
    frames = read_frames(path, plan.indices[pick])
    boxes = []
    for f in frames:
        gray = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
        found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
        if len(found):
            x, y, w, h = max(found, key=lambda b: b[2] * b[3])
            boxes.append((x + w / 2, y + h / 2, max(w, h)))
    if not boxes:
        return None
    cx, cy, size = np.median(np.array(boxes), axis=0)
    half = size * margin / 2
    h, w = frames.shape[1:3]
    half = min(half, cx, cy, w - cx, h - cy, max(w, h))  # keep the box inside the frame
    return int(round(cx - half)), int(round(cy - half)), int(round(cx + half)), int(round(cy + half))


def normalise(frames: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...], channels: str = "rgb"):
    """uint8 RGB (n, S, S, 3) -> float32 tensor (n, 3, S, S) = (v / 255 - mean) / std per channel, the channels
    in ``channels`` order (``bgr`` for networks trained on OpenCV's frames; mean and std in that order too).

    Computed as ``v * (1 / (255 std)) - mean / std`` in two in-place passes over one float buffer. For
    mean = std = 0.5 that is ``v * 2/255 - 1``, bit for bit the values of mafrg's earlier single-normalisation
    code, so feature files computed before per-stream preprocessing existed keep their values.
    (A numba kernel was 5x faster per batch, but loading its compiled code took 0.7 s in every extraction job:
    more than a whole 250-frame clip's crops.)"""
    import torch

    view = torch.from_numpy(frames).permute(0, 3, 1, 2)
    if channels == "bgr":
        view = view.flip(1)
    elif channels != "rgb":
        raise ValueError(f"channels must be rgb or bgr, got {channels!r}")
    out = torch.empty(view.shape, dtype=torch.float32)
    out.copy_(view)
    scale = torch.tensor([1.0 / (255.0 * s) for s in std], dtype=torch.float32).view(1, 3, 1, 1)
    shift = torch.tensor([m / s for m, s in zip(mean, std)], dtype=torch.float32).view(1, 3, 1, 1)
    return out.mul_(scale).sub_(shift)


def crop_frames(frames: np.ndarray, resize: int, crop: int, square: bool = False,
                box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """uint8 RGB (n, H, W, 3) -> uint8 (n, crop, crop, 3): optional face box, resize, centre crop.

    The resize (shorter side to ``resize``, or both sides when ``square``; skipped when the frame already has
    that size) runs on uint8 with torch's antialiased bilinear kernel -- like the PIL pipeline of the authors'
    torchvision transforms, whose resized image is uint8 too.
    """
    import torch
    import torch.nn.functional as F

    if box is not None:
        x0, y0, x1, y1 = box
        frames = frames[:, y0:y1, x0:x1]
    h, w = frames.shape[1:3]
    if square:
        size = (resize, resize)
    else:
        scale = resize / min(h, w)
        size = (max(crop, round(h * scale)), max(crop, round(w * scale)))
    if size != (h, w):
        t = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)  # channels-last view, no copy
        t = F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=True)
        frames = t.permute(0, 2, 3, 1).numpy()
    top = (frames.shape[1] - crop) // 2
    left = (frames.shape[2] - crop) // 2
    return frames[:, top : top + crop, left : left + crop]


def preprocess(frames: np.ndarray, image_size: int, crop_size: int,
               box: tuple[int, int, int, int] | None = None):
    """uint8 RGB (n, H, W, 3) -> float32 tensor (n, 3, crop, crop) in [-1, 1]: the ReactDiff authors' transform
    (shorter side to ``image_size``, centre crop, mean = std = 0.5)."""
    from mafrg.features.preprocess import HALF

    return normalise(crop_frames(frames, image_size, crop_size, box=box), *HALF)
