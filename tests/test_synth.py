"""The demo dataset generator: layout, determinism, and a listener that really depends on the speaker."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from mafrg.config import DatasetConfig, SynthConfig
from mafrg.data.assemble import assemble_split
from mafrg.data.layouts.react2024 import clip_files, read_split
from mafrg.data.readers import read_emotion, read_tdmm
from mafrg.media.audio import probe_audio
from mafrg.media.video import probe_video
from mafrg.data.validate import validate_dataset
from mafrg.synth.generator import generate
from mafrg.synth.process import ListenerStyle, Person, listener_behaviour, speaker_behaviour
from mafrg.render import FaceIdentity


def test_layout_and_manifest(tiny_dataset, tiny_synth_config):
    manifest = json.loads((tiny_dataset / "manifest.json").read_text())
    assert manifest["settings"]["audio_method"] == "procedural"
    assert manifest["splits"] == {"train": 4, "val": 2, "test": 2}
    assert (tiny_dataset / "val.csv").read_text().splitlines()[0] == ",speaker_path,listener_path"
    df = read_split(tiny_dataset, "val")
    f = clip_files(tiny_dataset, "val", df.speaker_path[0])
    assert f.video.suffix == ".mp4" and f.video.exists()
    v = probe_video(f.video, full_decode=True)
    assert (v.frames, v.width, v.height, round(v.fps)) == (61, 64, 64, 25)
    a = probe_audio(f.audio)
    assert a.sample_rate == 16000 and a.samples == round(61 / 25 * 16000)
    e = read_emotion(f.emotion)
    assert e.shape == (61, 25)
    assert set(np.unique(e[:, :15])) <= {0.0, 1.0}  # binary AUs
    np.testing.assert_allclose(e[:, 17:].sum(axis=1), 1.0, atol=1e-4)  # expression probabilities
    assert np.all(np.abs(e[:, 15:17]) <= 1.0)
    assert read_tdmm(f.tdmm).shape == (61, 58)


def test_deterministic_by_seed(tmp_path, tiny_dataset, tiny_synth_config):
    root = tmp_path / "again"
    generate(tiny_synth_config, root, workers=2)  # sessions written in two processes: the same dataset
    files = sorted(p.relative_to(tiny_dataset) for p in tiny_dataset.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    for rel in files:
        if rel.suffix in (".csv", ".npy", ".wav"):
            assert (root / rel).read_bytes() == (tiny_dataset / rel).read_bytes(), rel
    assert (json.loads((root / "manifest.json").read_text())["sessions"]
            == json.loads((tiny_dataset / "manifest.json").read_text())["sessions"])
    np.testing.assert_array_equal(np.load(root / "test/3D_FV_files/Synth/session003/P2/2.npy"),
                                  np.load(tiny_dataset / "test/3D_FV_files/Synth/session003/P2/2.npy"))
    other = tmp_path / "other"
    generate(replace(tiny_synth_config, seed=12, sessions={"train": 1, "val": 1, "test": 1}), other)
    assert (other / "train/Emotion/Synth/session000/P1/1.csv").read_bytes() != (
        tiny_dataset / "train/Emotion/Synth/session000/P1/1.csv").read_bytes()


def test_listener_reacts_to_its_speaker_with_a_lag():
    """Valence of the listener follows its own speaker's valence after the style's lag: a learnable signal."""
    rng = np.random.default_rng(0)
    own, other, lags = [], [], []
    for _ in range(12):
        style = ListenerStyle.random(rng)
        sp = Person("S", FaceIdentity(), ListenerStyle.random(rng))
        ls = Person("L", FaceIdentity(), style)
        sb, sv, sa = speaker_behaviour(rng, sp, 500, 25)
        sb2, _, _ = speaker_behaviour(rng, sp, 500, 25)
        lb = listener_behaviour(rng, ls, 500, 25, sv, sa, sb.speaking)
        lv = lb.emotion[:, 15]
        corr = [np.corrcoef(sb.emotion[: 500 - k, 15], lv[k:])[0, 1] for k in range(0, 30)]
        own.append(max(corr))
        lags.append(abs(int(np.argmax(corr)) - round(style.lag_s * 25)))
        other.append(np.corrcoef(sb2.emotion[:, 15], lv)[0, 1])
    assert np.mean(own) > 0.5 > np.mean(np.abs(other)) + 0.2
    assert np.median(lags) <= 4  # the peak sits at the style's lag (0.3-0.8 s)


def test_one_to_many_reactions():
    """Two listeners (or one listener twice) react differently to the same speaker behaviour."""
    rng = np.random.default_rng(1)
    sp = Person("S", FaceIdentity(), ListenerStyle.random(rng))
    ls = Person("L", FaceIdentity(), ListenerStyle.random(rng))
    sb, sv, sa = speaker_behaviour(rng, sp, 300, 25)
    a = listener_behaviour(rng, ls, 300, 25, sv, sa, sb.speaking)
    b = listener_behaviour(rng, ls, 300, 25, sv, sa, sb.speaking)
    assert np.abs(a.emotion[:, 15] - b.emotion[:, 15]).mean() > 0.02
    assert np.corrcoef(a.emotion[:, 15], b.emotion[:, 15])[0, 1] > 0.3


def test_png_video_format(tmp_path):
    cfg = SynthConfig(seed=3, sessions={"train": 1, "val": 1, "test": 1}, clips_per_session=1, frames=30,
                      image_size=48, video_format="png", audio="procedural")
    root = tmp_path / "png"
    generate(cfg, root)
    df = read_split(root, "val")
    f = clip_files(root, "val", df.speaker_path[0])
    assert f.video.is_dir() and (f.video / "30.png").exists() and not (f.video / "31.png").exists()
    validate_dataset(root, ["train", "val", "test"], DatasetConfig(clip_length=30))
    assert assemble_split(root, "val", DatasetConfig(clip_length=30), True).n_rows == 2


def test_audio_follows_speaking_and_espeak_fallback(monkeypatch):
    from mafrg.synth import audio, generator

    monkeypatch.setattr(audio, "espeak_available", lambda: False)
    monkeypatch.setattr(generator, "espeak_available", lambda: False)
    assert generator.resolve_audio_method("auto") == "procedural"
    with pytest.raises(RuntimeError, match="espeak-ng is not installed"):
        generator.resolve_audio_method("espeak")
    speaking = np.zeros(100, bool)
    speaking[20:60] = True
    track = audio.speech_track(np.random.default_rng(0), speaking, 25, 16000, "procedural")
    assert track.shape == (64000,)
    rms_on = np.sqrt(np.mean(track[int(0.9 * 16000): int(2.3 * 16000)] ** 2))
    rms_off = np.sqrt(np.mean(track[int(2.5 * 16000):] ** 2))
    assert rms_on > 50 * rms_off > 0  # speech vs room tone, never digital silence


@pytest.mark.skipif(not __import__("shutil").which("espeak-ng"), reason="espeak-ng not installed")
def test_espeak_speech():
    from mafrg.synth.audio import speech_track

    speaking = np.zeros(75, bool)
    speaking[10:60] = True
    track = speech_track(np.random.default_rng(0), speaking, 25, 16000, "espeak")
    assert np.abs(track[int(0.5 * 16000): int(2.3 * 16000)]).max() > 0.3
