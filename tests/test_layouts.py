"""Dataset layouts: the contract every registered layout meets, MARS discovery and validation, the official
ground-truth draws of REACT 2025/2026, and audio on a 30 fps grid."""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from mafrg.config import DatasetConfig
from mafrg.data.layouts import LayoutError, PairRow, get_layout, layouts
from mafrg.data.validate import ValidationError, validate_dataset
from mars_helpers import FPS, SESSIONS, make_mars

MARS_CFG = {"layout": "mars", "fps": FPS}


@pytest.fixture(scope="module")
def mars_root(tmp_path_factory) -> Path:
    return make_mars(tmp_path_factory.mktemp("mars") / "data")


@pytest.fixture()
def mars_copy(mars_root, tmp_path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(mars_root, dst)
    return dst


def _mars(root, **settings) -> DatasetConfig:
    return DatasetConfig.parse({"root": str(root), **MARS_CFG, **({"mars": settings} if settings else {})})


@pytest.fixture()
def layout_datasets(tiny_dataset, mars_root) -> dict[str, DatasetConfig]:
    """A valid dataset of every registered layout: a new layout adds its own here, or the contract test fails."""
    return {"react2024": DatasetConfig(root=str(tiny_dataset), clip_length=60), "mars": _mars(mars_root)}


@pytest.mark.parametrize("name", sorted(layouts()))
def test_every_layout_meets_the_contract(name, layout_datasets):
    assert name in layout_datasets, f"layout {name} has no test dataset in layout_datasets"
    cfg = layout_datasets[name]
    layout = get_layout(cfg)
    validate_dataset(cfg.root, ["train", "val", "test"], cfg)  # a valid tree validates
    for split in ("train", "val", "test"):
        pairs = layout.pairs(split)
        assert pairs and len(set(pairs)) == len(pairs)
        rows = layout.rows(split)
        n = len(pairs)
        assert [(r.speaker, r.listener) for r in rows[:n]] == pairs
        assert len(rows) == (2 * n if layout.mirrored(split) else n)
        assert [(r.speaker, r.listener) for r in rows[n:]] == [(l, s) for s, l in pairs][: len(rows) - n]
        assert [r.index for r in rows] == list(range(len(rows)))
        clips = layout.clips(split)
        assert set(clips) == {c for p in pairs for c in p}
        sessions = layout.sessions(split)
        assert sorted(c for cs in sessions.values() for c in cs) == sorted(clips)
        for session, members in sessions.items():
            assert re.fullmatch(layout.session_pattern, session)
            assert all(layout.session_of(c) == session for c in members)
        for c in clips:
            assert re.fullmatch(layout.clip_pattern, c), c
            assert layout.check_clip(c) is None
            files = layout.clip_files(split, c)
            for p in files.files().values():
                assert p.exists() and Path(cfg.root).resolve() in p.resolve().parents
            assert all(layout.identity(c))
        assert all(Path(p).exists() for p in layout.index_files(split))
    for bad in ("../x/y/z", "/abs/a/b/c", "a\nb", "a//b"):
        assert layout.check_clip(bad) is not None
        with pytest.raises(LayoutError):
            layout.clip_files("val", bad)


def test_mars_pairs_follow_the_metric_scripts_order_and_direction(mars_root):
    layout = get_layout(_mars(mars_root))
    pairs = layout.pairs("test")
    want = [(f"speaker/{s}/{t}", f"listener/{s}/{t}")
            for s in sorted(SESSIONS) for t, _ in sorted(SESSIONS[s], key=lambda x: x[0] + ".npy")]
    assert pairs == want
    assert [p[0].split("/")[1] for p in pairs][:4] == ["session0"] * 3 + ["session10"]  # text order, as the script
    assert not layout.mirrored("test") and len(layout.rows("test")) == len(pairs)  # the 2026 default
    both = get_layout(_mars(mars_root, bidirectional=True))
    assert len(both.rows("test")) == 2 * len(pairs) and both.rows("test")[len(pairs)].speaker == pairs[0][1]
    assert layout.session_of(pairs[0][0]) == "session0" and layout.identity(pairs[0][1])[1] == "listener"
    files = layout.clip_files("test", pairs[0][0])
    assert files.audio_features is not None and layout.clip_files("test", pairs[0][1]).audio_features is None


def test_dataset_layout_settings_are_checked():
    from mafrg.config import ConfigError

    with pytest.raises(ConfigError, match="unknown layout 'react2023'"):
        get_layout({"root": ".", "layout": "react2023"})
    with pytest.raises(ConfigError, match="dataset.mars.*bidirectionl"):
        get_layout({"root": ".", "layout": "mars", "mars": {"bidirectionl": True}})
    with pytest.raises(ConfigError, match="block.*mars.*react2024"):
        get_layout({"root": ".", "layout": "react2024", "mars": {"bidirectional": True}})


def _problems(root) -> list[str]:
    with pytest.raises(ValidationError) as exc:
        validate_dataset(root, ["val"], _mars(root))
    return exc.value.problems


def test_mars_validation_names_every_bad_file(mars_copy, tmp_path):
    v = mars_copy / "val"
    s0 = "session0"
    stems = [t for t, _ in SESSIONS[s0]]
    # 1. a stem without its partner (every modality of the listener clip removed)
    for kind, ext in (("video-face-crop", ".mp4"), ("audio", ".wav"), ("facial-attributes", ".npy"),
                      ("coefficients", ".npy")):
        (v / kind / "listener" / s0 / f"{stems[0]}{ext}").unlink()
    # 2. a missing modality
    (v / "coefficients" / "speaker" / s0 / f"{stems[1]}.npy").unlink()
    # 3. lengths that disagree beyond the tolerance; 4. wrong shape; 5. NaN; 6. a non-real dtype
    fa = v / "facial-attributes" / "speaker" / "session2"
    s2 = sorted(t for t, _ in SESSIONS["session2"])
    np.save(fa / f"{s2[0]}.npy", np.load(fa / f"{s2[0]}.npy")[:-5])
    np.save(fa / f"{s2[1]}.npy", np.zeros((52, 24), np.float32))
    lf = v / "facial-attributes" / "listener" / "session2" / f"{s2[0]}.npy"
    bad = np.load(lf)
    bad[3, 16] = np.nan
    np.save(lf, bad)
    np.save(v / "coefficients" / "listener" / "session2" / f"{s2[1]}.npy", np.zeros((52, 58), np.complex64))
    # 7. unreadable video and audio
    (v / "video-face-crop" / "listener" / s0 / f"{stems[2]}.mp4").write_bytes(b"not a video")
    (v / "audio" / "listener" / "session10").iterdir().__next__().write_bytes(b"RIFF....")
    # 8. a name that escapes the root
    outside = tmp_path / "outside.npy"
    np.save(outside, np.zeros((61, 768), np.float32))
    s10 = SESSIONS["session10"][0][0]
    target = v / "audio-features" / "speaker" / "session10" / f"{s10}.npy"
    target.unlink()
    os.symlink(outside, target)

    problems = _problems(mars_copy)
    text = "\n".join(problems)
    assert f"listener/{s0}/{stems[0]}: no listener clip" not in text  # the speaker lacks its partner, not v.v.
    assert f"speaker/{s0}/{stems[0]}: no listener clip with the same stem" in text
    assert f"coefficients/speaker/{s0}/{stems[1]}.npy: missing" in text
    assert any(f"speaker/session2/{s2[0]}: frame counts differ" in p for p in problems)
    assert any(f"{s2[1]}.npy: expected shape (T, 25)" in p for p in problems)
    assert any(f"listener/session2/{s2[0]}.npy" in p and "NaN" in p for p in problems)
    assert any(f"{s2[1]}.npy" in p and "complex64" in p for p in problems)
    assert any(f"{stems[2]}.mp4: video cannot be decoded" in p for p in problems)
    assert any("audio/listener/session10" in p and "audio cannot be read" in p for p in problems)
    assert len(problems) == len(set(problems))
    assert any(f"{s10}.npy" in p and "outside the dataset root" in p for p in problems)


def test_mars_2026_files_are_recognised_and_checked(mars_copy):
    v = mars_copy / "val"
    (v / "personality").mkdir()
    (v / "personality" / "listener.csv").write_text(
        "video_name,session,Extraversion,Agreeableness,Conscientiousness,Neuroticism,Openness\n"
        "a.mp4,session0,3,4,5,1,2\nb.mp4,session0,3,4,7,1,2\n")
    (v / "personality" / "speaker.csv").write_text("video_name,session,Extraversion\na.mp4,session0,3\n")
    eeg = v / "eeg_processed" / "listener" / "session0"
    eeg.mkdir(parents=True)
    (eeg / "x.csv").write_text("TP9,AF7\n1,2\n")
    (eeg / "y.txt").write_text("?")
    text = "\n".join(_problems(mars_copy))
    assert "listener.csv: 1 trait value(s) missing, non-numeric or outside [1, 5]; first at data row 2" in text
    assert "speaker.csv: missing column(s) Agreeableness" in text
    assert "y.txt: not a .csv file" in text and "x.csv" not in text


# ------------------------------------------------------------------------------------ official draws
def _script_sets(facial: Path, num_preds: int, bidirectional: bool, seed: int) -> list[list[str]]:
    """The REACT 2026 metric script's ``_build_samples`` loop, written out literally over a facial-attributes
    folder (sessions and files sorted as text; one random.Random for all rows)."""
    rng = random.Random(seed)

    def files(role):
        for sd in sorted(p for p in (facial / role).iterdir() if p.is_dir()):
            for f in sorted(sd.iterdir()):
                yield f"{role}/{sd.name}/{f.stem}"

    index: dict[str, list[str]] = {}
    for role in ("speaker", "listener"):
        for rel in files(role):
            index.setdefault(rel.rsplit("/", 1)[0], []).append(rel)
    out = []
    for role in ("speaker", "listener") if bidirectional else ("speaker",):
        other = "listener" if role == "speaker" else "speaker"
        for rel in files(role):
            _, session, stem = rel.split("/")
            target = f"{other}/{session}/{stem}"
            extra = [p for p in index.get(f"{other}/{session}", []) if p != target]
            k = num_preds - 1
            if len(extra) >= k:
                out.append([target] + rng.sample(extra, k))
            elif extra:
                out.append([target] + rng.choices(extra, k=k))
            else:
                out.append([target] + [target] * k)
    return out


@pytest.mark.parametrize("bidirectional", [False, True])
def test_official_draws_reproduce_the_metric_script(tmp_path, bidirectional):
    """Sessions with 12 (draws without replacement), 3 (with replacement) and 1 (the pair repeated) clips; stems
    whose text order differs with and without the extension ('a-b' < 'a' as file names)."""
    from mafrg.data.layouts.mars import Mars
    from mafrg.neighbours import for_layout, official_draws, sets_matrix

    stems = {"session0": [f"c{i:02d}" for i in range(12)], "session1": ["a", "a-b", "a_c"], "session3": ["z"]}
    facial = tmp_path / "facial-attributes"
    for role in ("speaker", "listener"):
        for s, ts in stems.items():
            (facial / role / s).mkdir(parents=True)
            for t in ts:
                (facial / role / s / f"{t}.npy").write_bytes(b"")
    layout = Mars(tmp_path)
    pairs = sorted(((f"speaker/{s}/{t}", f"listener/{s}/{t}") for s, ts in stems.items() for t in ts),
                   key=lambda p: layout.sort_key(p[0]))
    rows = [PairRow(i, s, l, False) for i, (s, l) in enumerate(pairs)]
    if bidirectional:
        rows += [PairRow(len(pairs) + i, l, s, True) for i, (s, l) in enumerate(pairs)]
    layout.rows = lambda split, mirrored=None: rows  # the rows the layout would give (no media in this tree)
    m, origin = for_layout(layout, "test", rows, None, "official", 0.1, 10, 1234)
    want = _script_sets(facial, 10, bidirectional, 1234)
    assert origin["sets"] == want
    assert origin["sets"] != _script_sets(facial, 10, bidirectional, 1235)  # the seed matters
    assert all(len(s) == 10 and s[0] == r.listener for s, r in zip(want, rows))
    np.testing.assert_array_equal(m, sets_matrix(rows, want))
    assert m.diagonal().all() and (m.sum(1)[[i for i, r in enumerate(rows) if "session3" in r.listener]] == 1).all()
    s_m, s_origin = for_layout(layout, "test", rows, None, "session", 0.1, 10, 1234)
    same = np.array([[a.listener.split("/")[:2] == b.listener.split("/")[:2] for b in rows] for a in rows])
    np.testing.assert_array_equal(s_m, same.astype(np.uint8))
    assert official_draws(rows, layout.group_of, {layout.group_of(r.listener): [r.listener] for r in rows}, 1, 0) \
        == [[r.listener] for r in rows]


# ------------------------------------------------------------------------------------ audio at 30 fps
def test_30fps_audio_alignment_does_not_drift_over_20000_frames(tmp_path):
    from fractions import Fraction

    from mafrg.features.audio import mfcc_per_frame
    from mafrg.media.audio import align_audio, frame_bounds
    from mafrg.synth.audio import write_wav

    n = 20000
    b = frame_bounds(n, 16000, 30)
    assert all(b[t] == int(Fraction(t * 16000, 30)) for t in (0, 1, 2, 3, 7, 19999, 20000))
    assert set(np.diff(b).tolist()) == {533, 534} and b[-1] == 10_666_666
    x = np.zeros(b[-1] - 200, np.float32)  # 200 samples short: padded, within one frame
    t_click = 19_998
    x[b[t_click] + 100 : b[t_click] + 300] = 0.5  # a burst inside frame 19,998 only
    wav = tmp_path / "long.wav"
    write_wav(wav, x, 16000)
    a = align_audio(wav, n, 30, 16000)
    assert len(a.samples) == b[-1] and a.adjusted_samples == 200 and a.frames == n
    with pytest.raises(ValueError, match="not a whole number"):
        a.samples_per_frame
    m = mfcc_per_frame(a, 13, 23, True)
    assert m.shape == (n, 13)
    energy = m[:, 0]
    assert int(np.argmax(energy)) == t_click
    assert energy[t_click] > max(energy[t_click - 1], energy[t_click + 1]) + 1


def test_wav2vec2_per_frame_at_25_and_30_fps():
    from mafrg.media.audio import AlignedAudio, frame_bounds
    from mafrg.features.wav2vec import untrained_wav2vec2, wav2vec2_per_frame

    model = untrained_wav2vec2(0)
    rng = np.random.default_rng(0)
    for fps, width in ((25, 1536), (30, 768)):
        frames = 95
        x = rng.standard_normal(int(frame_bounds(frames, 16000, fps)[-1])).astype(np.float32)
        a = AlignedAudio(x, 16000, fps, frames, 16000, len(x) / 16000, 0, False)
        whole = wav2vec2_per_frame(model, True, a)
        assert whole.shape == (frames, width) and np.isfinite(whole).all()
        chunked = wav2vec2_per_frame(model, True, a, max_seconds=1.0)  # chunks cut at frame boundaries
        assert chunked.shape == whole.shape
