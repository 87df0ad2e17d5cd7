"""MARS (REACT 2025 and 2026): clips found in the tree, paired by stem within a session, any length, 30 fps.

Layout ``<root>/<split>/<kind>/<role>/<session>/<stem>.<ext>`` with kinds ``video-face-crop`` (or ``video-raw``,
.mp4), ``audio`` (.wav), ``facial-attributes`` (.npy, (T, 25): REACT's 25 emotion channels), ``coefficients``
(.npy, (T, 58), possibly with a leading singleton axis) and, optionally, ``audio-features`` (.npy, (T, 768),
wav2vec2-base); roles ``speaker`` and ``listener``; sessions ``session0`` ... A pair is the same stem under both
roles of one session. A clip id is ``<role>/<session>/<stem>``. REACT 2026 adds ``personality/{listener,
speaker}.csv`` and ``eeg_processed/<role>/<session>/<stem>.csv`` per split: recognised and checked when present.

Pairs come in the order of the REACT 2026 metric script (``framework/utils/baseline_reaction_metrics.py``): session
folders sorted as text (``session10`` before ``session2``), then file names sorted as text, speaker -> listener;
the official ground-truth draws depend on this order; with ``bidirectional`` (the 2025 loader's behaviour; the 2026 loader's default is off) every split's
rows also hold each pair with roles swapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mafrg.data.layouts import register_layout
from mafrg.data.layouts.base import ClipFiles, Layout, LayoutError, check_frames_inside, check_name, inside_root

ROLES = ("speaker", "listener")
SHAPE = "<role>/<session>/<stem>"
# modality -> (folder kind, extension); the video folder is a setting
KINDS: dict[str, tuple[str, str]] = {
    "audio": ("audio", ".wav"), "emotion": ("facial-attributes", ".npy"), "tdmm": ("coefficients", ".npy"),
}
OPTIONAL_KINDS: dict[str, tuple[str, str]] = {"audio_features": ("audio-features", ".npy")}
PERSONALITY_FILES = ("listener.csv", "speaker.csv")
PERSONALITY_COLUMNS = ("video_name", "session", "Extraversion", "Agreeableness", "Conscientiousness",
                       "Neuroticism", "Openness")
PERSONALITY_RANGE = (1.0, 5.0)


@dataclass
class MarsSettings:
    """The MARS layout's block (``dataset.mars``)."""

    # every pair also evaluated (and trained) with roles swapped: the 2025 loader's behaviour; 2026 defaults to off
    bidirectional: bool = False
    # which video the face streams read: the 384x384 face crops or the 1920x1080 raw recordings
    video: Literal["video-face-crop", "video-raw"] = "video-face-crop"


@register_layout
class Mars(Layout):
    """The MARS layout (module doc)."""

    name = "mars"
    settings_cls = MarsSettings
    clip_pattern = "(?:speaker|listener)/[^/]+/[^/]+"
    session_pattern = "[^/]+"
    clip_shape = SHAPE
    native_fps = 30
    ragged = True
    appropriate = "draws"

    @property
    def kinds(self) -> dict[str, tuple[str, str]]:
        return {"video": (self.settings.video, ".mp4"), **KINDS}

    # ------------------------------------------------------------------------------------------ discovery
    def _scan(self, split: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
        """(pairs, problems) of a split: every complete stem present under both roles, and each file or folder
        that breaks the layout."""
        try:
            return self._walk(split)
        except OSError as exc:  # an unreadable folder: named, not a crash
            return (), (f"{exc.filename or self.root / split}: cannot be read ({exc.strerror or exc})",)

    def _walk(self, split: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
        base = self.root / split
        if not base.is_dir():
            return (), (f"{base}: split folder missing (MARS layout: <root>/<split>/<kind>/<role>/<session>/"
                        f"<stem>.<ext>, kinds {', '.join(k for k, _ in self.kinds.values())})",)
        problems: list[str] = []
        found: dict[tuple[str, str, str], set[str]] = {}  # (role, session, stem) -> modalities present
        for modality, (kind, ext) in {**self.kinds, **OPTIONAL_KINDS}.items():
            folder = base / kind
            if not folder.is_dir():
                if modality not in OPTIONAL_KINDS:
                    problems.append(f"{folder}: folder missing (the {modality} of every clip)")
                continue
            for role_dir in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
                if role_dir.name not in ROLES or not role_dir.is_dir():
                    problems.append(f"{role_dir}: not a role folder (expected {' or '.join(ROLES)})")
                    continue
                for session_dir in sorted(p for p in role_dir.iterdir() if not p.name.startswith(".")):
                    if not session_dir.is_dir():
                        problems.append(f"{session_dir}: expected a session folder")
                        continue
                    for f in sorted(p for p in session_dir.iterdir() if not p.name.startswith(".")):
                        if f.suffix != ext:
                            problems.append(f"{f}: not a {kind} file (expected <stem>{ext})")
                            continue
                        rel = f"{role_dir.name}/{session_dir.name}/{f.stem}"
                        why = check_name(rel, 3, SHAPE)
                        if why:
                            problems.append(f"{f}: clip {rel!r}: {why}")
                            continue
                        try:
                            inside_root(self.root, f, f"({modality} of clip {rel})")
                        except LayoutError as exc:
                            problems.append(str(exc))
                            continue
                        found.setdefault((role_dir.name, session_dir.name, f.stem), set()).add(modality)
        required = set(self.kinds)
        complete: dict[tuple[str, str], set[str]] = {}
        for (role, session, stem), have in sorted(found.items()):
            for modality in sorted(required - have):
                kind, ext = self.kinds[modality]
                problems.append(f"{base / kind / role / session / (stem + ext)}: missing (the {modality} of clip "
                                f"{role}/{session}/{stem})")
            if required <= have:
                complete.setdefault((session, stem), set()).add(role)
        for (role, session, stem) in sorted(found):
            partner = ROLES[1 - ROLES.index(role)]
            if (partner, session, stem) not in found:
                problems.append(f"{base}/*/{role}/{session}/{stem}: no {partner} clip with the same stem in "
                                f"{session} (a pair is one stem under both roles)")
        pairs = tuple((f"speaker/{s}/{t}", f"listener/{s}/{t}")
                      for s, t in sorted(complete, key=lambda k: (k[0], k[1] + KINDS["emotion"][1]))
                      if complete[(s, t)] == set(ROLES))
        if not pairs and not problems:
            problems.append(f"{base}: no speaker/listener pair found")
        return pairs, tuple(problems)

    def clip_files(self, split: str, rel: str) -> ClipFiles:
        rel = rel.strip()
        why = self.check_clip(rel)
        if why:
            raise LayoutError(f"clip {rel!r}: {why}")
        role, session, stem = rel.split("/")
        if role not in ROLES:
            raise LayoutError(f"clip {rel!r}: role {role!r} is not one of {', '.join(ROLES)}")
        path = {m: self.root / split / kind / role / session / (stem + ext) for m, (kind, ext) in self.kinds.items()}
        kind, ext = OPTIONAL_KINDS["audio_features"]
        feats = self.root / split / kind / role / session / (stem + ext)
        files = ClipFiles(split=split, rel=rel, video=path["video"], audio=path["audio"], emotion=path["emotion"],
                          tdmm=path["tdmm"], audio_features=feats if feats.exists() else None)
        for modality, p in files.files().items():
            inside_root(self.root, p, f"({modality} of clip {rel})")
        check_frames_inside(self.root, files)
        return files

    def file_settings(self) -> dict[str, str]:
        return {"video": self.settings.video}

    def index_files(self, split: str) -> list[Path]:
        """Every file of every paired clip: a new or replaced recording re-validates and re-assembles the split."""
        return [p for s, l in self.scan(split)[0] for rel in (s, l) for p in self.clip_files(split, rel).files().values()]

    def session_of(self, rel: str) -> str:
        why = self.check_clip(rel)
        if why:
            raise LayoutError(f"clip {rel!r}: {why}")
        return rel.split("/")[1]

    def mirrored(self, split: str) -> bool:
        return self.settings.bidirectional

    def role_of(self, rel: str) -> str:
        return rel.split("/")[0]

    def group_of(self, rel: str) -> tuple[str, str]:
        """(role, session): the official draws pick the ground truths among the paired listener's role and session."""
        role, session, _ = rel.split("/")
        return role, session

    def sort_key(self, rel: str) -> tuple[str, str, str]:
        """The metric script's order: role, session folder, then file name (``<stem>.npy``) as text."""
        role, session, stem = rel.split("/")
        return role, session, stem + KINDS["emotion"][1]

    def identity(self, rel: str) -> tuple[str, str]:
        """'<role>/<session>/<stem>' -> ('<session>/<stem>', role): MARS names no person, only the role."""
        role, session, stem = rel.split("/")
        return f"{session}/{stem}", role

    # ------------------------------------------------------------------------------------------ REACT 2026 files
    def extra_problems(self, split: str) -> list[str]:
        """``personality/*.csv`` and ``eeg_processed/`` of the split, when present."""
        problems = [p for name in PERSONALITY_FILES
                    if (f := self.root / split / "personality" / name).exists()
                    for p in _personality_problems(self.root, f)]
        eeg = self.root / split / "eeg_processed"
        if eeg.is_dir():
            for f in sorted(eeg.rglob("*")):
                if f.is_dir():
                    continue
                rel = f.relative_to(eeg).with_suffix("").as_posix()
                why = check_name(rel, 3, SHAPE) or (None if f.suffix == ".csv" else "not a .csv file")
                if why:
                    problems.append(f"{f}: {why} (eeg_processed/<role>/<session>/<stem>.csv)")
                    continue
                try:
                    inside_root(self.root, f, "(EEG file)")
                    _check_csv(f)
                except (LayoutError, ValueError) as exc:
                    problems.append(str(exc))
        return problems


def _check_csv(path: Path) -> None:
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any parse failure names the file
        raise ValueError(f"{path}: cannot be parsed as CSV ({exc})") from exc
    if len(df) == 0:
        raise ValueError(f"{path}: no data rows")


def _personality_problems(root: Path, path: Path) -> list[str]:
    """A personality table: the official columns, numeric traits on the 1-5 scale, one row per clip."""
    import pandas as pd

    try:
        inside_root(root, path, "(personality table)")
        df = pd.read_csv(path)
    except LayoutError as exc:
        return [str(exc)]
    except Exception as exc:  # noqa: BLE001
        return [f"{path}: cannot be parsed as CSV ({exc})"]
    missing = [c for c in PERSONALITY_COLUMNS if c not in df.columns]
    if missing:
        return [f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(PERSONALITY_COLUMNS)})"]
    out = []
    traits = df[list(PERSONALITY_COLUMNS[2:])].apply(pd.to_numeric, errors="coerce")
    lo, hi = PERSONALITY_RANGE
    bad = traits.isna() | (traits < lo) | (traits > hi)
    if bad.to_numpy().any():
        r, c = (int(x) for x in bad.to_numpy().nonzero()[0][:1].tolist() + bad.to_numpy().nonzero()[1][:1].tolist())
        out.append(f"{path}: {int(bad.to_numpy().sum())} trait value(s) missing, non-numeric or outside "
                   f"[{lo:g}, {hi:g}]; first at data row {r + 1}, column {traits.columns[c]}")
    dup = df.duplicated(subset=["session", "video_name"])
    if dup.any():
        out.append(f"{path}: {int(dup.sum())} repeated (session, video_name) row(s); first at data row "
                   f"{int(dup.to_numpy().nonzero()[0][0]) + 1}")
    return out
