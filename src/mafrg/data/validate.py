"""Check every file a split references before any expensive work, and report *all* problems at once.

The layout (:mod:`mafrg.data.layouts`) names structural problems (a missing split, an unpaired clip, a missing
modality, a name leaving the root, its optional files); each usable clip's files are then read: shapes, dtypes,
NaN, value ranges, decodable video and audio, and modalities whose lengths agree within the tolerance."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mafrg.progress import tqdm

from mafrg.config import DatasetConfig
from mafrg.data.layouts import Layout, LayoutError, get_layout
from mafrg.data.layouts.base import distinct_clips
from mafrg.data.readers import read_audio_features, read_emotion, read_tdmm
from mafrg.errors import DataError
from mafrg.media.audio import probe_audio
from mafrg.media.video import probe_video

log = logging.getLogger(__name__)


class ValidationError(ValueError):
    """One or more dataset files are bad; ``problems`` lists each as 'path: what is wrong'."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            f"dataset validation failed: {len(problems)} problem(s)\n  - " + "\n  - ".join(problems)
        )


@dataclass
class ValidationReport:
    root: str
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "splits": self.splits, "problems": self.problems, "ok": not self.problems}


def validate_clip(layout: Layout, split: str, rel: str, cfg: DatasetConfig) -> tuple[dict[str, Any], list[str]]:
    """Check one clip's modalities and their mutual frame counts; returns (summary, problems)."""
    root = layout.root
    try:
        files = layout.clip_files(split, rel)
    except LayoutError as exc:
        return {"rel": rel, "counts": {}}, [str(exc)]
    problems: list[str] = []
    counts: dict[str, float] = {}
    try:
        vi = probe_video(files.video, cfg.full_decode)
        counts["video"] = vi.frames
        if vi.fps == vi.fps and abs(vi.fps - cfg.fps) > 0.01:  # not NaN (PNG folders carry no fps)
            problems.append(f"{files.video}: {vi.fps:.3f} fps, the dataset grid is {cfg.fps} fps")
    except DataError as exc:
        problems.append(str(exc))
    try:
        counts["emotion"] = read_emotion(files.emotion, cfg.check_emotion_header).shape[0]
    except DataError as exc:
        problems.append(str(exc))
    try:
        counts["3dmm"] = read_tdmm(files.tdmm).shape[0]
    except DataError as exc:
        problems.append(str(exc))
    if files.audio_features is not None:
        try:
            counts["audio_features"] = read_audio_features(files.audio_features).shape[0]
        except DataError as exc:
            problems.append(str(exc))
    try:
        ai = probe_audio(files.audio)
        counts["audio"] = ai.seconds * cfg.fps
    except DataError as exc:
        problems.append(str(exc))

    if counts:
        lo, hi = min(counts.values()), max(counts.values())
        if hi - lo > cfg.max_frame_mismatch + 1e-6:
            detail = ", ".join(f"{k}={v:.0f}" if k != "audio" else f"audio={v:.1f} frames" for k, v in counts.items())
            problems.append(
                f"{root / split}/*/{rel}: frame counts differ between modalities by more than "
                f"{cfg.max_frame_mismatch} ({detail})"
            )
        frame_counts = [v for k, v in counts.items() if k != "audio"]
        if frame_counts and not layout.ragged and min(frame_counts) < cfg.clip_length and not cfg.pad_short:
            short = {k: int(v) for k, v in counts.items() if k != "audio" and v < cfg.clip_length}
            problems.append(
                f"{root / split}/*/{rel}: shorter than clip_length {cfg.clip_length} ({short}); "
                "set dataset.pad_short to pad instead"
            )
    return {"rel": rel, "counts": counts}, problems


def validate_dataset(root: str | Path, splits: list[str], cfg: DatasetConfig) -> ValidationReport:
    """Validate every clip referenced by the given splits. Raises ValidationError listing all problems."""
    layout = get_layout(cfg, root)
    report = ValidationReport(root=str(root))
    for split in splits:
        pairs, problems = layout.scan(split)
        report.problems.extend(problems)
        report.problems.extend(layout.extra_problems(split))
        rels = distinct_clips(pairs)
        clips = []
        for rel in tqdm(rels, desc=f"validate {split}", unit="clip"):
            summary, problems = validate_clip(layout, split, rel, cfg)
            clips.append(summary)
            report.problems.extend(problems)
        report.splits[split] = {"clips": len(rels), "details": clips, "layout": layout.description}
        log.info("validated %s: %d clips", split, len(rels))
    report.problems = list(dict.fromkeys(report.problems))  # the layout's scan and a clip's files may name one twice
    if report.problems:
        for p in report.problems:
            log.error(p)
        raise ValidationError(report.problems)
    return report
