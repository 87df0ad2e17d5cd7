"""A small MARS-layout tree (REACT 2025/2026) for tests: 30 fps, clips of different lengths, both roles."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FPS = 30
RATE = 16000
# session -> [(stem, frames)]: lengths differ between clips; session10 sorts before session2 as text
SESSIONS = {"session0": [("Camera-2024-06-21-103121-103102", 40), ("Camera-2024-06-21-103200-103150", 75),
                         ("Camera-2024-06-21-110000-105950", 58)],
            "session10": [("Camera-2024-07-01-090000-085959", 61)],
            "session2": [("Camera-2024-06-25-120000-115959", 47), ("Camera-2024-06-25-121000-120959", 52)]}


def emotion(rng: np.random.Generator, n: int) -> np.ndarray:
    au = (rng.random((n, 15)) > 0.7).astype(np.float32)
    va = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    ex = rng.random((n, 8)).astype(np.float32)
    return np.concatenate([au, va, ex / ex.sum(1, keepdims=True)], axis=1)


def write_clip(root: Path, split: str, role: str, session: str, stem: str, n: int, seed: int,
               audio_features: bool = False) -> None:
    from mafrg.render import write_mp4
    from mafrg.synth.audio import write_wav

    rng = np.random.default_rng(seed)
    base = root / split
    for kind in ("video-face-crop", "audio", "facial-attributes", "coefficients"):
        (base / kind / role / session).mkdir(parents=True, exist_ok=True)
    frames = (rng.integers(0, 255, (n, 32, 32, 3))).astype(np.uint8)
    write_mp4(iter(frames), base / "video-face-crop" / role / session / f"{stem}.mp4", fps=FPS)
    samples = n * RATE // FPS
    write_wav(base / "audio" / role / session / f"{stem}.wav",
              (0.1 * rng.standard_normal(samples)).astype(np.float32), RATE)
    np.save(base / "facial-attributes" / role / session / f"{stem}.npy", emotion(rng, n))
    np.save(base / "coefficients" / role / session / f"{stem}.npy", rng.normal(0, 0.1, (1, n, 58)).astype(np.float32))
    if audio_features:
        (base / "audio-features" / role / session).mkdir(parents=True, exist_ok=True)
        np.save(base / "audio-features" / role / session / f"{stem}.npy", rng.normal(0, 1, (n, 768)).astype(np.float32))


def make_mars(root: Path, splits=("train", "val", "test")) -> Path:
    """Every split holds the same sessions (enough for layout and validation tests)."""
    seed = 0
    for split in splits:
        for session, clips in SESSIONS.items():
            for stem, n in clips:
                for role in ("speaker", "listener"):
                    seed += 1
                    write_clip(root, split, role, session, stem, n, seed, audio_features=role == "speaker")
    return root
