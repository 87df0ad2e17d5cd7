"""Raw speaker media for end-to-end methods: video frames on the fps grid at a small square size."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def resize_square(frames: np.ndarray, size: int) -> np.ndarray:
    """uint8 (n, H, W, 3) -> (n, size, size, 3): shorter side to ``size`` (antialiased bilinear), centre crop."""
    import torch
    import torch.nn.functional as F

    n, h, w, _ = frames.shape
    scale = size / min(h, w)
    new = (max(size, round(h * scale)), max(size, round(w * scale)))
    if new != (h, w):
        t = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
        t = F.interpolate(t, size=new, mode="bilinear", align_corners=False, antialias=True)
        frames = t.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    top, left = (frames.shape[1] - size) // 2, (frames.shape[2] - size) // 2
    return np.ascontiguousarray(frames[:, top : top + size, left : left + size])


def grid_frames(video: str | Path, frames: int, size: int, fps: int, batch: int = 64) -> np.ndarray:
    """The first ``frames`` frames of a video on the ``fps`` grid as (frames, size, size, 3) uint8; a shorter
    video repeats its last frame (as the assembled arrays do with ``pad_short``)."""
    from mafrg.features.video import iter_frame_batches, plan_grid

    plan = plan_grid(video, fps)
    out = np.empty((frames, size, size, 3), np.uint8)
    n = 0
    for start, batch_frames in iter_frame_batches(video, plan, batch):
        if start >= frames:
            break
        take = batch_frames[: frames - start]
        out[start : start + len(take)] = resize_square(take, size)
        n = start + len(take)
    if n == 0:
        raise ValueError(f"{video}: no frames decoded")
    out[n:] = out[n - 1]
    return out
