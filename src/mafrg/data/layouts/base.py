"""The dataset-layout contract: what every layout tells the rest of mafrg, and the checks they share.

A *layout* knows where a dataset keeps its clips: which clips a split holds, which (speaker, listener) pairs it
evaluates and in which order, each clip's files by modality, the session a clip belongs to (the unit of one
feature-extraction job) and the optional files it recognises. Everything above the data layer asks a layout
(:func:`mafrg.data.layouts.get_layout`) and never builds a dataset path itself, so a new dataset is one module.

Evaluation rows: rows 0..N-1 are the split's pairs, and when the layout mirrors the split (REACT 2024's val and
test; MARS with ``bidirectional``) rows N..2N-1 are the same pairs with roles swapped. Appropriate sets, metric
shards and predictions index rows in exactly this order, so it is produced in one place only (:meth:`Layout.rows`).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar


class LayoutError(ValueError):
    """The dataset's split files or directory layout are not what its layout specifies."""


@dataclass(frozen=True)
class ClipFiles:
    """The files of one person in one clip, by modality."""

    split: str
    rel: str  # the clip id, relative to the split's modality folders
    video: Path  # .mp4 file, or folder of 1.png..N.png
    audio: Path
    emotion: Path  # (T, 25) emotion channels: REACT 2024's .csv, MARS's facial-attributes .npy
    tdmm: Path  # (T, 58) 3DMM coefficients .npy
    audio_features: Path | None = None  # precomputed (T, 768) wav2vec2 features, where the layout has them

    @property
    def video_is_folder(self) -> bool:
        return self.video.suffix != ".mp4"

    def files(self) -> dict[str, Path]:
        """Every file of the clip by modality (the optional ones when the layout names them)."""
        out = {"video": self.video, "audio": self.audio, "emotion": self.emotion, "tdmm": self.tdmm}
        if self.audio_features is not None:
            out["audio_features"] = self.audio_features
        return out


@dataclass(frozen=True)
class PairRow:
    """One evaluated row: whose behaviour is the stimulus (speaker) and whose is the reaction (listener)."""

    index: int
    speaker: str
    listener: str
    mirrored: bool


def inside_root(root: str | Path, path: str | Path, what: str = "") -> Path:
    """``path`` when it resolves inside the dataset root, symlinks followed (of the file and of every folder on the
    way), else a :class:`LayoutError` naming it and where it leads. Every file a stage opens from the dataset comes
    through here (each layout's ``clip_files``, :func:`dataset_file`): a link out of the root is never read."""
    root_abs, path = Path(root).resolve(), Path(path)
    target = path.resolve()
    if target != root_abs and root_abs not in target.parents:
        raise LayoutError(f"{path}: {what + ' ' if what else ''}resolves outside the dataset root {root_abs} "
                          f"(to {target}); files must lie inside the root, links included")
    return path


def check_frames_inside(root: str | Path, files: ClipFiles) -> None:
    """Each linked frame of a PNG-folder video resolves inside the root."""
    if files.video_is_folder and files.video.is_dir():
        with os.scandir(files.video) as entries:
            for e in entries:
                if e.is_symlink():  # a plain entry of a folder inside the root is inside the root
                    inside_root(root, e.path, f"(a frame of clip {files.rel})")


def dataset_file(root: str | Path, name: str) -> Path:
    """A file at the top of the dataset root (a neighbour matrix, the demo's manifest), checked by :func:`inside_root`."""
    return inside_root(root, Path(root) / name)


def distinct_clips(pairs) -> list[str]:
    """Every distinct clip of (speaker, listener) pairs, in first-seen order."""
    return list(dict.fromkeys(c for pair in pairs for c in pair))


def check_name(rel: str, parts: int, shape: str) -> str | None:
    """None when a clip id has ``parts`` non-empty parts (``shape`` describes them), else which rule it breaks.

    Relative, without ``.`` or ``..`` parts, backslashes or control characters. Anything else in a name (spaces,
    ``$``, quotes, non-ASCII) is data: every rule passes paths to a shell quoted."""
    if any(ord(c) < 32 or ord(c) == 127 for c in rel):
        return "a control character (e.g. a newline) in the path"
    if "\\" in rel:
        return "a backslash in the path (parts are separated by '/')"
    if rel.startswith("/"):
        return "an absolute path (clip paths are relative to the split's modality folders)"
    pieces = rel.split("/")
    if any(p in ("", ".", "..") for p in pieces):
        bad = next(p for p in pieces if p in ("", ".", ".."))
        return f"a '{bad}' part" if bad else "an empty part ('//')"
    if len(pieces) != parts:
        return f"{len(pieces)} parts, the layout has {parts} parts ({shape})"
    return None


class Layout(ABC):
    """One dataset layout over one root. Subclasses set the class attributes and the abstract methods; they are
    registered with :func:`mafrg.data.layouts.register_layout`.

    ``settings`` is the layout's own config block (``dataset.<name>``), an instance of ``settings_cls``."""

    name: ClassVar[str]
    settings_cls: ClassVar[type | None] = None
    clip_pattern: ClassVar[str]  # regex of a clip id (the workflow's {rel} wildcard)
    session_pattern: ClassVar[str]  # regex of a session id (the {session} wildcard)
    clip_shape: ClassVar[str]  # a clip id's parts, for messages
    native_fps: ClassVar[int]  # the frame rate of the dataset's annotations
    ragged: ClassVar[bool]  # clips differ in length (evaluated whole) rather than cut to dataset.clip_length
    # official appropriateness: "matrix" (a neighbour-matrix file, REACT 2024) or "draws" (seeded ground-truth sets
    # within the session, MARS; mafrg.neighbours.official_draws)
    appropriate: ClassVar[str] = "matrix"

    def __init__(self, root: str | Path, settings: Any = None):
        self.root = Path(root)
        self.settings = settings if settings is not None else (self.settings_cls() if self.settings_cls else None)
        self._scans: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {}

    # ------------------------------------------------------------------------------------------ contract
    @abstractmethod
    def _scan(self, split: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
        """(pairs, problems): the split's (speaker, listener) clip ids in the layout's order, and every problem of
        its structure (a missing split, an unpaired clip, a missing modality, a name leaving the root), each naming
        the file. The pairs are those usable despite the problems (validation checks their content too)."""

    def scan(self, split: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
        """:meth:`_scan`, read once per split (every planning step and validation asks for it)."""
        if split not in self._scans:
            self._scans[split] = self._scan(split)
        return self._scans[split]

    def pairs(self, split: str) -> list[tuple[str, str]]:
        """The split's pairs; a :class:`LayoutError` naming every structural problem when there is one."""
        pairs, problems = self.scan(split)
        if problems:
            raise LayoutError(problems[0] if len(problems) == 1 else
                              f"{self.root / split}: the {self.name} layout is broken in {len(problems)} places:"
                              "\n  - " + "\n  - ".join(problems))
        return list(pairs)

    @abstractmethod
    def clip_files(self, split: str, rel: str) -> ClipFiles:
        """A clip's files, each checked to resolve inside the root."""

    @abstractmethod
    def session_of(self, rel: str) -> str:
        """The session a clip belongs to: the unit of one extraction job and of session-based appropriateness."""

    @abstractmethod
    def mirrored(self, split: str) -> bool:
        """Whether the split's rows include every pair with its roles swapped."""

    @abstractmethod
    def identity(self, rel: str) -> tuple[str, str]:
        """(clip, person) of a clip id: what a feature file records as the recording and whose face it shows."""

    def check_clip(self, rel: str) -> str | None:
        """None when ``rel`` has this layout's clip-id shape, else why not."""
        return check_name(rel, len(self.clip_shape.split("/")), self.clip_shape)

    @abstractmethod
    def index_files(self, split: str) -> list[Path]:
        """The files whose change changes the split's clips or pairs (the workflow's validation depends on them)."""

    def file_settings(self) -> dict[str, Any]:
        """The settings that change which file a clip reads (what feature extraction depends on); the others (say,
        which rows a split evaluates) must not rerun it."""
        return {}

    def extra_problems(self, split: str) -> list[str]:
        """Problems of the optional files the layout recognises (validated when present)."""
        return []

    # ------------------------------------------------------------------------------------------ derived
    def rows(self, split: str, mirrored: bool | None = None) -> list[PairRow]:
        """Evaluation rows (see the module doc); ``mirrored`` defaults to :meth:`mirrored`."""
        pairs = self.pairs(split)
        rows = [PairRow(i, s, l, False) for i, (s, l) in enumerate(pairs)]
        if self.mirrored(split) if mirrored is None else mirrored:
            n = len(rows)
            rows += [PairRow(n + r.index, r.listener, r.speaker, True) for r in rows[:n]]
        return rows

    def clips(self, split: str) -> list[str]:
        """Every distinct clip of the split's pairs, in first-seen order."""
        return distinct_clips(self.pairs(split))

    def sessions(self, split: str) -> dict[str, list[str]]:
        """The split's clips grouped by session, sessions and their clips in first-seen order."""
        out: dict[str, list[str]] = {}
        for rel in self.clips(split):
            out.setdefault(self.session_of(rel), []).append(rel)
        return out

    def group_of(self, rel: str) -> Any:
        """The group whose listeners are appropriate candidates for each other (the session, by default)."""
        return self.session_of(rel)

    def sort_key(self, rel: str) -> Any:
        """The order of clips within a group (the official draws depend on it)."""
        return rel

    def dataset_file(self, name: str) -> Path:
        return dataset_file(self.root, name)

    @cached_property
    def description(self) -> dict[str, Any]:
        """What provenance records about the layout."""
        from dataclasses import asdict, is_dataclass

        return {"layout": self.name, "settings": asdict(self.settings) if is_dataclass(self.settings) else None}
