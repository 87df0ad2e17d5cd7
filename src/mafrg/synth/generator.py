"""Write a synthetic dyadic dataset in exactly the REACT 2024 or the MARS layout (see :mod:`mafrg.synth.process`).

REACT 2024: two people per session, fixed-length clips, split files. MARS (REACT 2025/2026): per session one
speaker and ``listeners`` listeners (each clip pairs the speaker with one of them, in turn), clip lengths drawn
log-uniformly from ``min_frames`` to ``frames``, emotion as ``facial-attributes`` .npy and 3DMM as ``coefficients``
.npy with MARS's leading singleton axis; no split files (the layout finds clips in the tree). In both, a
listener's reaction depends on the speaker's behaviour and the listener's own style (:mod:`.process`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from mafrg.progress import tqdm

from mafrg.atomic import atomic_path, write_json, write_npy, write_text
from mafrg.config import SynthConfig
from mafrg.constants import EMOTION_COLUMNS, MODALITY_DIRS, SPLITS
from mafrg.provenance import provenance
from mafrg.render import FaceIdentity, render_sequence, write_mp4, write_png_folder
from mafrg.synth.audio import espeak_available, espeak_version, speech_track, write_wav
from mafrg.synth.process import ListenerStyle, Person, listener_behaviour, speaker_behaviour

log = logging.getLogger(__name__)


def write_emotion_csv(path: Path, emotion: np.ndarray) -> None:
    """REACT emotion CSV: a header row, then one row of the 25 channels per frame."""
    with atomic_path(path, suffix=".csv") as tmp:
        pd.DataFrame(emotion, columns=list(EMOTION_COLUMNS)).to_csv(tmp, index=False, float_format="%.6f")


def _clip_paths(root: Path, split: str, rel: str, video_format: str) -> dict[str, Path]:
    base = {k: root / split / d / rel for k, d in MODALITY_DIRS.items()}
    return {
        "video": base["video"].with_suffix(".mp4") if video_format == "mp4" else base["video"],
        "audio": base["audio"].with_suffix(".wav"),
        "emotion": base["emotion"].with_suffix(".csv"),
        "tdmm": base["tdmm"].with_suffix(".npy"),
    }


def resolve_audio_method(requested: str) -> str:
    if requested == "auto":
        return "espeak" if espeak_available() else "procedural"
    if requested == "espeak" and not espeak_available():
        raise RuntimeError("synth.audio is 'espeak' but espeak-ng is not installed (apt-get install espeak-ng)")
    return requested


MARS_KINDS = {"video": ("video-face-crop", ".mp4"), "audio": ("audio", ".wav"),
              "emotion": ("facial-attributes", ".npy"), "tdmm": ("coefficients", ".npy")}


def _mars_session(cfg: SynthConfig, root: Path, split: str, session: str, seed: np.random.SeedSequence,
                  audio_method: str) -> tuple[dict, list[tuple[str, str]]]:
    """One MARS session: a speaker and ``cfg.listeners`` listeners, clips of log-uniform lengths."""
    rng = np.random.default_rng(seed)
    people = [Person(f"P{i + 1}", FaceIdentity.random(rng), ListenerStyle.random(rng)) for i in range(1 + cfg.listeners)]
    pitches = [int(rng.integers(30, 70)) for _ in people]
    speaker, rows, clips = people[0], [], []
    lo, hi = np.log(cfg.min_frames), np.log(max(cfg.frames, cfg.min_frames))
    for clip in range(cfg.clips_per_session):
        li = 1 + clip % cfg.listeners
        listener = people[li]
        n = int(round(np.exp(rng.uniform(lo, hi))))
        stem = f"Camera-2026-{int(session.removeprefix('session')) + 1:02d}-{clip + 1:02d}-{n:05d}"
        sb, sv, sa = speaker_behaviour(rng, speaker, n, cfg.fps)
        lb = listener_behaviour(rng, listener, n, cfg.fps, sv, sa, sb.speaking)
        for role, person, beh, pitch in (("speaker", speaker, sb, pitches[0]), ("listener", listener, lb, pitches[li])):
            paths = {m: root / split / kind / role / session / f"{stem}{ext}" for m, (kind, ext) in MARS_KINDS.items()}
            write_npy(paths["emotion"], beh.emotion.astype(np.float32))
            write_npy(paths["tdmm"], beh.tdmm.astype(np.float32)[None])  # MARS stores (1, T, 58)
            write_wav(paths["audio"], speech_track(rng, beh.speaking, cfg.fps, cfg.sample_rate, audio_method, pitch),
                      cfg.sample_rate)
            write_mp4(render_sequence(beh.tdmm, person.identity, cfg.image_size), paths["video"], cfg.fps)
        rows.append((f"speaker/{session}/{stem}", f"listener/{session}/{stem}"))
        clips.append({"stem": stem, "frames": n, "listener": listener.name})
    return {"split": split, "people": [p.to_dict() for p in people], "speaker": speaker.name, "clips": clips}, rows


def _session(cfg: SynthConfig, root: Path, split: str, session: str, seed: np.random.SeedSequence,
             audio_method: str) -> tuple[dict, list[tuple[str, str]]]:
    """Write one session's clips; returns its manifest entry and its (speaker, listener) rows. Everything it
    draws comes from its own seed, so sessions can be written in any order, in parallel."""
    if cfg.layout == "mars":
        return _mars_session(cfg, root, split, session, seed, audio_method)
    rng = np.random.default_rng(seed)
    people = [Person(f"P{i + 1}", FaceIdentity.random(rng), ListenerStyle.random(rng)) for i in range(2)]
    pitches = [int(rng.integers(30, 70)) for _ in people]
    rows = []
    for clip in range(1, cfg.clips_per_session + 1):
        spk_i = (clip - 1 + int(rng.integers(2))) % 2
        speaker, listener = people[spk_i], people[1 - spk_i]
        sb, sv, sa = speaker_behaviour(rng, speaker, cfg.frames, cfg.fps)
        lb = listener_behaviour(rng, listener, cfg.frames, cfg.fps, sv, sa, sb.speaking)
        for person, beh, pitch in ((speaker, sb, pitches[spk_i]), (listener, lb, pitches[1 - spk_i])):
            rel = f"{cfg.site}/{session}/{person.name}/{clip}"
            paths = _clip_paths(root, split, rel, cfg.video_format)
            write_emotion_csv(paths["emotion"], beh.emotion)
            write_npy(paths["tdmm"], beh.tdmm)
            audio = speech_track(rng, beh.speaking, cfg.fps, cfg.sample_rate, audio_method, pitch)
            write_wav(paths["audio"], audio, cfg.sample_rate)
            frames = render_sequence(beh.tdmm, person.identity, cfg.image_size)
            if cfg.video_format == "mp4":
                write_mp4(frames, paths["video"], cfg.fps)
            else:
                write_png_folder(frames, paths["video"])
        rows.append((f"{cfg.site}/{session}/{speaker.name}/{clip}", f"{cfg.site}/{session}/{listener.name}/{clip}"))
    return {"split": split, "people": [p.to_dict() for p in people]}, rows


def _session_of(args: tuple) -> tuple[dict, list[tuple[str, str]]]:
    return _session(*args)


def generate(cfg: SynthConfig, root: str | Path, workers: int = 1) -> dict:
    """Generate the dataset under ``root``; returns (and writes) its manifest.

    Deterministic by ``cfg.seed``: session k (numbered across splits, train first) draws from the k-th child
    generator, so its content depends only on the seed and k -- not on ``workers``, the processes that write
    sessions side by side. Changing a split's size therefore renumbers, and so changes, the sessions of the
    splits after it.
    """
    from concurrent.futures import ProcessPoolExecutor
    from contextlib import nullcontext

    root = Path(root)
    if cfg.video_format not in ("mp4", "png"):
        raise ValueError(f"synth.video_format must be 'mp4' or 'png', got {cfg.video_format!r}")
    if cfg.layout not in ("react2024", "mars"):
        raise ValueError(f"synth.layout must be 'react2024' or 'mars', got {cfg.layout!r}")
    if cfg.layout == "mars" and cfg.video_format != "mp4":
        raise ValueError("synth.video_format: the MARS layout has mp4 videos only")
    audio_method = resolve_audio_method(cfg.audio)
    root.mkdir(parents=True, exist_ok=True)
    seeds = np.random.SeedSequence(cfg.seed)
    manifest: dict = {
        "generator": "mafrg synth",
        "settings": vars(cfg) | {"audio_method": audio_method},
        "espeak_ng": espeak_version() if audio_method == "espeak" else None,
        "sessions": {},
        "splits": {},
    }
    jobs = []
    for split in SPLITS:
        for _ in range(cfg.sessions.get(split, 0)):
            jobs.append((split, f"session{len(jobs)}" if cfg.layout == "mars" else f"session{len(jobs):03d}"))
    child_seeds = seeds.spawn(len(jobs))
    rows: dict[str, list[tuple[str, str]]] = {s: [] for s in SPLITS}
    args = [(cfg, root, split, session, ss, audio_method) for (split, session), ss in zip(jobs, child_seeds)]
    with ProcessPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        done = (pool.map if pool else map)(_session_of, args)  # in session order either way
        for (split, session), (entry, session_rows) in zip(jobs, tqdm(done, total=len(jobs), desc="synth sessions",
                                                                      unit="session")):
            manifest["sessions"][session] = entry
            rows[split].extend(session_rows)
    for split in SPLITS:
        manifest["splits"][split] = len(rows[split])
        if cfg.layout == "mars":
            continue  # the MARS layout has no split files
        df = pd.DataFrame(rows[split], columns=["speaker_path", "listener_path"])
        with atomic_path(root / f"{split}.csv", suffix=".csv") as tmp:
            df.to_csv(tmp)
    manifest["provenance"] = provenance(vars(cfg))
    write_json(root / "manifest.json", manifest)
    write_text(root / "README.md", _readme(cfg, audio_method))
    log.info("demo dataset written to %s (%s)", root, manifest["splits"])
    return manifest


def _readme(cfg: SynthConfig, audio_method: str) -> str:
    return (
        "# mafrg demo dataset\n\n"
        "Synthetic dyadic interactions generated by `mafrg synth` (see `mafrg.synth.process` for the\n"
        f"generative process). Seed {cfg.seed}, {cfg.frames} frames at {cfg.fps} fps, audio: {audio_method}.\n"
        + ("Layout: MARS (`<split>/{video-face-crop,audio,facial-attributes,coefficients}/<role>/<session>/<stem>`), "
           f"clip lengths {cfg.min_frames}..{cfg.frames} frames.\n" if cfg.layout == "mars" else
           "Layout: REACT 2024 (`<split>/{Video_files,Audio_files,Emotion,3D_FV_files}/<site>/<session>/<person>/<clip>`).\n")
        + "Not real people: do not use these numbers as results about human behaviour.\n"
    )
