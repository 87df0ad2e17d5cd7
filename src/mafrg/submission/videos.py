"""Rendered reactions for the organisers: the speaker's video beside a few generated reactions, with the
speaker's audio, as H.264/AAC mp4 (ffmpeg muxes the audio; the frames come from mafrg's 3DMM renderer)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from mafrg.atomic import atomic_path

PANEL = 256


def ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("rendering submission videos needs ffmpeg (apt-get install ffmpeg; `make run` installs "
                           "it), or set submission.videos to [] to skip the videos")
    return exe


def _label(img: np.ndarray, text: str) -> None:
    import cv2

    cv2.putText(img, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.putText(img, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 1, cv2.LINE_AA)


def side_by_side_frames(speaker_rgb: np.ndarray, reactions_3dmm: np.ndarray):
    """Yield BGR frames: the speaker (T, H, W, 3) RGB panel, then one rendered panel per reaction (k, T, 58)."""
    from mafrg.render import render_frame

    for t in range(reactions_3dmm.shape[1]):
        panels = [np.ascontiguousarray(speaker_rgb[t, :, :, ::-1])]
        _label(panels[0], "speaker")
        for k in range(reactions_3dmm.shape[0]):
            p = render_frame(reactions_3dmm[k, t], None, PANEL)
            _label(p, f"reaction {k + 1}")
            panels.append(p)
        yield np.concatenate(panels, axis=1)


def render_video(video: str | Path, audio: str | Path, reactions_3dmm: np.ndarray, fps: int, out: str | Path) -> int:
    """Write ``out`` (atomically); returns its frame count. Missing or unreadable media raise naming the file."""
    from mafrg.media.video import grid_frames
    from mafrg.render import write_mp4

    audio = Path(audio)
    if not audio.is_file():
        raise FileNotFoundError(f"{audio}: the speaker's audio is missing (needed for the submission video)")
    frames = reactions_3dmm.shape[1]
    speaker = grid_frames(video, frames, PANEL, fps)
    exe = ffmpeg()
    with tempfile.TemporaryDirectory(prefix="mafrg-video-") as tmpdir:
        silent = Path(tmpdir) / "silent.mp4"
        n = write_mp4(side_by_side_frames(speaker, reactions_3dmm), silent, fps)
        with atomic_path(out, suffix=".mp4") as tmp:
            cmd = [exe, "-nostdin", "-loglevel", "error", "-y", "-i", str(silent), "-i", str(audio),
                   "-map", "0:v:0", "-map", "1:a:0", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast",
                   "-crf", "23", "-c:a", "aac", "-b:a", "96k", "-t", f"{frames / fps:.6f}", "-fflags", "+bitexact",
                   "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1", "-f", "mp4", str(tmp)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(f"ffmpeg could not write {out} from {video} and {audio}: {res.stderr.strip()[-500:]}")
    return n
