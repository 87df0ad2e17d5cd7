"""Read a submission package back and check it: layout, counts, shapes, dtypes, value ranges, checksums.

Works on a package made by another tool in the same layout (no manifest: no checksums; no rows.csv and no
``--data``: the clips found are taken as the rows). Every problem is collected and reported by path, so one
run lists everything that is wrong. With the split's ground truth the package is evaluated by the engine.

Nothing outside the package is ever read: a file or folder that is a link leading out of it is reported and
skipped, a manifest path that leaves the package (absolute, ``..``) is refused without hashing anything, and a
package with no rows is an error.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mafrg.constants import N_3DMM, N_EMOTION
from mafrg.provenance import file_sha256
from mafrg.submission import MANIFEST, RESULTS_PT, VARIANT_DIRS, result_name, tdmm_name
from mafrg.submission.values import check_values

_RESULT = re.compile(r"^result-(\d+)\.(npy|pth)$")
_TDMM = re.compile(r"^3dmm-(\d+)\.npy$")


@dataclass
class VariantContents:
    split: str
    clips: list[str]  # speaker clips in row order
    emotion: np.ndarray | list[np.ndarray] | None  # (rows, alpha, T, 25), or per row (alpha, T_k, 25) for clips
    # of any length; None unless every result could be read


@dataclass
class CheckReport:
    root: Path
    problems: list[str] = field(default_factory=list)
    variants: dict[str, VariantContents] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None
    _outside: set[Path] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.problems

    def inside(self, path: Path) -> bool:
        """True when ``path`` (links followed) lies inside the package; else reported once and False."""
        target = path.resolve()
        top = self.root.resolve()
        if target == top or top in target.parents:
            return True
        if path not in self._outside:
            self._outside.add(path)
            self.problems.append(f"{path}: a link to {target}, outside the package (not read)")
        return False


def _load(path: Path) -> np.ndarray:
    if path.suffix == ".pth":
        import torch

        x = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"holds a {type(x).__name__}, not a tensor")
        return x.numpy()
    return np.load(path, allow_pickle=False)


def _rows_csv(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    with open(path, newline="") as fh:
        return [r["speaker_path"] for r in csv.DictReader(fh)]


def _clips_on_disk(split_dir: Path) -> set[str]:
    return {p.parent.relative_to(split_dir).as_posix() for p in split_dir.rglob("result-*") if p.is_file()}


def check_package(root: str | Path, speakers: list[str] | None = None, split: str | None = None,
                  n_predictions: int | None = None) -> CheckReport:
    """Check the package at ``root``. ``speakers``: the split's speaker clips in official row order (from the
    assembled split); else rows.csv, else the clips found on disk. ``n_predictions``: results per clip
    (default: the manifest's, else the challenge's 10)."""
    root = Path(root)
    rep = CheckReport(root)
    if not root.is_dir():
        rep.problems.append(f"{root}: no such directory")
        return rep
    man_path = root / MANIFEST
    if man_path.is_file() and rep.inside(man_path):
        try:
            rep.manifest = json.loads(man_path.read_text())
        except ValueError as exc:
            rep.problems.append(f"{man_path}: not valid JSON ({exc})")
    man = rep.manifest or {}
    fmt = (man.get("options") or {}).get("format")
    binarized = bool(((man.get("options") or {}).get("value_rules") or {}).get("binarize", False))
    vdirs = [v for v in VARIANT_DIRS if (root / v).is_dir() and rep.inside(root / v)]
    if not vdirs:
        rep.problems.append(f"{root}: neither offline/ nor online/ is there")
    for v in man.get("variants", {}):
        if v not in vdirs:
            rep.problems.append(f"{root / v}: the manifest lists variant {v}, the directory is missing")
    for vdir in vdirs:
        _check_variant(rep, root, vdir, speakers, split or man.get("split"), fmt, binarized, man, n_predictions)
    _check_checksums(rep, root, man)
    return rep


def _check_variant(rep: CheckReport, root: Path, vdir: str, speakers: list[str] | None, split: str | None,
                   fmt: str | None, binarized: bool, man: dict, n_predictions: int | None) -> None:
    splits = [p.name for p in (root / vdir).iterdir() if p.is_dir() and p.name != "videos" and rep.inside(p)]
    if split is None:
        if len(splits) != 1:
            rep.problems.append(f"{root / vdir}: expected one split directory, found {splits or 'none'}")
            return
        split = splits[0]
    sdir = root / vdir / split
    if not sdir.is_dir():
        rep.problems.append(f"{sdir}: missing")
        return
    if not rep.inside(sdir):
        return
    expected = speakers or (_rows_csv(sdir / "rows.csv") if rep.inside(sdir / "rows.csv") else None)
    on_disk = _clips_on_disk(sdir)
    if expected is None:
        expected = sorted(on_disk)
    if not expected:
        rep.problems.append(f"{sdir}: the package holds no rows (no result files, no rows.csv)")
    info = (man.get("variants") or {}).get(vdir, {})
    alpha = n_predictions or info.get("n_predictions", 10)
    frames = info.get("frames")
    if info.get("ragged") or (sdir / RESULTS_PT).is_file():
        return _check_clips(rep, sdir, vdir, split, expected, on_disk, info, alpha, fmt, binarized, man)
    if info.get("rows") is not None and info["rows"] != len(expected):
        rep.problems.append(f"{sdir}: the manifest says {info['rows']} rows, the split has {len(expected)}")
    for extra in sorted(on_disk - set(expected)):
        rep.problems.append(f"{sdir / extra}: extra row (not a speaker clip of the split)")
    emotion = np.zeros((len(expected), alpha, frames or 0, N_EMOTION), np.float32) if frames else None
    complete = True
    for i, clip in enumerate(expected):
        results, ok = _clip_results(rep, sdir / clip, i, alpha, fmt, frames, binarized, man)
        complete &= ok
        for k, x in enumerate(results):
            if x is None:
                continue
            if frames is None:
                frames = x.shape[0]
                emotion = np.zeros((len(expected), alpha, frames, N_EMOTION), np.float32)
            if emotion is not None and x.shape[0] == frames:
                emotion[i, k] = x
    stacked = sdir / "predictions.npy"
    if stacked.is_file() and complete and emotion is not None and rep.inside(stacked):
        try:
            p = np.load(stacked, mmap_mode="r", allow_pickle=False)
            if p.shape != emotion.shape:
                rep.problems.append(f"{stacked}: shape {p.shape}, the result files make {emotion.shape}")
            elif not np.array_equal(np.asarray(p), emotion):
                rep.problems.append(f"{stacked}: differs from the per-clip result files")
        except (OSError, ValueError) as exc:
            rep.problems.append(f"{stacked}: unreadable ({exc})")
    elif "files" in man and not stacked.is_file():
        rep.problems.append(f"{stacked}: missing")
    rep.variants[vdir] = VariantContents(split, list(expected), emotion if complete else None)


def _clip_results(rep: CheckReport, cdir: Path, i: int, alpha: int, fmt: str | None, frames: int | None,
                  binarized: bool, man: dict) -> tuple[list[np.ndarray | None], bool]:
    """One clip's result files (and their 3DMM companions) read and checked: (each result or None, all read).
    ``frames``: the expected length; None takes the first result's."""
    if not cdir.is_dir():
        rep.problems.append(f"{cdir}: missing clip (row {i}): no results")
        return [], False
    if not rep.inside(cdir):
        return [], False
    names = {p.name for p in cdir.iterdir() if p.is_file()}
    for name in sorted(names):
        m = _RESULT.match(name) or _TDMM.match(name)
        if m is None or int(m.group(1)) >= alpha:
            rep.problems.append(f"{cdir / name}: unexpected file (a package holds result-0..{alpha - 1})")
    out: list[np.ndarray | None] = []
    for k in range(alpha):
        candidates = [result_name(k, fmt)] if fmt else [result_name(k, "npy"), result_name(k, "pth")]
        present = [c for c in candidates if c in names]
        if not present:
            rep.problems.append(f"{cdir / candidates[0]}: missing")
            out.append(None)
            continue
        x = _read(rep, cdir / present[0], N_EMOTION, frames) if rep.inside(cdir / present[0]) else None
        out.append(x)
        if x is None:
            continue
        frames = frames or x.shape[0]
        rep.problems.extend(check_values(x, binarized, str(cdir / present[0])))
        if "files" in man or tdmm_name(k) in names:
            if tdmm_name(k) not in names:
                rep.problems.append(f"{cdir / tdmm_name(k)}: missing")
            elif rep.inside(cdir / tdmm_name(k)):
                t = _read(rep, cdir / tdmm_name(k), N_3DMM, frames)
                if t is not None and not np.isfinite(t).all():
                    rep.problems.append(f"{cdir / tdmm_name(k)}: NaN or inf")
    return out, all(x is not None for x in out)


def _check_clips(rep: CheckReport, sdir: Path, vdir: str, split: str, expected: list[str], on_disk: set[str],
                 info: dict, alpha: int, fmt: str | None, binarized: bool, man: dict) -> None:
    """A variant of clips of any length (MARS): each clip's results share that clip's length, and
    ``results.pt`` (the official baselines' artefact) holds the same values in row order."""
    if info.get("rows") is not None and info["rows"] != len(expected):
        rep.problems.append(f"{sdir}: the manifest says {info['rows']} rows, the split has {len(expected)}")
    for extra in sorted(on_disk - set(expected)):
        rep.problems.append(f"{sdir / extra}: extra row (not a speaker clip of the split)")
    rows: list[np.ndarray] = []
    complete = True
    for i, clip in enumerate(expected):  # each clip at its own length: the first result sets it
        results, ok = _clip_results(rep, sdir / clip, i, alpha, fmt, None, binarized, man)
        complete &= ok
        if ok:
            rows.append(np.stack(results))
    pt = sdir / RESULTS_PT
    if pt.is_file() and rep.inside(pt):
        _check_results_pt(rep, pt, rows if complete else None, len(expected), alpha)
    elif "files" in man:
        rep.problems.append(f"{pt}: missing")
    rep.variants[vdir] = VariantContents(split, list(expected), rows if complete else None)


def _check_results_pt(rep: CheckReport, pt: Path, rows: list[np.ndarray] | None, n: int, alpha: int) -> None:
    """``results.pt``: a dict with PRED (and optionally GT), lists of one float tensor per row, read without
    unpickling anything but tensors (``weights_only=True``)."""
    import torch

    try:
        obj = torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a corrupt or unsafe file is a reported problem
        rep.problems.append(f"{pt}: unreadable as a tensor file ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")
        return
    if not isinstance(obj, dict) or not isinstance(obj.get("PRED"), list):
        rep.problems.append(f"{pt}: expected a dict with a list 'PRED' (and 'GT'), found {type(obj).__name__}")
        return
    for key in ("PRED", "GT"):
        xs = obj.get(key)
        if xs is None:
            continue
        if len(xs) != n:
            rep.problems.append(f"{pt}: {key} holds {len(xs)} clips, the split has {n} rows")
            continue
        for i, x in enumerate(xs):
            if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[-1] != N_EMOTION:
                rep.problems.append(f"{pt}: {key}[{i}] is not a (n, T, {N_EMOTION}) tensor")
                break
            if key == "PRED" and x.shape[0] != alpha:
                rep.problems.append(f"{pt}: PRED[{i}] holds {x.shape[0]} reactions, expected {alpha}")
                break
            if rows is not None and x.shape[1] != rows[i].shape[1]:
                rep.problems.append(f"{pt}: {key}[{i}] has {x.shape[1]} frames, row {i}'s results {rows[i].shape[1]}")
                break
            if key == "PRED" and rows is not None and not np.array_equal(x.numpy(), rows[i]):
                rep.problems.append(f"{pt}: PRED[{i}] differs from the per-clip result files of row {i}")
                break
            if not torch.isfinite(x).all():
                rep.problems.append(f"{pt}: {key}[{i}] has NaN or inf")
                break


def _read(rep: CheckReport, path: Path, channels: int, frames: int | None) -> np.ndarray | None:
    try:
        x = _load(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a reported problem, not a crash
        rep.problems.append(f"{path}: unreadable (truncated or not a {path.suffix} array?): {exc}")
        return None
    if x.dtype != np.float32:
        rep.problems.append(f"{path}: dtype {x.dtype}, expected float32")
    want = (frames if frames else x.shape[0] if x.ndim == 2 else -1, channels)
    if x.ndim != 2 or x.shape != want:
        rep.problems.append(f"{path}: shape {x.shape}, expected {want}")
        return None
    return x.astype(np.float32, copy=False)


def _check_checksums(rep: CheckReport, root: Path, man: dict) -> None:
    files = man.get("files")
    if not files:
        return
    for rel, sha in files.items():
        p = root / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            rep.problems.append(f"{MANIFEST}: path {rel!r} leaves the package (refused, nothing hashed)")
            continue
        if not rep.inside(p):
            continue
        if not p.is_file():
            if not any(p.as_posix() in q for q in rep.problems):
                rep.problems.append(f"{p}: listed in the manifest, missing")
        elif file_sha256(p) != sha:
            rep.problems.append(f"{p}: sha256 differs from the manifest (changed or corrupted)")
    for vdir in VARIANT_DIRS:
        if (root / vdir).is_dir():
            for p in sorted((root / vdir).rglob("*")):
                if p.is_file() and p.relative_to(root).as_posix() not in files and rep.inside(p):
                    rep.problems.append(f"{p}: not in the manifest")


def evaluate_package(rep: CheckReport, data, neighbours: np.ndarray, protocol: str = "react2024",
                     threads: int | None = None, alignment: str = "resample", fps: int = 30
                     ) -> dict[str, dict[str, float]]:
    """The REACT metrics of every variant whose results were all readable, against the split's listeners."""
    from mafrg.metrics.engine import evaluate

    out = {}
    for vdir, v in rep.variants.items():
        if v.emotion is None:
            continue
        if v.clips != [r.speaker for r in data.rows]:
            rep.problems.append(f"{rep.root / vdir}: rows do not follow {data.split}'s official row order")
            continue
        if data.ragged:
            from mafrg.metrics import ragged
            from mafrg.metrics.engine import aggregate

            part = ragged.contributions(iter(v.emotion), data.speaker_emotion_of,
                                        lambda k: [data.listener_emotion_of(int(j)) for j in np.flatnonzero(neighbours[k])],
                                        0, data.n_rows, protocol, alignment, fps, threads, progress=False,
                                        name=str(rep.root / vdir))
            out[vdir] = {k: float(x) for k, x in aggregate([part], data.n_rows, protocol).metrics.items()}
            continue
        res = evaluate(v.emotion, data.listener_emotion, data.speaker_emotion, neighbours, protocol=protocol,
                       threads=threads, progress=False, names={"pred": str(rep.root / vdir)})
        out[vdir] = {k: float(x) for k, x in res.metrics.items()}
    return out


def format_tables(scores: dict[str, dict[str, float]]) -> str:
    """A Markdown table per variant, columns from the one metric table."""
    from mafrg.metrics.table import ENGINE

    lines = ["| variant | " + " | ".join(ENGINE) + " |", "|---|" + "---:|" * len(ENGINE)]
    for v, m in scores.items():
        lines.append(f"| {v} | " + " | ".join(f"{m[k]:.4f}" if k in m else "n/a" for k in ENGINE) + " |")
    return "\n".join(lines)
