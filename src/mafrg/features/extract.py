"""Extract every enabled stream of one (clip, person) into its Parquet feature file, reusing what is still valid; and a
session's feature files in one job (``extract_session``), its networks loaded once.

A stream column of an existing feature file is kept when its recorded settings hash, extractor identity and source
checksum all equal the current ones; everything else is recomputed. So new VA weights recompute VA and
nothing else, and a feature file whose inputs are unchanged costs a metadata read. Problems are checked in order of
cost: weight files first (before any decoding), then the video grid and the audio length, then the networks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from mafrg.progress import tqdm

from mafrg.config import DatasetConfig
from mafrg.data.layouts import Layout
from mafrg.data.readers import fit_length
from mafrg.errors import DataError
from mafrg.features import parquet as store
from mafrg.features.config import AUDIO_STREAMS, UNTRAINED, VIDEO_STREAMS, WEIGHTED_STREAMS, FeatureConfig
from mafrg.features.networks import check_weights, load_visual, run_visual, stream_seed, weights_identity
from mafrg.features.wav2vec import width as wav2vec2_width
from mafrg.provenance import code_version, config_hash, file_sha256, package_versions

log = logging.getLogger(__name__)


@dataclass
class ClipResult:
    path: Path
    frames: int
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


class Extractors:
    """The networks of one job, loaded on first use and shared by every feature file the job writes.

    A job extracts a whole session: loading real weights takes seconds and Python + torch start-up about two
    (measured: 2.7 s of a demo clip's 3.4 s), so one job per clip spent most of its time getting ready.
    """

    def __init__(self, fcfg: FeatureConfig) -> None:
        self.fcfg = fcfg
        self._visual: dict[str, tuple[Any, str]] = {}
        self._wav2vec2: tuple[Any, bool] | None = None

    def visual(self, stream: str) -> tuple[Any, str]:
        """(network, format found in the file) of a video stream."""
        if stream not in self._visual:
            self._visual[stream] = load_visual(stream, self.fcfg)
        return self._visual[stream]

    def wav2vec2(self) -> tuple[Any, bool]:
        """(model, do_normalize) of the wav2vec2 stream."""
        if self._wav2vec2 is None:
            from mafrg.features.wav2vec import load_wav2vec2

            self._wav2vec2 = load_wav2vec2(self.fcfg.wav2vec2.model_dir,
                                           stream_seed("wav2vec2", self.fcfg.untrained_seed))
        return self._wav2vec2


def source_checksum(path: Path, kind: str) -> str:
    """sha256 of a video/audio file, or of a PNG folder's file names and contents."""
    if path.is_dir():
        import hashlib

        h = hashlib.sha256()
        for f in sorted(path.glob("*.png"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0):
            h.update(f.name.encode())
            h.update(f.read_bytes())
        return h.hexdigest()
    if not path.is_file():
        raise DataError(f"{path}: {kind} file missing")
    return file_sha256(path)


def extract_clip(layout: Layout, split: str, rel: str, out: str | Path, fcfg: FeatureConfig,
                  dcfg: DatasetConfig, progress: bool = True, models: Extractors | None = None) -> ClipResult:
    import torch

    torch.set_num_threads(max(1, fcfg.threads))
    models = models or Extractors(fcfg)
    out = Path(out)
    files = layout.clip_files(split, rel)
    clip_id, person = layout.identity(rel)
    streams = fcfg.enabled()
    if not streams:
        raise ValueError("features: every stream is disabled")
    check_weights(fcfg)  # fail at once on missing weights, before any decoding

    from mafrg.features.video import crop_frames, face_box, normalise
    from mafrg.media.video import iter_frame_batches, plan_grid

    plan = plan_grid(files.video, dcfg.fps)
    n = plan.frames
    padded = 0
    if n < dcfg.clip_length and not layout.ragged:  # clips of any length are extracted whole
        if not dcfg.pad_short:
            raise DataError(f"{files.video}: {n} frames on the {dcfg.fps} fps grid, shorter than clip_length "
                            f"{dcfg.clip_length} (set dataset.pad_short to pad by repeating the last frame)")
        padded = dcfg.clip_length - n
    if plan.resampled:
        log.info("%s: %.3f fps, %d frames -> %d frames on the %d fps grid (nearest frame)",
                 files.video, plan.source_fps, plan.source_frames, n, dcfg.fps)
    total = n + padded

    video_sha = source_checksum(files.video, "video")
    audio_sha = source_checksum(files.audio, "audio") if any(s in AUDIO_STREAMS for s in streams) else None
    # Real networks are loaded first: the format found in the file is part of the stream's settings (a file
    # read another way -- say a TorchScript predictor called on other sub-modules -- is recomputed).
    nets: dict[str, Any] = {}
    formats: dict[str, str] = {}
    for s in streams:
        if s in VIDEO_STREAMS:
            if fcfg.weights_path(s) == UNTRAINED:
                formats[s] = "untrained stand-in"
            else:
                nets[s], formats[s] = models.visual(s)
    wanted: dict[str, dict[str, Any]] = {}
    for s in streams:
        settings = fcfg.stream_settings(s, dcfg.fps) | ({"format": formats[s]} if s in formats else {})
        wanted[s] = {
            "dim": wav2vec2_width(fcfg.sample_rate, dcfg.fps) if s.startswith("wav2vec2") else getattr(fcfg, s).dim,
            "dtype": getattr(fcfg, s).dtype,
            "identity": weights_identity(fcfg.weights_path(s), s, fcfg.untrained_seed)
            if s in WEIGHTED_STREAMS else "torchaudio.compliance.kaldi.mfcc",
            "settings": settings,
            "settings_hash": config_hash(settings),
            "source_sha256": video_sha if s in VIDEO_STREAMS else audio_sha,
            "frames": total,
        }
        wanted[s]["untrained"] = wanted[s]["identity"].startswith("untrained")

    old = store.read_meta(out) or {}
    old_streams = old.get("streams", {})
    keep = [s for s in streams if old_streams.get(s) == wanted[s]]
    todo = [s for s in streams if s not in keep]
    result = ClipResult(out, total, computed=todo, reused=keep)
    log.info("%s %s: %d frames; computing %s; reusing %s", split, rel, total, todo or "nothing", keep or "nothing")

    columns: dict[str, Any] = store.read_stream_columns(out, keep) if keep else {}
    source: dict[str, Any] = {
        "video": str(files.video), "video_sha256": video_sha, "source_fps": plan.source_fps,
        "source_frames": plan.source_frames, "resampled": plan.resampled, "padded_frames": padded,
    }
    if old.get("source"):  # carry over what earlier runs learnt about the audio, unless recomputed now
        for k in ("audio", "audio_sha256", "audio_silent", "audio_adjusted_samples", "face_box"):
            if k in old["source"]:
                source[k] = old["source"][k]

    vis = [s for s in todo if s in VIDEO_STREAMS]
    if vis:
        t0 = time.perf_counter()
        for s in vis:
            if s not in nets:
                nets[s] = models.visual(s)[0]
        pre = {s: fcfg.preprocessing(s) for s in vis}
        box = None
        if fcfg.face_crop:
            box = face_box(files.video, plan, fcfg.face_margin)
            if box is None:
                log.warning("%s: no face found; using the whole frame", files.video)
            source["face_box"] = list(box) if box else None
        bs = min(getattr(fcfg, s).batch_size for s in vis)
        outs = {s: np.empty((n, getattr(fcfg, s).dim), np.float32) for s in vis}
        for start, frames in tqdm(iter_frame_batches(files.video, plan, bs), total=-(-n // bs),
                                  desc=f"video {rel}", unit="batch", disable=not progress):
            crops = {g: crop_frames(frames, g.resize, g.crop, g.square, box) for g in {p.geometry for p in pre.values()}}
            inputs: dict[Any, Any] = {}  # streams with the same preprocessing share one normalised batch
            for s in vis:
                if pre[s] not in inputs:
                    inputs[pre[s]] = normalise(crops[pre[s].geometry], pre[s].mean, pre[s].std, pre[s].channels)
                outs[s][start : start + len(frames)] = run_visual(nets[s], inputs[pre[s]], fcfg.device)
        for s in vis:
            columns[s] = store.stream_array(fit_length(outs[s], total, files.video, pad=True), getattr(fcfg, s).dtype)
        result.seconds["video"] = time.perf_counter() - t0

    aud = [s for s in todo if s in AUDIO_STREAMS]
    if aud:
        from mafrg.features.audio import mfcc_per_frame
        from mafrg.media.audio import align_audio

        t0 = time.perf_counter()
        audio = align_audio(files.audio, n, dcfg.fps, fcfg.sample_rate)
        source.update(audio=str(files.audio), audio_sha256=audio_sha, audio_silent=audio.silent,
                      audio_adjusted_samples=audio.adjusted_samples)
        if "mfcc" in aud:
            m = fcfg.mfcc
            feats = mfcc_per_frame(audio, m.num_ceps, m.num_mel_bins, m.use_energy, m.waveform_scale,
                                   m.energy_floor)
            columns["mfcc"] = store.stream_array(fit_length(feats, total, files.audio, pad=True), m.dtype)
        if "wav2vec2" in aud:
            from mafrg.features.wav2vec import wav2vec2_per_frame

            model, norm = models.wav2vec2()
            feats = wav2vec2_per_frame(model, norm, audio, fcfg.wav2vec2.max_seconds)
            columns["wav2vec2"] = store.stream_array(fit_length(feats, total, files.audio, pad=True), fcfg.wav2vec2.dtype)
        if "wav2vec2_causal" in aud:
            from mafrg.features.wav2vec import wav2vec2_causal_per_frame

            model, norm = models.wav2vec2()
            wc = fcfg.wav2vec2_causal
            t1 = time.perf_counter()
            feats = wav2vec2_causal_per_frame(model, norm, audio, wc.context, wc.chunk, wc.batch_size)
            columns["wav2vec2_causal"] = store.stream_array(fit_length(feats, total, files.audio, pad=True), wc.dtype)
            result.seconds["wav2vec2_causal"] = time.perf_counter() - t1  # one window a frame: its own cost
        result.seconds["audio"] = time.perf_counter() - t0

    for s in streams:
        if len(columns[s]) != total:
            raise RuntimeError(f"{rel}: stream {s} has {len(columns[s])} frames, expected {total}")
    meta = {
        "split": split, "clip": clip_id, "person": person, "rel": rel, "frames": total, "fps": dcfg.fps,
        "streams": {s: wanted[s] for s in streams},
        "untrained": sorted(s for s in streams if wanted[s]["untrained"]),
        "source": source,
        "preprocessing": {"face_crop": fcfg.face_crop, "grid": "nearest source frame", "sample_rate": fcfg.sample_rate,
                          "device": fcfg.device,
                          "visual": {s: fcfg.preprocessing(s).settings() for s in streams if s in VIDEO_STREAMS}},
        "config_hash": config_hash({"streams": {s: wanted[s]["settings"] for s in streams},
                                    "fps": dcfg.fps, "clip_length": dcfg.clip_length, "pad_short": dcfg.pad_short}),
        "code_version": code_version(),
        "packages": package_versions(),
    }
    store.write_features(out, clip_id, person, dcfg.fps, {s: columns[s] for s in streams}, meta)
    log.info("wrote %s (%d frames; computed %s, reused %s)", out, total, todo, keep)
    return result


def extract_session(layout: Layout, split: str, session: str, rels: list[str], results: str, out: str | Path,
                    fcfg: FeatureConfig, dcfg: DatasetConfig, progress: bool = True) -> list[ClipResult]:
    """Extract the feature files of one session's clips, then write the job's record ``out`` (JSON: each feature file's path,
    frames, computed and reused streams).

    The feature files are not the job's declared outputs, the record is: a job killed or failing half-way keeps every
    feature file it finished (each written atomically), and the rerun reuses them column by column like any other.
    """
    from mafrg.atomic import write_json
    from mafrg.paths import Paths
    from mafrg.provenance import provenance

    if not rels:
        raise ValueError(f"{split} session {session}: no clips to extract (does the split file reference it?)")
    stray = [r for r in rels if layout.session_of(r) != session]
    if stray:
        raise ValueError(f"{split} session {session}: clip(s) of other sessions given: {stray}")
    paths = Paths(results, str(layout.root))
    models = Extractors(fcfg)
    done = [extract_clip(layout, split, rel, paths.feature_file(split, rel), fcfg, dcfg, progress, models)
            for rel in tqdm(rels, desc=f"session {session}", unit="clip", disable=not progress)]
    write_json(out, {
        "split": split, "session": session,
        "files": [{"rel": rel, "path": str(r.path), "frames": r.frames, "computed": r.computed, "reused": r.reused,
                    "seconds": {k: round(v, 3) for k, v in r.seconds.items()}} for rel, r in zip(rels, done)],
        "provenance": provenance(),
    })
    return done
