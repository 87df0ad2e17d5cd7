"""Audio onto the video's frame grid: 16 kHz mono, exactly ``frames * sample_rate / fps`` samples.

Alignment rule (docs/features.md): after resampling, the audio is trimmed at the end, or padded at the
end with zeros, to ``frames`` video frames' worth of samples (640 per frame at 16 kHz / 25 fps). If it differs
from that by more than one frame's worth, the clip is an error: audio and video do not belong together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from mafrg.data.readers import DataError

log = logging.getLogger(__name__)
SILENCE_RMS = 1e-4  # below -80 dBFS the track carries no usable sound


@dataclass
class AlignedAudio:
    samples: np.ndarray  # float32 mono at sample_rate, len == frames * samples_per_frame
    sample_rate: int
    samples_per_frame: int
    source_rate: int
    source_seconds: float
    adjusted_samples: int  # >0 padded, <0 trimmed
    silent: bool


def samples_per_frame(sample_rate: int, fps: int) -> int:
    if sample_rate % fps:
        raise ValueError(f"sample rate {sample_rate} is not a whole number of samples per frame at {fps} fps")
    return sample_rate // fps


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
    spf = samples_per_frame(sample_rate, fps)
    target = frames * spf
    diff = len(mono) - target
    if abs(diff) > spf:
        raise DataError(
            f"{path}: audio is {len(mono) / spf:.2f} frames long, video {frames} frames on the {fps} fps grid; "
            "they differ by more than one frame"
        )
    if diff > 0:
        mono = mono[:target]
    elif diff < 0:
        mono = np.concatenate([mono, np.zeros(-diff, np.float32)])
    rms = float(np.sqrt(np.mean(mono.astype(np.float64) ** 2)))
    silent = rms < SILENCE_RMS
    if silent:
        log.warning("%s: audio is silent (RMS %.2e); audio features describe silence", path, rms)
    return AlignedAudio(mono.astype(np.float32), sample_rate, spf, sr, seconds, -diff, silent)


def mfcc_per_frame(audio: AlignedAudio, num_ceps: int, num_mel_bins: int, use_energy: bool,
                   waveform_scale: float = 1.0, energy_floor: float = 1.0) -> np.ndarray:
    """Kaldi MFCC with frame length = frame shift = one video frame: exactly one vector per frame."""
    import torch
    from torchaudio.compliance.kaldi import mfcc

    ms = 1000.0 * audio.samples_per_frame / audio.sample_rate
    wav = torch.from_numpy(audio.samples)[None] * waveform_scale
    feats = mfcc(wav, sample_frequency=float(audio.sample_rate), frame_length=ms, frame_shift=ms,
                 num_ceps=num_ceps, num_mel_bins=num_mel_bins, use_energy=use_energy, snip_edges=True,
                 dither=0.0, energy_floor=energy_floor)
    n = len(audio.samples) // audio.samples_per_frame
    if feats.shape[0] != n:
        raise RuntimeError(f"MFCC produced {feats.shape[0]} frames for {n} video frames")
    return feats.numpy().astype(np.float32)
