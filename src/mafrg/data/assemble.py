"""Assemble a split's emotion and 3DMM sequences into one file, in evaluation row order.

Metrics and baselines only need emotion and 3DMM sequences; reading ~2N small CSV/npy files once and
storing them as one .npz keeps every later rule independent of the raw layout. Fixed-length layouts (REACT 2024)
give dense (rows, T, channels) arrays (:class:`SplitArrays`); layouts of clips of any length (MARS) give each clip
once, frames end to end, with per-clip offsets (:class:`ClipArrays`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mafrg.progress import tqdm

from mafrg.atomic import write_npz
from mafrg.config import DatasetConfig
from mafrg.data.layouts import PairRow, get_layout
from mafrg.data.readers import fit_length, read_emotion, read_tdmm

log = logging.getLogger(__name__)


@dataclass
class SplitArrays:
    split: str
    rows: list[PairRow]
    speaker_emotion: np.ndarray  # (R, T, 25) float32
    listener_emotion: np.ndarray  # (R, T, 25)
    speaker_tdmm: np.ndarray  # (R, T, 58)
    listener_tdmm: np.ndarray  # (R, T, 58)

    ragged = False  # every row has the same T (ClipArrays: rows of their own lengths)

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    def save(self, path: str | Path, provenance: dict | None = None) -> None:
        meta = {
            "split": self.split,
            "rows": [r.__dict__ for r in self.rows],
            "provenance": provenance or {},
        }
        write_npz(
            path,
            speaker_emotion=self.speaker_emotion, listener_emotion=self.listener_emotion,
            speaker_tdmm=self.speaker_tdmm, listener_tdmm=self.listener_tdmm,
            meta=np.array(json.dumps(meta)),
        )

    @classmethod
    def load(cls, path: str | Path) -> "SplitArrays":
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") == "clips":
                raise ValueError(f"{path}: a split of clips of any length (MARS); this step reads fixed-length splits "
                                 "only (the workflow's evaluate-shard, aggregate and submit read both)")
            return cls(
                split=meta["split"], rows=[PairRow(**r) for r in meta["rows"]],
                speaker_emotion=z["speaker_emotion"], listener_emotion=z["listener_emotion"],
                speaker_tdmm=z["speaker_tdmm"], listener_tdmm=z["listener_tdmm"],
            )

    @staticmethod
    def read_meta(path: str | Path) -> dict:
        with np.load(path, allow_pickle=False) as z:
            return json.loads(str(z["meta"]))


def assemble_split(root: str | Path, split: str, cfg: DatasetConfig, mirrored: bool) -> SplitArrays:
    """Dense arrays of a fixed-length layout, every clip cut (or padded) to ``cfg.clip_length``."""
    layout = get_layout(cfg, root)
    rows = layout.rows(split, mirrored)
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def clip(rel: str) -> tuple[np.ndarray, np.ndarray]:
        if rel not in cache:
            f = layout.clip_files(split, rel)
            cache[rel] = (
                fit_length(read_emotion(f.emotion, cfg.check_emotion_header), cfg.clip_length, f.emotion, cfg.pad_short),
                fit_length(read_tdmm(f.tdmm), cfg.clip_length, f.tdmm, cfg.pad_short),
            )
        return cache[rel]

    se, le, st, lt = [], [], [], []
    for r in tqdm(rows, desc=f"assemble {split}", unit="row"):
        s, l = clip(r.speaker), clip(r.listener)
        se.append(s[0]); st.append(s[1]); le.append(l[0]); lt.append(l[1])
    log.info("assembled %s: %d rows (mirrored=%s), T=%d", split, len(rows), mirrored, cfg.clip_length)
    return SplitArrays(split, rows, np.stack(se), np.stack(le), np.stack(st), np.stack(lt))


@dataclass
class ClipArrays:
    """A split of clips of any length (ragged layouts such as MARS): each clip once, frames laid end to end.

    ``emotion`` (N, 25) and ``tdmm`` (N, 58) hold every clip's frames, clip c at ``offsets[c]:offsets[c + 1]``;
    row k's speaker and listener are clips ``speaker_index[k]`` and ``listener_index[k]``. Nothing is padded: a
    58-frame clip takes 58 frames whatever the longest clip is, and a mirrored row adds no frames."""

    split: str
    rows: list[PairRow]
    clips: list[str]
    offsets: np.ndarray  # (n_clips + 1,) int64
    emotion: np.ndarray  # (N, 25) float32
    tdmm: np.ndarray  # (N, 58) float32
    speaker_index: np.ndarray  # (R,) int64
    listener_index: np.ndarray  # (R,) int64

    ragged = True

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def clip_emotion(self, c: int) -> np.ndarray:
        return self.emotion[self.offsets[c] : self.offsets[c + 1]]

    def clip_tdmm(self, c: int) -> np.ndarray:
        return self.tdmm[self.offsets[c] : self.offsets[c + 1]]

    def speaker_emotion_of(self, k: int) -> np.ndarray:
        return self.clip_emotion(int(self.speaker_index[k]))

    def listener_emotion_of(self, k: int) -> np.ndarray:
        return self.clip_emotion(int(self.listener_index[k]))

    def speaker_tdmm_of(self, k: int) -> np.ndarray:
        return self.clip_tdmm(int(self.speaker_index[k]))

    def listener_tdmm_of(self, k: int) -> np.ndarray:
        return self.clip_tdmm(int(self.listener_index[k]))

    def directions(self) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Both directions of every pair, each pair's clips cut to their common length: (speaker clip, its
        emotion, its 3DMM, the listener's emotion, the listener's 3DMM). Swapped rows, when the split has them,
        are these second directions and are not repeated."""
        out = []
        for k, r in enumerate(self.rows):
            if r.mirrored:
                continue
            se, st, le, lt = (self.speaker_emotion_of(k), self.speaker_tdmm_of(k), self.listener_emotion_of(k),
                              self.listener_tdmm_of(k))
            n = min(len(se), len(le))
            out += [(r.speaker, se[:n], st[:n], le[:n], lt[:n]), (r.listener, le[:n], lt[:n], se[:n], st[:n])]
        return out

    def speaker_lengths(self) -> np.ndarray:
        """Frames of each row's speaker clip: the length of the row's generated reactions."""
        return self.lengths[self.speaker_index]

    def save(self, path: str | Path, provenance: dict | None = None) -> None:
        meta = {"split": self.split, "format": "clips", "rows": [r.__dict__ for r in self.rows], "clips": self.clips,
                "provenance": provenance or {}}
        write_npz(path, offsets=self.offsets, emotion=self.emotion, tdmm=self.tdmm, speaker_index=self.speaker_index,
                  listener_index=self.listener_index, meta=np.array(json.dumps(meta)))

    @classmethod
    def load(cls, path: str | Path, mmap: bool = True) -> "ClipArrays":
        """The split; its frames (``emotion``, ``tdmm``) memory-mapped from the file (``mmap``), read-only."""
        from mafrg.io import npz_member

        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != "clips":
                raise ValueError(f"{path}: not a split of clips of any length (assembled for fixed-length clips)")
            small = {k: z[k] for k in ("offsets", "speaker_index", "listener_index")}
        return cls(split=meta["split"], rows=[PairRow(**r) for r in meta["rows"]], clips=meta["clips"],
                   emotion=npz_member(path, "emotion", mmap), tdmm=npz_member(path, "tdmm", mmap), **small)


def load_split(path: str | Path) -> "SplitArrays | ClipArrays":
    """An assembled split of either form (the file says which)."""
    meta = SplitArrays.read_meta(path)
    return ClipArrays.load(path) if meta.get("format") == "clips" else SplitArrays.load(path)


def assemble_clips(root: str | Path, split: str, cfg: DatasetConfig, mirrored: bool | None = None) -> ClipArrays:
    """Every clip of a split whole (no clip_length): emotion and 3DMM cut to the common length of the clip's
    emotion, 3DMM and video (modalities of one clip may differ by a few frames; validation bounds the difference),
    so that every frame of a row has its speaker's video, audio and features."""
    from mafrg.media.video import probe_video

    layout = get_layout(cfg, root)
    rows = layout.rows(split, mirrored)
    clips = layout.clips(split)
    index = {c: i for i, c in enumerate(clips)}
    emo, tdmm, lengths = [], [], [0]
    for rel in tqdm(clips, desc=f"assemble {split}", unit="clip"):
        f = layout.clip_files(split, rel)
        e, t = read_emotion(f.emotion, cfg.check_emotion_header), read_tdmm(f.tdmm)
        n = min(len(e), len(t), probe_video(f.video).frames)
        emo.append(e[:n])
        tdmm.append(t[:n])
        lengths.append(n)
    out = ClipArrays(split=split, rows=rows, clips=clips, offsets=np.cumsum(lengths).astype(np.int64),
                     emotion=np.concatenate(emo).astype(np.float32), tdmm=np.concatenate(tdmm).astype(np.float32),
                     speaker_index=np.array([index[r.speaker] for r in rows], np.int64),
                     listener_index=np.array([index[r.listener] for r in rows], np.int64))
    log.info("assembled %s: %d rows, %d clips, %d frames (lengths %d..%d)", split, len(rows), len(clips),
             int(out.offsets[-1]), int(out.lengths.min()), int(out.lengths.max()))
    return out
