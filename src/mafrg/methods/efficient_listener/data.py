"""Efficient Listener's training data: raw speaker frames and audio, never the whole training set in memory.

A training item is one (row, direction): a dyadic pair gives two, each person once the speaker. Each epoch
draws ``clips_per_row`` random clips of l frames from every item; a clip carries its listener targets and the
l speaker frames its mode shows (offline: its own; online: the l before it). Frames come from a memory-mapped
per-clip cache (``frame_source: cache``, written once, atomically, under ``results/cache/``) or are decoded
from the video for every batch (``video``). The log-mel frames of a clip are cached the same way (small).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from mafrg.progress import tqdm

from mafrg.cache import cached_array as _cached, stamp as _stamp
from mafrg.methods.efficient_listener.config import ELConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    speaker: str  # rel of the speaker clip
    emotion: np.ndarray  # listener targets (T, 25)
    tdmm: np.ndarray  # (T, 58)


def items(data) -> list[Item]:
    """Both directions of every training row (SplitArrays), or of every pair of a split of clips of any length
    (ClipArrays: a pair's clips cut to their common length; its swapped rows are these second directions)."""
    if data.ragged:
        return [Item(rel, le, lt) for rel, _, _, le, lt in data.directions()]
    out = []
    for k, r in enumerate(data.rows):
        out.append(Item(r.speaker, data.listener_emotion[k], data.listener_tdmm[k]))
        out.append(Item(r.listener, data.speaker_emotion[k], data.speaker_tdmm[k]))
    return out


class Sources:
    """Per-clip frames (T, S, S, 3) uint8 and log-mel (T, K, M) float32 of one split, cached on disk."""

    def __init__(self, media, cache_dir: str | Path, frames: Callable[[str], int], fps: int, cfg: ELConfig,
                 sample_rate: int = 16000):
        self.media = media  # rel -> ClipFiles
        self.cache_dir = Path(cache_dir)
        self.frames = frames  # rel -> the frames of the clip that training reads
        self.fps, self.cfg, self.sample_rate = fps, cfg, sample_rate
        self._plans: dict[str, object] = {}

    def frames_of(self, rel: str) -> np.ndarray:
        from mafrg.media.video import grid_frames

        video = Path(self.media(rel).video)
        size = self.cfg.perception.image_size
        n = self.frames(rel)
        key = _stamp(video, size, n, self.fps)
        return _cached(self.cache_dir / "frames" / f"{rel}.{size}px.{key}.npy",
                       lambda: grid_frames(video, n, size, self.fps))

    def read_frames(self, rel: str, idx: np.ndarray) -> np.ndarray:
        """Frames ``idx`` of the clip's grid: from the cache, or decoded (``frame_source: video``)."""
        if self.cfg.frame_source == "cache":
            return np.asarray(self.frames_of(rel)[idx])
        from mafrg.media.video import plan_grid, read_frames, resize_square

        video = self.media(rel).video
        if rel not in self._plans:
            self._plans[rel] = plan_grid(video, self.fps)
        src = self._plans[rel].indices
        pos = np.minimum(idx, len(src) - 1)  # a short video repeats its last frame (as grid_frames)
        return resize_square(read_frames(video, src[pos]), self.cfg.perception.image_size)

    def mel_of(self, rel: str) -> np.ndarray:
        from mafrg.media.audio import align_audio
        from mafrg.methods.efficient_listener.model import log_mel

        p = self.cfg.perception
        audio = Path(self.media(rel).audio)
        n = self.frames(rel)
        key = _stamp(audio, p.n_mels, p.mel_windows, n, self.fps, self.sample_rate)

        def make() -> np.ndarray:
            a = align_audio(audio, n, self.fps, self.sample_rate)
            return log_mel(torch.from_numpy(a.samples), n, self.fps, self.sample_rate, p.n_mels, p.mel_windows).numpy()

        return _cached(self.cache_dir / "mel" / f"{rel}.{key}.npy", make)

    def prepare(self, rels: list[str], progress: bool = True) -> None:
        """Fill the caches before training (a killed run keeps the files it finished)."""
        p = self.cfg.perception
        for rel in tqdm(rels, desc="cache speaker clips", unit="clip", disable=not progress):
            if p.video and self.cfg.frame_source == "cache":
                self.frames_of(rel)
            if p.audio:
                self.mel_of(rel)


class ClipSamples(torch.utils.data.Dataset):
    """Epoch ``epoch``'s clips: item i's j-th clip start and mode depend only on (seed, epoch, i, j)."""

    def __init__(self, its: list[Item], sources: Sources, cfg: ELConfig, seed: int, epoch: int, per_item: int):
        self.its, self.src, self.cfg = its, sources, cfg
        self.per_item = per_item
        l = cfg.elnet.clip
        lengths = np.repeat([len(it.emotion) for it in its], per_item)
        rng = np.random.default_rng([seed, epoch])
        n = len(its) * per_item
        if len(set(lengths.tolist())) == 1:  # fixed-length clips
            self.start = rng.integers(0, int(lengths[0]) - l + 1, n)
        else:  # clips of any length: each clip within its own item
            self.start = rng.integers(0, lengths - l + 1)
        self.online = rng.random(n) < 0.5
        self.load_seconds = 0.0
        self.loaded_frames = 0

    def __len__(self) -> int:
        return len(self.its) * self.per_item

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        t0 = time.perf_counter()
        it = self.its[k // self.per_item]
        l = self.cfg.elnet.clip
        s, online = int(self.start[k]), bool(self.online[k])
        visible = online and s >= l or not online
        first = s - l if online and s >= l else s  # online before the second clip: nothing is shown
        idx = np.arange(first, first + l)
        out = {"target": torch.from_numpy(np.concatenate([it.emotion[s : s + l], it.tdmm[s : s + l]], axis=1)),
               "flags": torch.tensor([float(online and visible), float(not online)])}
        p = self.cfg.perception
        if p.video:
            out["frames"] = torch.from_numpy(self.src.read_frames(it.speaker, idx))
        if p.audio:
            out["mel"] = torch.from_numpy(np.array(self.src.mel_of(it.speaker)[idx]))
        self.load_seconds += time.perf_counter() - t0
        self.loaded_frames += l
        return out
