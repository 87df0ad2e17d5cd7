"""Assemble a split into dense arrays in evaluation row order (mirrored for val/test).

Metrics and baselines only need emotion and 3DMM sequences; reading ~2N small CSV/npy files once and
storing them as one .npz keeps every later rule independent of the raw layout.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mafrg.atomic import write_npz
from mafrg.config import DatasetConfig
from mafrg.data.layout import PairRow, clip_files, split_rows
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
    rows = split_rows(root, split, mirrored)
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def clip(rel: str) -> tuple[np.ndarray, np.ndarray]:
        if rel not in cache:
            f = clip_files(root, split, rel)
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
