"""The REACT 2024 directory layout, split files and the mirrored row order of evaluation.

Layout: ``<root>/<split>/{Video_files,Audio_files,Emotion,3D_FV_files}/<site>/<session>/<person>/<clip>``,
video as ``<clip>.mp4`` or a folder ``<clip>/1.png ... N.png``; split files ``<root>/<split>.csv`` with header
``,speaker_path,listener_path``.

Mirrored evaluation: rows 0..N-1 are the csv's speaker->listener pairs, rows N..2N-1 the same pairs with roles
swapped. Neighbour matrices index rows in exactly this order, so it is produced in one place only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mafrg.constants import MODALITY_DIRS


if TYPE_CHECKING:
    import pandas as pd


class LayoutError(ValueError):
    """The dataset's split files or directory layout are not what REACT 2024 specifies."""


@dataclass(frozen=True)
class ClipFiles:
    """The four files (or folder, for PNG video) of one person in one clip."""

    split: str
    rel: str  # <site>/<session>/<person>/<clip>
    video: Path  # .mp4 file, or folder of 1.png..N.png
    audio: Path
    emotion: Path
    tdmm: Path

    @property
    def video_is_folder(self) -> bool:
        return self.video.suffix != ".mp4"


REL_PARTS = 4  # <site>/<session>/<person>/<clip>


def check_rel(rel: str) -> str | None:
    """None when a split file's clip path has the layout's shape, else which rule it breaks.

    A clip path is four non-empty parts ``<site>/<session>/<person>/<clip>``, relative, without ``.`` or ``..``
    parts, backslashes or control characters. Anything else in a name (spaces, ``$``, quotes, non-ASCII) is
    data: every rule passes paths to a shell quoted."""
    if any(ord(c) < 32 or ord(c) == 127 for c in rel):
        return "a control character (e.g. a newline) in the path"
    if "\\" in rel:
        return "a backslash in the path (parts are separated by '/')"
    if rel.startswith("/"):
        return "an absolute path (clip paths are relative to the split's modality folders)"
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        bad = next(p for p in parts if p in ("", ".", ".."))
        return f"a '{bad}' part" if bad else "an empty part ('//')"
    if len(parts) != REL_PARTS:
        return f"{len(parts)} parts, the layout has {REL_PARTS} parts (<site>/<session>/<person>/<clip>)"
    return None


def inside_root(root: str | Path, path: str | Path, what: str = "") -> Path:
    """``path`` when it resolves inside the dataset root, symlinks followed (of the file and of every folder on the
    way), else a :class:`LayoutError` naming it and where it leads. Every file a stage opens from the dataset comes
    through here (:func:`clip_files`, :func:`split_file`, :func:`dataset_file`): a link out of the root is never
    read."""
    root_abs, path = Path(root).resolve(), Path(path)
    target = path.resolve()
    if target != root_abs and root_abs not in target.parents:
        raise LayoutError(f"{path}: {what + ' ' if what else ''}resolves outside the dataset root {root_abs} "
                          f"(to {target}); files must lie inside the root, links included")
    return path


def dataset_file(root: str | Path, name: str) -> Path:
    """A file at the top of the dataset root (a neighbour matrix, the demo's manifest), checked by :func:`inside_root`."""
    return inside_root(root, Path(root) / name)


def clip_files(root: str | Path, split: str, rel: str) -> ClipFiles:
    """Resolve a clip's files. An mp4 takes precedence over a PNG folder of the same name. Each file (and each
    linked frame of a PNG folder) must resolve inside the root (:func:`inside_root`)."""
    root = Path(root)
    rel = rel.strip()
    why = check_rel(rel)
    if why:
        raise LayoutError(f"clip path {rel!r}: {why}")
    base = {k: root / split / d / rel for k, d in MODALITY_DIRS.items()}
    mp4 = base["video"].with_name(base["video"].name + ".mp4")
    video = mp4 if mp4.exists() or not base["video"].is_dir() else base["video"]
    files = ClipFiles(
        split=split, rel=rel, video=video,
        audio=base["audio"].with_name(base["audio"].name + ".wav"),
        emotion=base["emotion"].with_name(base["emotion"].name + ".csv"),
        tdmm=base["tdmm"].with_name(base["tdmm"].name + ".npy"),
    )
    for kind in ("video", "audio", "emotion", "tdmm"):
        inside_root(root, getattr(files, kind), f"({kind} of clip {rel})")
    if files.video_is_folder:
        with os.scandir(files.video) as entries:
            for e in entries:
                if e.is_symlink():  # a plain entry of a folder inside the root is inside the root
                    inside_root(root, e.path, f"(a frame of clip {rel})")
    return files


def split_file(root: str | Path, split: str) -> Path:
    """``<root>/<split>.csv``, checked by :func:`inside_root`."""
    return inside_root(root, Path(root) / f"{split}.csv", "(split file)")


def read_split(root: str | Path, split: str) -> pd.DataFrame:
    """Read ``<root>/<split>.csv`` -> DataFrame with columns speaker_path, listener_path (csv order)."""
    import pandas as pd  # here, not at the top: every extraction job imports this module (0.5 s)

    path = split_file(root, split)
    if not path.is_file():
        raise LayoutError(f"{path}: split file missing (expected header ',speaker_path,listener_path')")
    try:
        df = pd.read_csv(path, index_col=0, dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a layout error of this file
        raise LayoutError(f"{path}: cannot be parsed as CSV ({exc})") from exc
    missing = {"speaker_path", "listener_path"} - set(df.columns)
    if missing:
        raise LayoutError(f"{path}: missing column(s) {sorted(missing)}; header must be ',speaker_path,listener_path'")
    df = df[["speaker_path", "listener_path"]].reset_index(drop=True).apply(lambda c: c.str.strip())
    if len(df) == 0:
        raise LayoutError(f"{path}: the split file lists no speaker/listener pair")
    empty = df.index[(df.speaker_path.str.strip() == "") | (df.listener_path.str.strip() == "")].tolist()
    if empty:
        raise LayoutError(f"{path}: empty speaker/listener path in row(s) {empty}")
    problems = []
    first: dict[tuple[str, str], int] = {}
    for i, pair in enumerate(zip(df.speaker_path, df.listener_path)):
        if pair[0] == pair[1]:
            problems.append(f"line {i + 2}: the speaker {pair[0]!r} is its own listener")
        if pair in first:  # mirrored evaluation would hold the pair twice, with the same neighbours
            problems.append(f"line {i + 2}: the pair {pair[0]!r} -> {pair[1]!r} repeats line {first[pair] + 2}")
        first.setdefault(pair, i)
    for i, (s, l) in enumerate(zip(df.speaker_path, df.listener_path)):
        for col, rel in (("speaker_path", s), ("listener_path", l)):
            why = check_rel(rel)
            if why is None:  # and each of its files stays inside the root (a link may point out)
                try:
                    clip_files(root, split, rel)
                except LayoutError as exc:
                    why = str(exc)
            if why:
                problems.append(f"line {i + 2}, {col} {rel!r}: {why}")
    if problems:
        raise LayoutError(f"{path}: clip paths must be <site>/<session>/<person>/<clip> inside the dataset root:\n  - "
                          + "\n  - ".join(problems))
    return df


@dataclass(frozen=True)
class PairRow:
    """One evaluated row: whose behaviour is the stimulus (speaker) and whose is the reaction (listener)."""

    index: int
    speaker: str
    listener: str
    mirrored: bool


def split_rows(root: str | Path, split: str, mirrored: bool) -> list[PairRow]:
    """Rows of a split; with ``mirrored`` the N swapped pairs follow the N original ones."""
    df = read_split(root, split)
    rows = [PairRow(i, s, l, False) for i, (s, l) in enumerate(zip(df.speaker_path, df.listener_path))]
    if mirrored:
        n = len(rows)
        rows += [PairRow(n + r.index, r.listener, r.speaker, True) for r in rows[:n]]
    return rows


def session_of(rel: str) -> str:
    """'<site>/<session>/<person>/<clip>' -> '<site>/<session>': the unit of one feature extraction job."""
    why = check_rel(rel)
    if why:
        raise LayoutError(f"clip path {rel!r}: {why}")
    return rel.rsplit("/", 2)[0]


def clips_by_session(rels: list[str]) -> dict[str, list[str]]:
    """Clips grouped by session, sessions and their clips in first-seen order."""
    out: dict[str, list[str]] = {}
    for rel in rels:
        out.setdefault(session_of(rel), []).append(rel)
    return out


def referenced_clips(root: str | Path, split: str) -> list[str]:
    """Every distinct clip (person) a split file references, in first-seen order."""
    return pair_clips(read_split(root, split))


def pair_clips(df: pd.DataFrame) -> list[str]:
    """Every distinct clip (person) of a split's pairs (:func:`read_split`), in first-seen order."""
    seen: dict[str, None] = {}
    for s, l in zip(df.speaker_path, df.listener_path):
        seen.setdefault(s, None)
        seen.setdefault(l, None)
    return list(seen)
