"""REACT 2024: clips listed by split files, four-part clip paths, fixed-length clips at 25 fps.

Layout: ``<root>/<split>/{Video_files,Audio_files,Emotion,3D_FV_files}/<site>/<session>/<person>/<clip>``,
video as ``<clip>.mp4`` or a folder ``<clip>/1.png ... N.png``; split files ``<root>/<split>.csv`` with header
``,speaker_path,listener_path``. Evaluation splits are mirrored (see :mod:`mafrg.data.layouts.base`); the
appropriate sets are the organisers' neighbour matrices (or built from speaker similarity, :mod:`mafrg.neighbours`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mafrg.constants import MODALITY_DIRS
from mafrg.data.layouts import register_layout
from mafrg.data.layouts.base import ClipFiles, Layout, LayoutError, check_frames_inside, check_name, inside_root

if TYPE_CHECKING:
    import pandas as pd

REL_PARTS = 4  # <site>/<session>/<person>/<clip>


SHAPE = "<site>/<session>/<person>/<clip>"


def check_rel(rel: str) -> str | None:
    """None when a split file's clip path has the layout's shape (:func:`~mafrg.data.layouts.base.check_name`),
    else which rule it breaks."""
    return check_name(rel, REL_PARTS, SHAPE)


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
    for kind, path in files.files().items():
        inside_root(root, path, f"({kind} of clip {rel})")
    check_frames_inside(root, files)
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


def session_of(rel: str) -> str:
    """'<site>/<session>/<person>/<clip>' -> '<site>/<session>': the unit of one feature extraction job."""
    why = check_rel(rel)
    if why:
        raise LayoutError(f"clip path {rel!r}: {why}")
    return rel.rsplit("/", 2)[0]


@register_layout
class React2024(Layout):
    """The REACT 2024 layout (module doc). Its clip order is the split file's; evaluation splits are mirrored."""

    name = "react2024"
    clip_pattern = "[^/]+/[^/]+/[^/]+/[^/]+"
    session_pattern = "[^/]+/[^/]+"
    clip_shape = SHAPE
    native_fps = 25
    ragged = False

    def _scan(self, split: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
        try:
            df = read_split(self.root, split)
        except LayoutError as exc:  # read_split names every bad line at once
            return (), (str(exc),)
        return tuple(zip(df.speaker_path, df.listener_path)), ()

    def clip_files(self, split: str, rel: str) -> ClipFiles:
        return clip_files(self.root, split, rel)

    def session_of(self, rel: str) -> str:
        return session_of(rel)

    def mirrored(self, split: str) -> bool:
        return split != "train"

    def identity(self, rel: str) -> tuple[str, str]:
        """'<site>/<session>/<person>/<clip>' -> ('<site>/<session>/<clip>', person)."""
        site, session, person, clip = rel.split("/")
        return f"{site}/{session}/{clip}", person

    def check_clip(self, rel: str) -> str | None:
        return check_rel(rel)

    def index_files(self, split: str) -> list[Path]:
        return [split_file(self.root, split)]
