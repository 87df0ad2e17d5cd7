"""Video: probing an mp4 or a ``1.png..N.png`` folder, and decoding frames onto the dataset's frame grid.

Frame-rate conversion: grid frame k (time k / fps s) takes the source frame nearest in time,
``round(k * src_fps / fps)``; the grid has ``floor(n_src * fps / src_fps)`` frames, so it never extends past the
last source frame. PNG folders carry no rate and are taken to be on the grid already.

Decoders: decord (random access in batches) where it is installed, else OpenCV's FFmpeg build, which mafrg
depends on anyway: decord publishes no wheel for aarch64 (GH200-type nodes). OpenCV decodes sequentially and
keeps the frames asked for, since seeking by frame number is not exact in every container; both give the same
RGB frames (``tests/test_features_media.py``). ``MAFRG_VIDEO_DECODER=decord|opencv`` forces one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from mafrg.errors import DataError

DECODERS = ("decord", "opencv")
DECODER_ENV = "MAFRG_VIDEO_DECODER"


def decoder() -> str:
    """The video decoder this process uses: ``MAFRG_VIDEO_DECODER``, else decord when it imports, else OpenCV."""
    forced = os.environ.get(DECODER_ENV)
    if forced:
        if forced not in DECODERS:
            raise ValueError(f"{DECODER_ENV}={forced!r}: choose one of {', '.join(DECODERS)}")
        return forced
    try:
        import decord  # noqa: F401
    except ImportError:
        return "opencv"
    return "decord"


def _opencv_capture(path: Path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DataError(f"{path}: video cannot be decoded (corrupt or truncated?): OpenCV cannot open it")
    return cap


def _opencv_frames(path: Path, indices: np.ndarray) -> Iterator[np.ndarray]:
    """RGB frames at non-decreasing source ``indices`` (repeats allowed), in one sequential decoding pass."""
    import cv2

    cap = _opencv_capture(path)
    try:
        pos, frame = -1, None
        for i in (int(k) for k in indices):
            while pos < i:
                ok, frame = cap.read()
                if not ok:
                    raise DataError(f"{path}: video cannot be decoded (corrupt or truncated?): it ends after "
                                    f"{pos + 1} frames, frame {i} was asked for")
                pos += 1
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def _opencv_read(path: Path, indices: np.ndarray) -> np.ndarray:
    """Frames at any source indices (any order): decoded in sorted order, returned in the order asked."""
    idx = np.asarray(indices, np.int64)
    order = np.argsort(idx, kind="stable")
    frames = list(_opencv_frames(path, idx[order]))
    out = np.empty((len(idx), *frames[0].shape), np.uint8)
    out[order] = np.stack(frames)
    return out


def _probe_opencv(path: Path, full_decode: bool) -> tuple[int, float, np.ndarray]:
    import cv2

    cap = _opencv_capture(path)
    n, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), float(cap.get(cv2.CAP_PROP_FPS))
    cap.release()
    if n <= 0:
        raise DataError(f"{path}: video has no frames")
    frame = None
    for frame in _opencv_frames(path, np.arange(n) if full_decode else np.array([0, n - 1])):
        pass
    return n, fps, frame

@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: float
    width: int
    height: int


_PNG_RE = re.compile(r"^(\d+)\.png$")


def probe_video(path: str | Path, full_decode: bool = False) -> VideoInfo:
    """Frame count and geometry of an mp4 or a ``1.png..N.png`` folder, proving it decodes.

    Without ``full_decode`` the first and last frames are decoded: a truncated mp4 whose index still
    claims all frames fails on the last one; ``full_decode`` reads every frame.
    """
    path = Path(path)
    if path.is_dir():
        return _probe_png_folder(path, full_decode)
    if not path.is_file():
        raise DataError(f"{path}: video missing (neither {path.name} nor a PNG folder)")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: video file is empty")
    if decoder() == "opencv":
        n, fps, frame = _probe_opencv(path, full_decode)
        return VideoInfo(frames=n, fps=fps, width=int(frame.shape[1]), height=int(frame.shape[0]))
    import decord

    try:
        vr = decord.VideoReader(str(path), num_threads=1)
        n = len(vr)
        if n == 0:
            raise DataError(f"{path}: video has no frames")
        if full_decode:
            for i in range(n):
                frame = vr[i].asnumpy()
        else:
            frame = vr.get_batch([0, n - 1]).asnumpy()[0]
        h, w = frame.shape[-3:-1]
        fps = float(vr.get_avg_fps())
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - decord raises its own error types for corrupt media
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: video cannot be decoded (corrupt or truncated?): {msg}") from exc
    return VideoInfo(frames=n, fps=fps, width=int(w), height=int(h))


def _probe_png_folder(path: Path, full_decode: bool) -> VideoInfo:
    import cv2

    numbers = sorted(int(m.group(1)) for p in path.iterdir() if (m := _PNG_RE.match(p.name)))
    if not numbers:
        raise DataError(f"{path}: PNG folder has no frames named 1.png ... N.png")
    if numbers != list(range(1, len(numbers) + 1)):
        missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))[:5]
        raise DataError(f"{path}: PNG frames are not contiguous from 1.png (missing e.g. {missing})")
    check = numbers if full_decode else [numbers[0], numbers[-1]]
    shape = None
    for k in check:
        img = cv2.imread(str(path / f"{k}.png"), cv2.IMREAD_COLOR)
        if img is None:
            raise DataError(f"{path / f'{k}.png'}: PNG frame cannot be decoded")
        shape = img.shape
    assert shape is not None
    return VideoInfo(frames=len(numbers), fps=float("nan"), width=int(shape[1]), height=int(shape[0]))


@dataclass(frozen=True)
class GridPlan:
    source_frames: int
    source_fps: float
    indices: np.ndarray  # source frame index of each grid frame

    @property
    def frames(self) -> int:
        return len(self.indices)

    @property
    def resampled(self) -> bool:
        return self.frames != self.source_frames or not np.array_equal(self.indices, np.arange(self.frames))


def grid_indices(n_src: int, src_fps: float, fps: int) -> np.ndarray:
    if not np.isfinite(src_fps) or src_fps <= 0 or abs(src_fps - fps) < 1e-3:
        return np.arange(n_src)
    n = int(np.floor(n_src * fps / src_fps + 1e-9))
    return np.minimum(np.rint(np.arange(n) * src_fps / fps).astype(np.int64), n_src - 1)


def plan_grid(path: str | Path, fps: int) -> GridPlan:
    info = probe_video(path)
    idx = grid_indices(info.frames, info.fps, fps)
    if len(idx) == 0:
        raise DataError(f"{path}: no frames on the {fps} fps grid")
    return GridPlan(info.frames, info.fps, idx)


def read_frames(path: str | Path, indices: np.ndarray) -> np.ndarray:
    """RGB uint8 frames (n, H, W, 3) at the given source indices, from an mp4 or a PNG folder."""
    path = Path(path)
    if path.is_dir():
        import cv2

        out = []
        for i in indices:
            img = cv2.imread(str(path / f"{int(i) + 1}.png"), cv2.IMREAD_COLOR)
            if img is None:
                raise DataError(f"{path / f'{int(i) + 1}.png'}: PNG frame cannot be decoded")
            out.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        return np.stack(out)
    if decoder() == "opencv":
        return _opencv_read(path, indices)
    import decord

    try:
        vr = decord.VideoReader(str(path), num_threads=1)
        return vr.get_batch([int(i) for i in indices]).asnumpy()
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{path}: video cannot be decoded (corrupt or truncated?): {exc}") from exc


def iter_frame_batches(path: str | Path, plan: GridPlan, batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
    """(start grid frame, RGB uint8 batch) over the whole grid. One decoder pass, never frame by frame."""
    path = Path(path)
    if path.is_dir():
        for s in range(0, plan.frames, batch_size):
            yield s, read_frames(path, plan.indices[s : s + batch_size])
        return
    if decoder() == "opencv":  # grid indices never decrease: one sequential pass
        frames = _opencv_frames(path, plan.indices)
        for s in range(0, plan.frames, batch_size):
            yield s, np.stack([next(frames) for _ in range(min(batch_size, plan.frames - s))])
        return
    import decord

    try:
        vr = decord.VideoReader(str(path), num_threads=1)
        for s in range(0, plan.frames, batch_size):
            yield s, vr.get_batch([int(i) for i in plan.indices[s : s + batch_size]]).asnumpy()
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{path}: video cannot be decoded (corrupt or truncated?): {exc}") from exc


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
