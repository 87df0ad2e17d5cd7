"""Audio: probing a file, and loading it onto the video's frame grid: 16 kHz mono, video frame t owning
samples ``[b_t, b_t+1)``.

Frame boundaries are exact at any frame rate: ``b_t = floor(t * sample_rate / fps)`` in integer arithmetic, so
a frame owns 640 samples at 16 kHz / 25 fps, and 533 or 534 at 30 fps (16,000 / 30 is not whole) with no drift
over any number of frames (frame 20,000 starts at sample 10,666,666 at 30 fps, as 20,000 / 30 s says).

Alignment rule (docs/features.md): after resampling, the audio is trimmed at the end, or padded at the end with
zeros, to ``b_frames`` samples. If it differs from that by more than one frame's worth, the clip is an error:
audio and video do not belong together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from mafrg.errors import DataError

log = logging.getLogger(__name__)
SILENCE_RMS = 1e-4  # below -80 dBFS the track carries no usable sound


@dataclass(frozen=True)
class AudioInfo:
    samples: int
    sample_rate: int
    channels: int

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate


def probe_audio(path: str | Path) -> AudioInfo:
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: audio file missing")
    try:
        info = sf.info(str(path))
        with sf.SoundFile(str(path)) as fh:  # read the tail: a truncated data chunk fails here
            if info.frames > 0:
                fh.seek(max(0, info.frames - 1024))
                fh.read(1024)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{path}: audio cannot be read ({exc})") from exc
    if info.frames == 0:
        raise DataError(f"{path}: audio has no samples")
    return AudioInfo(samples=int(info.frames), sample_rate=int(info.samplerate), channels=int(info.channels))


@dataclass
class AlignedAudio:
    samples: np.ndarray  # float32 mono at sample_rate, len == bounds[-1]
    sample_rate: int
    fps: int
    frames: int  # video frames the samples cover
    source_rate: int
    source_seconds: float
    adjusted_samples: int  # >0 padded, <0 trimmed
    silent: bool

    @property
    def bounds(self) -> np.ndarray:
        """(frames + 1,) sample boundaries of the video frames (:func:`frame_bounds`)."""
        return frame_bounds(self.frames, self.sample_rate, self.fps)

    @property
    def samples_per_frame(self) -> int:
        """Samples per video frame where that is whole (640 at 16 kHz / 25 fps); otherwise use :attr:`bounds`."""
        return samples_per_frame(self.sample_rate, self.fps)


def samples_per_frame(sample_rate: int, fps: int) -> int:
    """Whole samples per frame; an error at rates where frames own different counts (16 kHz at 30 fps)."""
    if sample_rate % fps:
        raise ValueError(f"sample rate {sample_rate} is not a whole number of samples per frame at {fps} fps "
                         "(frames own floor(t * rate / fps) .. floor((t + 1) * rate / fps): use frame_bounds)")
    return sample_rate // fps


def frame_bounds(frames: int, sample_rate: int, fps: int) -> np.ndarray:
    """``b_t = floor(t * sample_rate / fps)`` for t = 0..frames, in exact integer arithmetic (no drift)."""
    return (np.arange(frames + 1, dtype=np.int64) * sample_rate) // fps


def frame_window(sample_rate: int, fps: int) -> int:
    """The longest frame in samples: ``ceil(sample_rate / fps)`` (the analysis window of per-frame features)."""
    return -(-sample_rate // fps)


def load_audio(path: str | Path, sample_rate: int) -> tuple[np.ndarray, int, float]:
    """Mono float32 at ``sample_rate`` (polyphase resampling), the source rate and duration."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: audio file missing")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{path}: audio cannot be read ({exc})") from exc
    if data.shape[0] == 0:
        raise DataError(f"{path}: audio has no samples")
    mono = data.mean(axis=1)
    if sr != sample_rate:
        from scipy.signal import resample_poly

        g = gcd(sr, sample_rate)
        mono = resample_poly(mono, sample_rate // g, sr // g).astype(np.float32)
    return mono, sr, data.shape[0] / sr


def align_audio(path: str | Path, frames: int, fps: int, sample_rate: int) -> AlignedAudio:
    mono, sr, seconds = load_audio(path, sample_rate)
    target = int(frame_bounds(frames, sample_rate, fps)[-1])
    diff = len(mono) - target
    if abs(diff) > frame_window(sample_rate, fps):
        raise DataError(
            f"{path}: audio is {len(mono) * fps / sample_rate:.2f} frames long, video {frames} frames on the {fps} "
            "fps grid; they differ by more than one frame"
        )
    if diff > 0:
        mono = mono[:target]
    elif diff < 0:
        mono = np.concatenate([mono, np.zeros(-diff, np.float32)])
    rms = float(np.sqrt(np.mean(mono.astype(np.float64) ** 2)))
    silent = rms < SILENCE_RMS
    if silent:
        log.warning("%s: audio is silent (RMS %.2e); audio features describe silence", path, rms)
    return AlignedAudio(mono.astype(np.float32), sample_rate, fps, frames, sr, seconds, -diff, silent)


