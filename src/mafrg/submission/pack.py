"""Write a submission package (layout: :mod:`mafrg.submission`) from a run's prediction shards.

Every file is written atomically and only when its bytes change, so a rerun after one row changed rewrites that
row's files, the stacked ``predictions.npy`` and the manifest, and nothing else; a video is re-rendered only when
its inputs (speaker media, the reactions shown, the renderer settings) change. Files of rows that are no longer
in the split are removed, so a package never holds an extra row. The manifest is written last: a package whose
manifest exists is complete.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import os
import tarfile
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from mafrg.progress import tqdm

from mafrg import predictions as preds
from mafrg.atomic import atomic_path, publish, remove_stale_temps, write_json
from mafrg.config import DatasetConfig
from mafrg.methods.contract import DEFAULT_VARIANT
from mafrg.provenance import code_version, file_sha256, package_versions
from mafrg.sharding import parse_rows
from mafrg.submission import DEFAULT_VIDEO_CLIPS, MANIFEST, RESULTS_PT, VARIANT_DIRS, result_name, tdmm_name
from mafrg.submission.values import ValueRules, apply_rules

log = logging.getLogger(__name__)
ARCHIVES = ("none", "zip", "tar.gz")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: the same package gives the same archive bytes


class SubmissionError(ValueError):
    """A package cannot be made from these inputs (missing or inconsistent prediction shards, unknown clips)."""


@dataclass
class PackOptions:
    format: str = "npy"  # npy | pth (torch.save of a tensor, read back with weights_only=True)
    rules: ValueRules = field(default_factory=ValueRules)
    videos: list[str] | None = None  # speaker clips to render; None: the organisers' four when present
    video_reactions: int = 3
    archive: str = "none"  # none | zip | tar.gz

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "value_rules": self.rules.to_dict(), "videos": self.videos,
                "video_reactions": self.video_reactions, "archive": self.archive}


def variant_dirs(method, variants: list[str] | None) -> dict[str, str]:
    """Package directory (offline/online) -> the method's variant. A method with one unnamed variant (the
    baselines) is packed as offline, and also as online when that variant is causal."""
    names = [v.name for v in method.variants]
    chosen = variants or names
    for v in chosen:
        if v not in names:
            raise SubmissionError(f"{method.name} has no variant {v!r} (it has {', '.join(names)})")
    out: dict[str, str] = {}
    for v in chosen:
        if v in VARIANT_DIRS:
            out[v] = v
        elif v == DEFAULT_VARIANT:
            out["offline"] = v
            if method.variant(v).causal:
                out["online"] = v
        else:
            raise SubmissionError(f"{method.name} variant {v!r}: a submission holds only offline and online")
    return out


@dataclass
class RunShards:
    """The checked shards of one (split, label, seed) run; read one at a time (a REACT split's reactions are
    ~3 GB with their 3DMM, so they are never all in memory)."""

    ranges: list[tuple[Path, int, int]]  # (emotion file, first row, end row), tiling the split
    metas: list[dict[str, Any]]

    @property
    def files(self) -> list[str]:
        return [str(f) for f, _, _ in self.ranges]

    def tdmm_row(self, i: int) -> np.ndarray:
        """Row i's 3DMM reactions (alpha, T, 58)."""
        for f, a, b in self.ranges:
            if a <= i < b:
                return np.asarray(preds.load(f).row(i - a)[1])
        raise IndexError(i)


def _shard_files(folder: Path, shards: list[str] | None) -> list[Path]:
    if shards:
        return [folder / f"{s}.npy" for s in shards]
    found = sorted((p for p in folder.glob("r*-*.npy") if not p.name.endswith("_3dmm.npy")),
                   key=lambda p: parse_rows(p.stem))
    if not found:
        raise SubmissionError(f"{folder}: no prediction shards (run the workflow's generation first)")
    return found


def load_run(folder: str | Path, n_rows: int, shards: list[str] | None = None) -> RunShards:
    """The shards of one (split, label, seed) run, checked to tile rows [0, n_rows) exactly."""
    folder = Path(folder)
    want = 0
    ranges, metas = [], []
    for f in _shard_files(folder, shards):
        if not f.is_file() or not preds.meta_path(f).is_file():
            raise SubmissionError(f"{f}: prediction shard missing or incomplete (no {preds.meta_path(f).name})")
        a, b = parse_rows(f.stem)
        if a != want:
            raise SubmissionError(f"{f}: covers rows {a}:{b}, expected a shard starting at row {want} "
                                  "(shards overlap or leave a gap: pass --shards)")
        want = b
        r = preds.load(f)  # both files checked against each other now, before anything is written
        if r.n_rows != b - a:
            raise SubmissionError(f"{f}: {r.n_rows} rows, its name says {b - a}")
        if r.lengths is None:
            preds.load_3dmm(f)
        ranges.append((f, a, b))
        metas.append(json.loads(preds.meta_path(f).read_text()))
    if want != n_rows:
        raise SubmissionError(f"{folder}: the shards cover rows 0:{want}, the split has {n_rows}")
    return RunShards(ranges, metas)


def _same(metas: list[dict], key: str, folder: str) -> Any:
    vals = {json.dumps(m.get(key), sort_keys=True) for m in metas}
    if len(vals) > 1:
        raise SubmissionError(f"{folder}: its shards disagree on {key!r} (generated by different models or "
                              "settings): regenerate them")
    return metas[0].get(key)


def _npy_bytes(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(x, np.float32), allow_pickle=False)
    return buf.getvalue()


def _pth_bytes(x: np.ndarray) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(torch.from_numpy(np.ascontiguousarray(x, np.float32)), buf)
    return buf.getvalue()


class _Writer:
    """Writes files under ``root`` only when their bytes change; remembers every file's sha256."""

    def __init__(self, root: Path):
        self.root = root
        self.files: dict[str, str] = {}
        self.written = self.reused = 0

    def put(self, rel: str, data: bytes) -> None:
        sha = hashlib.sha256(data).hexdigest()
        path = self.root / rel
        if path.is_file() and path.stat().st_size == len(data) and file_sha256(path) == sha:
            self.reused += 1
        else:
            with atomic_path(path, suffix=path.suffix) as tmp:
                tmp.write_bytes(data)
            self.written += 1
        self.files[rel] = sha

    @contextlib.contextmanager
    def stacked(self, rel: str, shape: tuple[int, ...]) -> Iterator[np.ndarray]:
        """A float32 .npy of ``shape`` filled in place (memory-mapped) by the caller; it replaces the existing
        file only when its bytes differ, by rename, so the file is always whole."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path, ".npy")
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.npy", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        try:
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            yield arr
            arr.flush()
            del arr
            sha = file_sha256(tmp)
            if path.is_file() and file_sha256(path) == sha:
                tmp.unlink()
                self.reused += 1
            else:
                publish(tmp, path)
                self.written += 1
            self.files[rel] = sha
        finally:
            tmp.unlink(missing_ok=True)

    def record(self, rel: str, written: bool) -> None:
        """A file another writer made (a rendered video): hashed from disk."""
        self.files[rel] = file_sha256(self.root / rel)
        self.written += written
        self.reused += not written


def _put_dense(w: _Writer, run: RunShards, speakers: list[str], base: str, opts: PackOptions, encode, counts,
               progress: bool, label: str) -> tuple[int, int]:
    """Fixed-length rows: per-clip result files and the stacked (rows, alpha, T, 25) predictions.npy."""
    n = len(speakers)
    _, alpha, frames, channels = preds.load_emotion(run.ranges[0][0]).shape
    with w.stacked(f"{base}/predictions.npy", (n, alpha, frames, channels)) as stacked, \
            tqdm(total=n, desc=f"pack {label}", unit="row", disable=not progress) as bar:
        for f, a, b in run.ranges:  # one shard in memory at a time
            sub, c = apply_rules(preds.load_emotion(f), opts.rules, speakers, start=a)
            counts.update(c)
            stacked[a:b] = sub
            tdmm = preds.load_3dmm(f)
            for i in range(a, b):
                for k in range(alpha):
                    w.put(f"{base}/{speakers[i]}/{result_name(k, opts.format)}", encode(sub[i - a, k]))
                    w.put(f"{base}/{speakers[i]}/{tdmm_name(k)}", _npy_bytes(tdmm[i - a, k]))
                bar.update()
    return alpha, frames


def _put_clips(w: _Writer, run: RunShards, data, speakers: list[str], base: str, opts: PackOptions, encode, counts,
               progress: bool, label: str, appropriate: dict | None) -> tuple[int, None]:
    """Clips of any length (MARS): per-clip result files and ``results.pt``, the artefact the official REACT
    2025/2026 baselines write: ``{"PRED": [alpha x T_k x 25 per clip], "GT": [...]}`` in row order, float32
    tensors. GT is each row's ground-truth set (the appropriate listeners, :mod:`mafrg.neighbours`, in the order
    drawn) resampled to the row's length as the metrics compare them (:func:`mafrg.metrics.ragged.resample`);
    without the sets only PRED is written."""
    import torch

    from mafrg.metrics.ragged import resample

    pred_list, gt_list, alpha = [], [], None
    index = {c: i for i, c in enumerate(data.clips)}
    sets = (appropriate or {}).get("sets")
    if sets is not None:
        stale = [i for i, (s, r) in enumerate(zip(sets, data.rows)) if not s or s[0] != r.listener]
        if len(sets) != len(data.rows) or stale:
            raise SubmissionError(f"the appropriate sets ({len(sets)} rows) do not belong to split {data.split} "
                                  f"({len(data.rows)} rows; first mismatch at row {stale[0] if stale else len(sets)}):"
                                  " rerun the neighbours step")
    else:
        log.warning("%s: no ground-truth sets given (neighbours source without drawn sets): results.pt holds PRED "
                    "only", label)
    with tqdm(total=len(speakers), desc=f"pack {label}", unit="row", disable=not progress) as bar:
        for f, a, b in run.ranges:
            r = preds.load(f)
            for i in range(a, b):
                e, t = r.row(i - a)
                sub, c = apply_rules(e[None], opts.rules, speakers, start=i)
                counts.update(c)
                alpha = sub.shape[1]
                for k in range(alpha):
                    w.put(f"{base}/{speakers[i]}/{result_name(k, opts.format)}", encode(sub[0, k]))
                    w.put(f"{base}/{speakers[i]}/{tdmm_name(k)}", _npy_bytes(t[k]))
                pred_list.append(torch.from_numpy(np.ascontiguousarray(sub[0], np.float32)))
                if sets is not None:
                    n = sub.shape[2]
                    gt_list.append(torch.from_numpy(np.stack(
                        [resample(data.clip_emotion(index[g]), n) for g in sets[i]]).astype(np.float32)))
                bar.update()
    buf = io.BytesIO()
    torch.save({"PRED": pred_list, **({"GT": gt_list} if sets is not None else {})}, buf)
    w.put(f"{base}/{RESULTS_PT}", buf.getvalue())
    return int(alpha or 0), None


def video_clips(requested: list[str] | None, speakers: list[str]) -> list[str]:
    """The configured clips (each must be a speaker clip of the split), or by default the organisers' four
    that the split has, else the first four rows' speakers."""
    if requested is not None:
        missing = [c for c in requested if c not in speakers]
        if missing:
            raise SubmissionError(f"submission.videos: {', '.join(missing)} is not a speaker clip of this split")
        return list(requested)
    present = [c for c in DEFAULT_VIDEO_CLIPS if c in speakers]
    return present or speakers[:4]


def _video_key(video: Path, audio: Path, tdmm: np.ndarray, fps: int) -> str:
    from mafrg.codehash import code_hash

    h = hashlib.sha256()
    for f in (video, audio):
        h.update(file_sha256(f).encode() if f.is_file() else b"dir:" + str(f).encode())
    h.update(np.ascontiguousarray(tdmm, np.float32).tobytes())
    h.update(f"{fps}:{code_hash(['mafrg.submission.videos'])}".encode())
    return h.hexdigest()


def pack(out: str | Path, method, variants: list[str] | None, data, results: str, dataset: DatasetConfig,
         seed: int, opts: PackOptions, shards: list[str] | None = None, progress: bool = True,
         appropriate: dict | None = None) -> dict[str, Any]:
    """Write the package of ``method`` for split ``data`` into ``out``; returns the manifest. A package that did
    not exist before and fails half-way is removed: a failed ``mafrg submit`` leaves no skeleton behind (an
    existing package keeps its files, each written atomically, and its manifest)."""
    import shutil

    created = not Path(out).exists()
    try:
        return _pack(out, method, variants, data, results, dataset, seed, opts, shards, progress, appropriate)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _pack(out: str | Path, method, variants: list[str] | None, data, results: str, dataset: DatasetConfig,
          seed: int, opts: PackOptions, shards: list[str] | None, progress: bool,
          appropriate: dict | None = None) -> dict[str, Any]:
    from mafrg.data.layouts import get_layout
    from mafrg.paths import Paths
    from mafrg.submission.videos import render_video

    if opts.format not in ("npy", "pth"):
        raise SubmissionError(f"format must be npy or pth, got {opts.format!r}")
    if opts.archive not in ARCHIVES:
        raise SubmissionError(f"archive must be one of {', '.join(ARCHIVES)}, got {opts.archive!r}")
    out = Path(out)
    layout, root, fps = get_layout(dataset), dataset.root, dataset.fps
    paths = Paths(results=results, root=root)
    split = data.split
    speakers = [r.speaker for r in data.rows]
    seen: dict[str, int] = {}
    for i, s in enumerate(speakers):
        if s in seen:
            raise SubmissionError(f"rows {seen[s]} and {i} of {split} have the same speaker clip {s}: the official "
                                  "per-clip layout cannot hold both")
        seen[s] = i
    old = _old_manifest(out)
    w = _Writer(out)
    encode = _npy_bytes if opts.format == "npy" else _pth_bytes
    manifest_variants: dict[str, Any] = {}
    clips = video_clips(opts.videos, speakers)
    for vdir, variant in variant_dirs(method, variants).items():
        label = method.label(variant)
        folder = Path(paths.prediction(split, label, seed, "x")).parent
        run = load_run(folder, len(data.rows), shards)
        n = len(data.rows)
        base = f"{vdir}/{split}"
        counts: Counter[str] = Counter()
        if data.ragged:
            alpha, frames = _put_clips(w, run, data, speakers, base, opts, encode, counts, progress, label,
                                       appropriate)
        else:
            alpha, frames = _put_dense(w, run, speakers, base, opts, encode, counts, progress, label)
        text = io.StringIO()
        cw = csv.writer(text, lineterminator="\n")
        cw.writerow(["row", "speaker_path", "listener_path", "mirrored"])
        cw.writerows([r.index, r.speaker, r.listener, int(r.mirrored)] for r in data.rows)
        w.put(f"{base}/rows.csv", text.getvalue().encode())
        video_keys = {}
        for clip in clips:
            i = seen[clip]
            f = layout.clip_files(split, clip)
            shown = run.tdmm_row(i)[: min(opts.video_reactions, alpha)]
            key = _video_key(f.video, f.audio, shown, fps)
            rel = f"{vdir}/videos/{split}/{clip}.mp4"
            video_keys[rel] = key
            if old.get("video_inputs", {}).get(rel) == key and (out / rel).is_file() \
                    and old.get("files", {}).get(rel) == file_sha256(out / rel):
                w.record(rel, written=False)
                continue
            log.info("rendering %s", rel)
            render_video(f.video, f.audio, shown, fps, out / rel)
            w.record(rel, written=True)
        meta0 = run.metas[0]
        manifest_variants[vdir] = {
            "variant": variant, "label": label, "rows": n, "n_predictions": alpha, "frames": frames,
            "ragged": data.ragged,
            "checkpoints": _same(run.metas, "checkpoints", str(folder)),
            "config": _same(run.metas, "config", str(folder)),
            "seed": meta0.get("seed", seed), "prediction_shards": run.files, "value_rule_changes": dict(counts),
            "videos": sorted(video_keys), "video_inputs_sha256": video_keys,
        }
    removed = _remove_stale(out, set(w.files))
    manifest = {
        "format_version": 1, "method": method.name, "split": split, "seed": seed, "rows": len(data.rows),
        "variants": manifest_variants, "options": opts.to_dict(), "fps": fps,
        "code_version": code_version(), "packages": package_versions(),
        "video_inputs": {k: v for mv in manifest_variants.values() for k, v in mv["video_inputs_sha256"].items()},
        "files": dict(sorted(w.files.items())),
    }
    write_json(out / MANIFEST, manifest)
    log.info("package %s: %d files written, %d unchanged, %d stale removed", out, w.written, w.reused, removed)
    if opts.archive != "none":
        write_archive(out, opts.archive)
    return manifest


def _old_manifest(out: Path) -> dict[str, Any]:
    try:
        return json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def _remove_stale(out: Path, keep: set[str]) -> int:
    n = 0
    for vdir in VARIANT_DIRS:
        top = out / vdir
        if not top.is_dir():
            continue
        for p in sorted(top.rglob("*"), reverse=True):
            rel = p.relative_to(out).as_posix()
            if p.is_file() and rel not in keep:
                p.unlink()
                n += 1
            elif p.is_dir() and not any(p.iterdir()):
                p.rmdir()
    return n


def archive_path(out: str | Path, kind: str) -> Path:
    out = Path(out)
    return out.with_name(f"{out.name}.{kind}")  # as Paths.submission_archive


def write_archive(out: str | Path, kind: str) -> Path:
    """``out.zip`` / ``out.tar.gz`` of the whole package, atomically; reused when it already holds this
    manifest (every file's sha256 is in the manifest, so equal manifests mean equal contents)."""
    out = Path(out)
    target = archive_path(out, kind)
    manifest = (out / MANIFEST).read_bytes()
    if target.is_file() and _archived_manifest(target, kind, out.name) == manifest:
        log.info("archive %s is up to date", target)
        return target
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    with atomic_path(target, suffix=f".{kind}") as tmp:
        if kind == "zip":
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
                for name in names:
                    info = zipfile.ZipInfo(f"{out.name}/{name}", date_time=_ZIP_TIME)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    z.writestr(info, (out / name).read_bytes())
        else:
            import gzip

            with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
                    tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for name in names:
                    data = (out / name).read_bytes()
                    info = tarfile.TarInfo(f"{out.name}/{name}")
                    info.size, info.mtime, info.mode = len(data), 0, 0o644
                    tar.addfile(info, io.BytesIO(data))
    log.info("archive %s written (%d files)", target, len(names))
    return target


def _archived_manifest(target: Path, kind: str, top: str) -> bytes | None:
    try:
        if kind == "zip":
            with zipfile.ZipFile(target) as z:
                return z.read(f"{top}/{MANIFEST}")
        with tarfile.open(target, "r:gz") as tar:
            f = tar.extractfile(f"{top}/{MANIFEST}")
            return f.read() if f else None
    except (OSError, KeyError, zipfile.BadZipFile, tarfile.TarError, EOFError):
        return None
