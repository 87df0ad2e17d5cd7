"""Clips of any length below the metrics: assembled splits, the prediction format and the naive baselines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mafrg import predictions
from mafrg.config import DatasetConfig
from mafrg.data.assemble import ClipArrays, SplitArrays, assemble_clips, load_split
from mars_helpers import SESSIONS, make_mars


@pytest.fixture(scope="module")
def mars(tmp_path_factory):
    return make_mars(tmp_path_factory.mktemp("clips") / "data", splits=("train", "test"))


def test_assembled_clips_are_whole_and_stored_once(mars, tmp_path):
    cfg = DatasetConfig.parse({"root": str(mars), "layout": "mars", "fps": 30, "mars": {"bidirectional": True}})
    data = assemble_clips(mars, "test", cfg)
    want = sorted(n for clips in SESSIONS.values() for _, n in clips)
    assert sorted(data.lengths.tolist()) == sorted(want * 2)  # every clip whole, speaker and listener once each
    assert data.emotion.shape == (2 * sum(want), 25) and data.n_rows == 2 * len(want)
    k = data.n_rows // 2  # the first swapped row: the first pair's listener is its speaker
    assert np.array_equal(data.speaker_emotion_of(k), data.listener_emotion_of(0))
    assert data.speaker_lengths().tolist() == [len(data.speaker_emotion_of(i)) for i in range(data.n_rows)]
    data.save(tmp_path / "test.npz")
    back = load_split(tmp_path / "test.npz")
    assert isinstance(back, ClipArrays) and back.rows == data.rows and np.array_equal(back.emotion, data.emotion)
    # the frames are memory-mapped from the file (read when touched), read-only, the same values bit for bit
    assert isinstance(back.emotion, np.memmap) and isinstance(back.tdmm, np.memmap)
    assert not back.emotion.flags.writeable and np.array_equal(back.tdmm, data.tdmm)
    assert np.array_equal(back.speaker_emotion_of(3), data.speaker_emotion_of(3))
    assert not isinstance(ClipArrays.load(tmp_path / "test.npz", mmap=False).emotion, np.memmap)
    with pytest.raises(ValueError, match="clips of any length.*fixed-length splits only"):
        SplitArrays.load(tmp_path / "test.npz")


def test_prediction_shards_of_rows_of_their_own_lengths(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(rng.random((3, t, 25), dtype=np.float32), rng.random((3, t, 58), dtype=np.float32)) for t in (5, 9, 2)]
    r = predictions.Reactions.from_rows([e for e, _ in rows], [d for _, d in rows])
    assert r.emotion.shape == (16, 3, 25) and r.lengths.tolist() == [5, 9, 2]
    r.check(rows=3, alpha=3, lengths=np.array([5, 9, 2]))
    with pytest.raises(predictions.PredictionError, match=r"differ from the speakers'.*first at row 1"):
        r.check(lengths=np.array([5, 8, 2]))
    path = tmp_path / "r00000-00003.npy"
    predictions.write(path, r, {"rows": [0, 3]})
    back = predictions.load(path)
    assert json.loads(predictions.meta_path(path).read_text())["lengths"] == [5, 9, 2]
    for k, (e, d) in enumerate(rows):
        np.testing.assert_array_equal(back.row(k)[0], e)
        np.testing.assert_array_equal(back.row(k)[1], d)
    bad = predictions.Reactions.from_rows([e for e, _ in rows], [d for _, d in rows])
    bad.emotion[14, 1, 3] = np.nan  # a frame of row 2
    with pytest.raises(predictions.PredictionError, match="NaN or inf in row 2"):
        bad.check()


def test_naive_baselines_on_clips_of_any_length():
    from mafrg.metrics.ragged import resample
    from mafrg.methods.baselines.naive import clip_means, ragged_baseline

    rng = np.random.default_rng(1)
    lengths = [4, 7, 2]
    flat = rng.random((sum(lengths), 25), dtype=np.float32)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    seq, frame = clip_means(flat, offsets)
    assert seq.shape == (7, 25)
    np.testing.assert_allclose(seq[0], flat[offsets[:-1]].mean(0), rtol=1e-6)  # frame 0: every clip
    np.testing.assert_allclose(seq[5], flat[offsets[1] + 5], rtol=1e-6)  # frame 5: only the 7-frame clip
    np.testing.assert_allclose(frame, flat.mean(0), rtol=1e-6)
    sp, li = rng.random((9, 25), dtype=np.float32), rng.random((11, 25), dtype=np.float32)
    gt = ragged_baseline("GT", sp, li, 3, 0, 4, None)
    assert gt.shape == (3, 9, 25) and np.array_equal(gt[1], resample(li, 9).astype(np.float32))
    assert np.array_equal(ragged_baseline("GT", sp, li[:9], 3, 0, 4, None)[0], li[:9])  # same length: unchanged
    mean_seq = ragged_baseline("B_MeanSeq", sp, li, 2, 0, 4, (seq, frame))
    assert np.array_equal(mean_seq[0, :7], seq) and np.array_equal(mean_seq[0, 8], frame)  # past the longest clip
    a = ragged_baseline("B_Random", sp, li, 2, 7, 4, None)
    assert np.array_equal(a, ragged_baseline("B_Random", sp, li, 2, 7, 4, None))  # row 4's own stream
    assert not np.array_equal(a, ragged_baseline("B_Random", sp, li, 2, 7, 5, None))


def test_synth_writes_a_mars_tree_that_validates(tmp_path):
    import subprocess
    import sys

    from mafrg.data.layouts import get_layout
    from mafrg.data.validate import validate_dataset

    out = tmp_path / "mars"
    res = subprocess.run([sys.executable, "-m", "mafrg", "synth", "--layout", "mars", "--out", str(out), "--settings",
                          json.dumps({"sessions": {"train": 1, "val": 1, "test": 1}, "clips_per_session": 3,
                                      "frames": 90, "min_frames": 40, "image_size": 64, "audio": "procedural"})],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    cfg = DatasetConfig.parse({"root": str(out), "layout": "mars", "fps": 30})
    validate_dataset(out, ["train", "val", "test"], cfg)
    layout = get_layout(cfg)
    assert not (out / "val.csv").exists() and len(layout.pairs("val")) == 3
    data = assemble_clips(out, "val", cfg)
    assert 40 <= data.lengths.min() and data.lengths.max() <= 90 and len(set(data.lengths.tolist())) > 1
    assert np.load(layout.clip_files("val", layout.pairs("val")[0][0]).tdmm).ndim == 3  # MARS's (1, T, 58)
    manifest = json.loads((out / "manifest.json").read_text())
    assert {c["listener"] for s in manifest["sessions"].values() for c in s["clips"]} == {"P2", "P3"}


def test_npz_members_are_mapped_or_named(tmp_path):
    """An archive member is memory-mapped where stored uncompressed (C and Fortran order, both .npy header
    versions), read whole where compressed; a missing member, a non-archive and an object member are named."""
    from mafrg.io import FileFormatError, npz_member

    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    np.savez(tmp_path / "s.npz", a=a, f=np.asfortranarray(a), e=np.zeros((0, 3)))
    np.savez_compressed(tmp_path / "c.npz", a=a)
    for name, want in (("a", a), ("f", a)):
        got = npz_member(tmp_path / "s.npz", name)
        assert isinstance(got, np.memmap) and np.array_equal(got, want)
    assert npz_member(tmp_path / "s.npz", "e").shape == (0, 3)
    got = npz_member(tmp_path / "c.npz", "a")
    assert not isinstance(got, np.memmap) and np.array_equal(got, a)
    with pytest.raises(FileFormatError, match="no array 'b'"):
        npz_member(tmp_path / "s.npz", "b")
    (tmp_path / "x.npz").write_text("not a zip")
    with pytest.raises(FileFormatError, match="x.npz: not a readable .npz archive"):
        npz_member(tmp_path / "x.npz", "a")
    np.savez(tmp_path / "o.npz", o=np.array(["a", "bc"]))
    with pytest.raises(FileFormatError, match="not a real number type"):
        npz_member(tmp_path / "o.npz", "o")
