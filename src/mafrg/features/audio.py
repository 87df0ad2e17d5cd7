"""MFCC, one vector per video frame, from audio aligned to the frames (:mod:`mafrg.media.audio`)."""

from __future__ import annotations

import numpy as np

from mafrg.media.audio import AlignedAudio, frame_window


def mfcc_per_frame(audio: AlignedAudio, num_ceps: int, num_mel_bins: int, use_energy: bool,
                   waveform_scale: float = 1.0, energy_floor: float = 1.0) -> np.ndarray:
    """Kaldi MFCC, one vector per video frame: frame t's window is the ``ceil(rate / fps)`` samples that end at its
    last sample (``b_{t+1}``; zero-padded before the clip's start), so it covers the frame plus at most one sample
    of the previous one at fractional rates, and never a sample after the frame: the stream is causal at any
    rate. Where frames own whole samples the windows are exactly the frames (frame length = shift)."""
    import torch
    from mafrg.torchaudio_import import load_torchaudio

    load_torchaudio()
    from torchaudio.compliance.kaldi import mfcc

    window = frame_window(audio.sample_rate, audio.fps)
    bounds = audio.bounds
    n = len(bounds) - 1
    if window * audio.fps == audio.sample_rate:
        x = audio.samples[: n * window]
    else:  # windows of one length laid end to end: Kaldi then frames them with length = shift = window
        padded = np.concatenate([np.zeros(window, np.float32), audio.samples])
        x = padded[bounds[1:, None] + np.arange(window)].reshape(-1)
    ms = 1000.0 * window / audio.sample_rate
    wav = torch.from_numpy(np.ascontiguousarray(x))[None] * waveform_scale
    feats = mfcc(wav, sample_frequency=float(audio.sample_rate), frame_length=ms, frame_shift=ms,
                 num_ceps=num_ceps, num_mel_bins=num_mel_bins, use_energy=use_energy, snip_edges=True,
                 dither=0.0, energy_floor=energy_floor)
    if feats.shape[0] != n:
        raise RuntimeError(f"MFCC produced {feats.shape[0]} frames for {n} video frames")
    return feats.numpy().astype(np.float32)
