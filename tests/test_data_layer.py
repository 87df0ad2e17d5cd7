"""The REACT 2024 data layer: layout, mirrored order, and every kind of bad input named clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mafrg.config import DatasetConfig
from mafrg.data.assemble import SplitArrays, assemble_split
from mafrg.data.layouts import LayoutError, get_layout
from mafrg.data.layouts.react2024 import clip_files, read_split
from mafrg.data.readers import fit_length, read_emotion, read_tdmm
from mafrg.errors import DataError
from mafrg.media.video import probe_video
from mafrg.data.validate import ValidationError, validate_dataset


def _first_clip(root, split="val"):
    df = read_split(root, split)
    return clip_files(root, split, df.speaker_path[0]), clip_files(root, split, df.listener_path[0])


def test_valid_dataset_passes(tiny_dataset, dcfg):
    report = validate_dataset(tiny_dataset, ["train", "val", "test"], dcfg)
    assert report.splits["val"]["clips"] == 4  # 1 session x 2 clips x 2 people
    assert not report.problems


def test_mirrored_row_order(tiny_dataset):
    rows = get_layout(DatasetConfig(root=str(tiny_dataset))).rows("val")
    n = len(rows) // 2
    assert [r.index for r in rows] == list(range(2 * n))
    for k in range(n):
        assert (rows[n + k].speaker, rows[n + k].listener) == (rows[k].listener, rows[k].speaker)
        assert rows[n + k].mirrored and not rows[k].mirrored


def test_assemble_truncates_to_clip_length_and_mirrors(tiny_dataset, dcfg, tmp_path):
    arr = assemble_split(tiny_dataset, "val", dcfg, mirrored=True)
    n = arr.n_rows // 2
    assert arr.speaker_emotion.shape == (2 * n, 60, 25) and arr.listener_tdmm.shape == (2 * n, 60, 58)
    np.testing.assert_array_equal(arr.speaker_emotion[n:], arr.listener_emotion[:n])
    spk, _ = _first_clip(tiny_dataset)
    np.testing.assert_array_equal(arr.speaker_emotion[0], read_emotion(spk.emotion)[:60])
    arr.save(tmp_path / "v.npz")
    back = SplitArrays.load(tmp_path / "v.npz")
    np.testing.assert_array_equal(back.listener_emotion, arr.listener_emotion)
    assert back.rows == arr.rows


def test_short_clip_is_an_error_unless_padding(tiny_dataset):
    long_cfg = DatasetConfig(clip_length=100)
    with pytest.raises(ValidationError) as exc:
        validate_dataset(tiny_dataset, ["val"], long_cfg)
    assert "shorter than clip_length 100" in str(exc.value)
    spk, _ = _first_clip(tiny_dataset)
    with pytest.raises(DataError, match=str(spk.emotion)):
        fit_length(read_emotion(spk.emotion), 100, spk.emotion, pad=False)
    padded = fit_length(read_emotion(spk.emotion), 100, spk.emotion, pad=True)
    assert padded.shape == (100, 25)
    np.testing.assert_array_equal(padded[61:], np.repeat(padded[60:61], 39, axis=0))
    validate_dataset(tiny_dataset, ["val"], DatasetConfig(clip_length=100, pad_short=True))


def test_every_bad_file_is_listed(dataset_copy, dcfg):
    """Seven different faults in one split: one error listing each with its file."""
    root = dataset_copy
    df = read_split(root, "val")
    a = clip_files(root, "val", df.speaker_path[0])
    b = clip_files(root, "val", df.listener_path[0])
    c = clip_files(root, "val", df.speaker_path[1])
    d = clip_files(root, "val", df.listener_path[1])
    a.video.write_bytes(b"\x00not a video" * 100)  # corrupt video
    raw = b.video.read_bytes()
    b.video.write_bytes(raw[: len(raw) // 3])  # truncated video
    emo = pd.read_csv(c.emotion)
    emo.iloc[:, :24].to_csv(c.emotion, index=False)  # wrong column count
    np.save(c.tdmm, np.zeros((61, 57), np.float32))  # wrong 3DMM shape
    emo_d = pd.read_csv(d.emotion)
    emo_d.iloc[5, 16] = np.nan
    emo_d.to_csv(d.emotion, index=False)  # NaN
    d.audio.unlink()  # missing audio
    t = np.load(a.tdmm)
    np.save(a.tdmm, np.concatenate([t, np.repeat(t[-1:], 20, axis=0)]))  # frame-count mismatch
    with pytest.raises(ValidationError) as exc:
        validate_dataset(root, ["val"], dcfg)
    msg = str(exc.value)
    probs = exc.value.problems
    assert any(str(a.video) in p and "cannot be decoded" in p for p in probs), msg
    assert any(str(b.video) in p and ("cannot be decoded" in p or "truncated" in p) for p in probs), msg
    assert any(str(c.emotion) in p and "expected 25 columns" in p and "found 24" in p for p in probs), msg
    assert any(str(c.tdmm) in p and "(T, 58)" in p for p in probs), msg
    assert any(str(d.emotion) in p and "NaN" in p and "Arousal" in p for p in probs), msg
    assert any(str(d.audio) in p and "missing" in p for p in probs), msg
    assert any(a.rel in p and "frame counts differ" in p and "3dmm=81" in p for p in probs), msg
    assert len(probs) >= 7


def test_missing_files_and_split_errors(dataset_copy, dcfg):
    root = dataset_copy
    spk, _ = _first_clip(root)
    spk.emotion.unlink()
    spk.tdmm.unlink()
    with pytest.raises(ValidationError) as exc:
        validate_dataset(root, ["val"], dcfg)
    assert any(str(spk.emotion) in p and "missing" in p for p in exc.value.problems)
    assert any(str(spk.tdmm) in p and "missing" in p for p in exc.value.problems)
    (root / "test.csv").write_text("a,b\n1,2\n")
    with pytest.raises(LayoutError, match="test.csv: missing column"):
        read_split(root, "test")
    (root / "test.csv").unlink()
    with pytest.raises(ValidationError, match="test.csv: split file missing"):
        validate_dataset(root, ["test"], dcfg)


def test_emotion_reader_rejects_text_and_inf(tmp_path):
    p = tmp_path / "e.csv"
    from mafrg.constants import EMOTION_COLUMNS

    df = pd.DataFrame(np.zeros((5, 25)), columns=list(EMOTION_COLUMNS)).astype(object)
    df.iloc[2, 3] = "abc"
    df.to_csv(p, index=False)
    with pytest.raises(DataError, match=r"non-numeric value 'abc' at data row 3, column AU6"):
        read_emotion(p)
    df = pd.DataFrame(np.zeros((5, 25)), columns=list(EMOTION_COLUMNS))
    df.iloc[4, 0] = np.inf
    df.to_csv(p, index=False)
    with pytest.raises(DataError, match="inf at data row 5"):
        read_emotion(p)
    np.save(tmp_path / "t.npy", np.full((4, 58), np.nan))
    with pytest.raises(DataError, match=r"t.npy: 232 non-finite value\(s\); first is NaN at data row 1, column coef0"):
        read_tdmm(tmp_path / "t.npy")
    # REACT stores some 3DMM files as (1, T, 58): accepted.
    np.save(tmp_path / "u.npy", np.zeros((1, 4, 58)))
    assert read_tdmm(tmp_path / "u.npy").shape == (4, 58)


def test_png_folder_video(tmp_path):
    import cv2

    folder = tmp_path / "clip"
    folder.mkdir()
    for i in (1, 2, 3, 5):
        cv2.imwrite(str(folder / f"{i}.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="not contiguous"):
        probe_video(folder)
    (folder / "5.png").rename(folder / "4.png")
    assert probe_video(folder, full_decode=True).frames == 4
    (folder / "4.png").write_bytes(b"broken")
    with pytest.raises(DataError, match="4.png: PNG frame cannot be decoded"):
        probe_video(folder)


def test_non_25fps_video_is_reported(dataset_copy, dcfg):
    """A real 30 fps recording put in place of a clip is flagged against the 25 fps grid."""
    import shutil

    from conftest import SHARED_REAL

    src = SHARED_REAL / "single_face.mp4"
    if not src.exists():
        pytest.skip("shared real media not present")
    spk, _ = _first_clip(dataset_copy)
    shutil.copy(src, spk.video)
    with pytest.raises(ValidationError) as exc:
        validate_dataset(dataset_copy, ["val"], dcfg)
    assert any(str(spk.video) in p and "30.000 fps, the dataset grid is 25 fps" in p for p in exc.value.problems)
