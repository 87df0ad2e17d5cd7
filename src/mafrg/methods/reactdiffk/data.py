"""ReactDiff-K's training data: random crops of whole windows, their speaker tokens, never the audio of the whole
training set in memory.

A training item is one (row, direction): each person of a dyadic pair is once the speaker. An epoch draws
``crops_per_row`` crops of ``crop`` frames (K windows) from every item. A window's previous-frame condition is
the true listener frame before it (teacher forcing), absent only for a crop at frame 0; such crops are drawn
with the share first windows have at generation (1 / windows per clip). Each crop also draws its mode
(offline/online, half each) and whether its speaker condition is dropped (classifier-free guidance).

The speaker's wav2vec2 stream (1536 per frame) is read from a memory-mapped per-clip copy of its feature file
(``results/cache/reactdiffk/train``, written once, atomically).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from mafrg.cache import cached_array, stamp
from mafrg.methods.reactdiffk.config import ReactDiffKConfig
from mafrg.methods.reactdiffk.model import OFFLINE, ONLINE, modalities


@dataclass(frozen=True)
class Item:
    speaker: str  # rel of the speaker clip
    speaker_emotion: np.ndarray  # (T, 25)
    speaker_tdmm: np.ndarray  # (T, 58)
    target: np.ndarray  # the listener's (T, 83): emotion then 3DMM


def items(data) -> list[Item]:
    """Both directions of every training row (SplitArrays), or of every pair of a split of clips of any length
    (ClipArrays: its swapped rows, when it has them, are these pairs' second directions; a pair's clips are cut to
    their common length)."""
    if data.ragged:
        return [Item(rel, se, st, np.concatenate([le, lt], axis=1)) for rel, se, st, le, lt in data.directions()]
    out = []
    for k, r in enumerate(data.rows):
        le = np.concatenate([data.listener_emotion[k], data.listener_tdmm[k]], axis=1)
        se = np.concatenate([data.speaker_emotion[k], data.speaker_tdmm[k]], axis=1)
        out.append(Item(r.speaker, data.speaker_emotion[k], data.speaker_tdmm[k], le))
        out.append(Item(r.listener, data.listener_emotion[k], data.listener_tdmm[k], se))
    return out


def audio_cache(file_of: Callable[[str], str], cache_dir: str | Path,
                frames_of: Callable[[str], int]) -> Callable[[str], np.ndarray]:
    """rel -> its (frames, width) float32 wav2vec2 stream (frames: ``frames_of(rel)``), memory-mapped from the
    cache."""
    from mafrg import features

    def get(rel: str) -> np.ndarray:
        path = file_of(rel)
        frames = frames_of(rel)

        def make() -> np.ndarray:
            clip = features.load_clip(path, ["wav2vec2"], frames=frames)
            if len(clip["frame"]) < frames:
                raise ValueError(f"{path}: {len(clip['frame'])} frames, ReactDiff-K needs {frames}")
            return np.asarray(clip["wav2vec2"], np.float32)

        return cached_array(Path(cache_dir) / f"{rel}.wav2vec2.{stamp(path, frames)}.npy", make)

    return get


def window_span(seq: np.ndarray, starts: np.ndarray, window: int, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Speaker frames [s - context, s + window + context) of each window start s: (n, L, D) and valid (n, L)
    (False outside the clip, where the frames are zeros)."""
    t = len(seq)
    span = window + 2 * context
    idx = starts[:, None] - context + np.arange(span)[None]
    valid = (idx >= 0) & (idx < t)
    out = np.asarray(seq)[np.clip(idx, 0, t - 1)]
    out[~valid] = 0
    return out.astype(np.float32), valid


def offsets(cfg: ReactDiffKConfig) -> np.ndarray:
    """Each span token's frame offset from its window's start."""
    return np.arange(-cfg.context, cfg.window + cfg.context)


class Crops(torch.utils.data.Dataset):
    """Epoch ``epoch``'s crops: item i's j-th crop (start, mode, dropped condition) depends only on
    (seed, epoch, i, j)."""

    def __init__(self, its: list[Item], audio: Callable[[str], np.ndarray], cfg: ReactDiffKConfig,
                 frames: int | None, seed: int, epoch: int):
        """``frames``: every item's length; None when items differ in length (clips of any length): each crop is
        then drawn within its own item, with its own item's first-window share."""
        self.its, self.audio, self.cfg = its, audio, cfg
        n = len(its) * cfg.crops_per_row
        rng = np.random.default_rng([seed, epoch, 77])
        if frames is None:
            lengths = np.repeat([len(it.target) for it in its], cfg.crops_per_row)
            per_clip = -(-lengths // cfg.window)
            self.start = np.where(rng.random(n) < 1 / per_clip, 0, rng.integers(0, lengths - cfg.crop + 1))
        else:
            per_clip = -(-frames // cfg.window)
            self.start = np.where(rng.random(n) < 1 / per_clip, 0, rng.integers(0, frames - cfg.crop + 1, n))
        self.mode = np.where(rng.random(n) < 0.5, ONLINE, OFFLINE)
        self.cond = rng.random(n) >= cfg.guidance.cond_dropout

    def __len__(self) -> int:
        return len(self.its) * self.cfg.crops_per_row

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        it = self.its[k // cfg.crops_per_row]
        s, w, kw = int(self.start[k]), cfg.window, cfg.crop // cfg.window
        starts = s + w * np.arange(kw)
        prev_idx = np.maximum(starts - 1, 0)
        out = {"target": torch.from_numpy(np.ascontiguousarray(it.target[s : s + cfg.crop], np.float32)),
               "prev": torch.from_numpy(np.ascontiguousarray(it.target[prev_idx], np.float32)),
               "has_prev": torch.from_numpy(starts > 0),
               "mode": torch.full((kw,), int(self.mode[k])),
               "cond": torch.full((kw,), bool(self.cond[k]))}
        streams = {"tdmm": it.speaker_tdmm, "emotion": it.speaker_emotion}
        for name in modalities(cfg):
            seq = self.audio(it.speaker) if name == "audio" else streams[name]
            span, valid = window_span(seq, starts, w, cfg.context)
            out[f"spk_{name}"] = torch.from_numpy(span)
        out["valid"] = torch.from_numpy(valid)
        return out


def batch_condition(model, batch: dict[str, torch.Tensor]):
    """The B * K window conditions of a training batch (crop-major), standardised."""
    from mafrg.methods.reactdiffk.model import WindowCondition, token_mask

    cfg = model.cfg
    flat = {k: v.flatten(0, 1) for k, v in batch.items() if k != "target"}
    n = flat["prev"].shape[0]
    off = torch.as_tensor(offsets(cfg), device=flat["prev"].device).expand(n, -1)
    spk = {s: model.standardise(s, flat[f"spk_{s}"]) for s in modalities(cfg)}
    tokens = model.net.speaker_tokens(spk, off)
    mask = token_mask(flat["valid"], off, cfg.window, flat["mode"], flat["cond"])
    return WindowCondition(model.standardise("target", flat["prev"]), flat["has_prev"], tokens, mask, flat["mode"])
