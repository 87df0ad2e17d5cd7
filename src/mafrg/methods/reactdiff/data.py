"""Training data for ReactDiff: feature files streamed one clip per item, targets from the assembled split.

Only the clips of one batch are in memory at a time (the 25088-d AU stream is never loaded for the whole set).
The held-out validation clips come from the *training* split (a fixed hash of the clip path), so adding
val/test recordings never changes training.

Clips of any length (MARS): the MMT trains on random crops of ``crop`` frames drawn within each clip (a new draw
every epoch); the DDIM on the consecutive ``crop``-frame chunks of each pair from frame 0, which are the chunks
generation cuts a speaker clip into (:func:`chunk_starts`). Clips shorter than one crop are left out of training.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from mafrg import features
from mafrg.cache import cached_array, stamp
from mafrg.data.assemble import SplitArrays
from mafrg.training import held_out, split_items  # noqa: F401 - re-exported

STREAMS = ("au", "fe", "va", "mfcc", "wav2vec2")


@dataclass(frozen=True)
class ClipItem:
    rel: str
    path: str
    emotion: np.ndarray  # (T, 25)
    tdmm: np.ndarray  # (T, 58)


def person_clips(data: SplitArrays, file_of: Callable[[str], str]) -> list[ClipItem]:
    """Every (clip, person) of a split once, with its own targets (stage 1 is an autoencoder of behaviour); on a
    split of clips of any length (ClipArrays) each clip at its own length."""
    if data.ragged:
        return [ClipItem(rel, file_of(rel), data.clip_emotion(c), data.clip_tdmm(c)) for c, rel in enumerate(data.clips)]
    items: dict[str, ClipItem] = {}
    for k, r in enumerate(data.rows):
        for rel, emo, tdmm in ((r.speaker, data.speaker_emotion[k], data.speaker_tdmm[k]),
                               (r.listener, data.listener_emotion[k], data.listener_tdmm[k])):
            items.setdefault(rel, ClipItem(rel, file_of(rel), emo, tdmm))
    return list(items.values())


class ClipDataset(torch.utils.data.Dataset):
    """One clip per item; with ``cache_dir`` its streams come from memory-mapped copies (``cache_inputs``).

    ``crop`` None: every item's first ``frames`` frames (fixed-length clips). Otherwise ``frames`` is None and
    item i is a crop of ``crop`` frames starting at ``start[i]``, drawn within the item from (seed, epoch) alone."""

    def __init__(self, items: list[ClipItem], frames: int | None, cache_dir: str | Path | None = None,
                 crop: int | None = None, seed: int = 0, epoch: int = 0):
        self.items = items
        self.frames = frames
        self.cache_dir = cache_dir
        self.crop = crop
        if crop is None:
            self.start = np.zeros(len(items), np.int64)
        else:
            rng = np.random.default_rng([seed, epoch, 50])
            self.start = rng.integers(0, np.array([len(it.emotion) for it in items]) - crop + 1)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        it = self.items[i]
        s = int(self.start[i])
        n = self.frames if self.crop is None else self.crop
        streams = clip_streams(it.path, len(it.emotion) if self.frames is None else self.frames, self.cache_dir)
        # decoded streams are already private copies; memory-mapped ones are copied (torch needs writable arrays)
        out = {k: torch.from_numpy(v[s : s + n] if v.flags.writeable else np.array(v[s : s + n]))
               for k, v in streams.items()}
        out["emotion"] = torch.from_numpy(it.emotion[s : s + n].astype(np.float32))
        out["tdmm"] = torch.from_numpy(it.tdmm[s : s + n].astype(np.float32))
        return out


def chunk_starts(frames: int, crop: int, whole_only: bool = False) -> list[int]:
    """Start frames of the consecutive ``crop``-frame chunks of a clip of ``frames`` frames (the last one shorter
    unless ``whole_only``, which drops it)."""
    stop = frames - crop + 1 if whole_only else frames
    return list(range(0, max(stop, 0), crop))


def clip_streams(path: str, frames: int, cache_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """Every stream's first ``frames`` frames, (frames, dim): decoded, or memory-mapped from the cache (the same
    values, bit for bit)."""
    if cache_dir is None:
        return {s: v.numpy() for s, v in clip_tensors(path, frames).items()}
    key = stamp(path, frames)
    name = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    loaded: dict[str, torch.Tensor] = {}

    def make(s: str):
        if not loaded:
            loaded.update(clip_tensors(path, frames))
        return loaded[s].numpy()

    return {s: cached_array(Path(cache_dir) / f"{name}.{key}.{s}.npy", lambda s=s: make(s)) for s in STREAMS}


def clip_tensors(path: str, frames: int) -> dict[str, torch.Tensor]:
    """The first ``frames`` frames of every stream of one feature file, as (frames, dim) tensors."""
    clip = features.load_clip(path, STREAMS, frames=frames, dtype=None)
    n = len(clip["frame"])
    if n < frames:
        raise ValueError(f"{path}: {n} frames, ReactDiff needs {frames}")
    return {s: torch.from_numpy(np.array(clip[s])) for s in STREAMS}  # a writable copy


def stream_dims(path: str) -> dict[str, int]:
    meta = features.file_metadata(path)
    return {s: meta["streams"][s]["dim"] for s in STREAMS}


def running_mean(x: np.ndarray | torch.Tensor, axis: int = 0):
    """Mean of frames 0..t at every t along ``axis`` (causal: frame t never sees a later frame)."""
    shape = [1] * x.ndim
    shape[axis] = -1
    n = np.arange(1, x.shape[axis] + 1).reshape(shape)
    n = torch.as_tensor(n, dtype=x.dtype, device=x.device) if isinstance(x, torch.Tensor) else n.astype(x.dtype)
    return x.cumsum(axis) / n


def input_stats(items: list[ClipItem], frames: int | None, centre_clip: bool = False,
                cache_dir: str | Path | None = None, threads: int = 1,
                progress: bool = False) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per-dimension mean and standard deviation of every stream over the training clips (out of core, one dask
    task per clip: :func:`mafrg.moments.moments`; ``frames`` None: each clip at its own length); with
    ``centre_clip``, of the inputs after each clip's running mean is removed (MMTConfig.input_norm "clip")."""
    from mafrg.moments import moments

    def block(it: ClipItem):
        t = len(it.emotion) if frames is None else frames
        if cache_dir is None:
            clip = features.load_clip(it.path, STREAMS, frames=t, dtype=np.float64)
        else:  # the same values through the memory-mapped copies the epochs read (and written here first)
            clip = clip_streams(it.path, t, cache_dir)
        out = {s: np.asarray(clip[s], np.float64) for s in STREAMS}
        return {s: x - running_mean(x) for s, x in out.items()} if centre_clip else out

    pooled = moments([lambda it=it: block(it) for it in items], threads, "input statistics", progress)
    return {s: (torch.from_numpy(m.mean).float(), torch.from_numpy(m.std()).float()) for s, m in pooled.items()}
