"""Speech for the demo dataset: espeak-ng when installed, else a procedural voiced signal.

Audio must line up with the speaking mask that also drives AU25/AU26, so each utterance is synthesised
separately and fitted (trimmed, or padded with silence) into its interval of the mask.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter, resample_poly

_WORDS = (
    "we could meet again next week and talk about the plan in more detail "
    "I really think the project is going well but there are some risks "
    "that sounds interesting tell me more about how you found it "
    "yesterday the weather was lovely so we walked along the river "
    "honestly I am not sure that is the best way to handle it "
    "the results surprised everyone including the team itself"
).split()


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak_version() -> str | None:
    if not espeak_available():
        return None
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True)
    return out.stdout.strip() or None


def _espeak(text: str, pitch: int, speed: int, sample_rate: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as td:
        wav = Path(td) / "u.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en", "-s", str(speed), "-p", str(pitch), "-w", str(wav), text],
            check=True, capture_output=True,
        )
        data, sr = sf.read(wav, dtype="float64")
    if data.ndim > 1:
        data = data.mean(axis=1)
    g = gcd(sr, sample_rate)
    return resample_poly(data, sample_rate // g, sr // g)


def _procedural(rng: np.random.Generator, n: int, sample_rate: int, f0: float) -> np.ndarray:
    """Glottal pulse train with a falling pitch contour, shaped by moving vowel formants and syllables."""
    t = np.arange(n) / sample_rate
    pitch = f0 * (1.1 - 0.2 * t / max(t[-1], 1e-6)) * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))
    phase = np.cumsum(pitch / sample_rate)
    source = (phase % 1.0) ** 3 - 0.25  # asymmetric glottal-like pulse
    out = np.zeros(n)
    seg = int(0.2 * sample_rate)
    vowels = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (640, 1190, 2390))
    for start in range(0, n, seg):
        piece = source[start : start + seg]
        formants = vowels[rng.integers(len(vowels))]
        y = np.zeros_like(piece)
        for f, bw in zip(formants, (80, 100, 120)):
            r = np.exp(-np.pi * bw / sample_rate)
            theta = 2 * np.pi * f / sample_rate
            y += lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], piece)
        out[start : start + len(piece)] = y
    syll = (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(4, 5) * t)) ** 2
    out *= syll
    out += rng.normal(0, 0.002, n)
    return out / (np.abs(out).max() + 1e-9) * 0.5


def speech_track(
    rng: np.random.Generator, speaking: np.ndarray, fps: float, sample_rate: int, method: str,
    pitch: int = 50,
) -> np.ndarray:
    """Mono float32 track, speech inside the speaking mask and low room noise elsewhere."""
    n = int(round(len(speaking) / fps * sample_rate))
    track = rng.normal(0.0, 3e-4, n)  # room tone: never digital silence
    edges = np.flatnonzero(np.diff(np.concatenate([[0], speaking.astype(int), [0]])))
    for s, e in zip(edges[::2], edges[1::2]):
        a, b = int(s / fps * sample_rate), min(n, int(e / fps * sample_rate))
        if b <= a:
            continue
        if method == "espeak":
            k = int(rng.integers(5, 10))
            start = int(rng.integers(0, len(_WORDS) - k))
            words = " ".join(_WORDS[start : start + k])
            speed = int(np.clip(k / ((b - a) / sample_rate) * 60, 120, 230))
            voice = _espeak(words, pitch, speed, sample_rate)
        else:
            voice = _procedural(rng, b - a, sample_rate, 100.0 + pitch)
        voice = voice[: b - a]
        fade = min(len(voice), int(0.02 * sample_rate))
        if fade:
            voice[-fade:] *= np.linspace(1, 0, fade)
        peak = np.abs(voice).max()
        if peak > 0:
            voice = voice / peak * 0.6
        track[a : a + len(voice)] += voice
    return np.clip(track, -1, 1).astype(np.float32)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    from mafrg.atomic import atomic_path

    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(tmp, audio, sample_rate, subtype="PCM_16", format="WAV")
