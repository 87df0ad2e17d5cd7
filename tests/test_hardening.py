"""Hardening: bad input is named before work, nothing unsafe is unpickled, and failures leave nothing a rerun
would trust. One test per item of the hardening issue that is not a workflow run (those are in
test_security_workflow.py)."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mafrg import checkpoint
from mafrg.atomic import atomic_path, write_npy
from mafrg.constants import EMOTION_COLUMNS
from mafrg.data.layouts.react2024 import LayoutError, check_rel, read_split
from mafrg.data.readers import read_emotion, read_tdmm
from mafrg.errors import DataError
from mafrg.io import FileFormatError, load_npy

REPO = Path(__file__).resolve().parents[1]


def _run(*args):
    return subprocess.run([sys.executable, "-m", "mafrg", *args], capture_output=True, text=True)


# ---------------------------------------------------------------------------------- 2: paths stay inside
@pytest.mark.parametrize("rel,rule", [
    ("../../../outside_clip", "'..'"),
    ("/etc/passwd/x/y", "absolute"),
    ("Synth/s1/P1", "4 parts"),
    ("Synth/s1/P1/1/extra", "4 parts"),
    ("Synth//P1/1", "empty part"),
    ("Synth/./P1/1", "'.'"),
    ("Synth/s1/P1/1\\..", "backslash"),
    ("Synth/s1/P1/1\nrm", "control character"),
])
def test_clip_paths_must_match_the_layout(tmp_path, rel, rule):
    assert rule in check_rel(rel)
    pd.DataFrame({"speaker_path": ["Synth/s0/P1/1", rel], "listener_path": ["Synth/s0/P2/1"] * 2}).to_csv(
        tmp_path / "val.csv")
    with pytest.raises(LayoutError) as exc:
        read_split(tmp_path, "val")
    msg = str(exc.value)
    assert str(tmp_path / "val.csv") in msg and "line 3" in msg and rule in msg


def test_ordinary_react_names_pass():
    for rel in ("NoXI/001_2016-03-17_Paris/Expert_video/21", "RECOLA/group-2/P41/2", "UDIVA/talk 12/FC1_A/3",
                "Synth/x$(touch PWNED)/P1/1", "Site/séance é/P1/1"):
        assert check_rel(rel) is None, rel


# ------------------------------------------------------------------------------- 3: no unsafe unpickling
class _Boom:
    def __reduce__(self):
        return (Path.touch, (Path("PWNED_BY_CHECKPOINT"),))


def test_a_pickled_object_checkpoint_is_refused_without_running_it(tmp_path, monkeypatch):
    import torch

    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "mmt.pt"
    torch.save({"format": checkpoint.FORMAT, "kind": "reactdiff.mmt", "meta_json": "{}", "evil": _Boom()}, bad)
    # even with a sidecar that matches (someone shared both files), it is not unpickled
    from mafrg.atomic import write_json
    from mafrg.provenance import file_sha256

    write_json(checkpoint.sidecar(bad), {"sha256": file_sha256(bad), "size": bad.stat().st_size,
                                         "mtime_ns": bad.stat().st_mtime_ns})
    with pytest.raises(checkpoint.CheckpointError, match="weights_only=True"):
        checkpoint.load(bad)
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists()


def test_no_torch_load_without_weights_only():
    """Every torch.load reads with weights_only=True (whole pickled models too: their classes are allowed only
    as inert stand-ins, tests/test_extractors.py)."""
    import re

    for f in (REPO / "src").rglob("*.py"):
        for m in re.finditer(r"torch\.load\(([^)]*)\)", f.read_text()):
            args = m.group(1)
            assert "weights_only=True" in args, f"{f}: {m.group(0)}"


# --------------------------------------------------------------------------- 7: emotion headers and ranges
def _emotion_csv(path, values, columns=EMOTION_COLUMNS):
    pd.DataFrame(values, columns=list(columns)).to_csv(path, index=False)
    return path


def _good_emotion(n=10):
    rng = np.random.default_rng(0)
    e = np.zeros((n, 25))
    e[:, :15] = rng.integers(0, 2, (n, 15))
    e[:, 15:17] = rng.uniform(-1, 1, (n, 2))
    p = rng.random((n, 8))
    e[:, 17:] = p / p.sum(1, keepdims=True)
    return e


def test_swapped_or_misnamed_emotion_columns_are_refused(tmp_path):
    cols = list(EMOTION_COLUMNS)
    cols[0], cols[15] = cols[15], cols[0]  # AU1 <-> Valence
    f = _emotion_csv(tmp_path / "a.csv", _good_emotion(), cols)
    with pytest.raises(DataError, match=r"a.csv: header does not name the REACT emotion columns in order: column 1 is 'Valence', expected 'AU1'; column 16 is 'AU1', expected 'Valence'"):
        read_emotion(f)
    # case and spaces around names are tolerated (exports differ); order and names are not
    f = _emotion_csv(tmp_path / "b.csv", _good_emotion(), [c.lower() + " " for c in EMOTION_COLUMNS])
    assert read_emotion(f).shape == (10, 25)
    # a header-less file (first row numbers) is named as such
    f = tmp_path / "c.csv"
    pd.DataFrame(_good_emotion()).to_csv(f, index=False, header=False)
    with pytest.raises(DataError, match="c.csv: the header row"):
        read_emotion(f)


@pytest.mark.parametrize("col,value,what", [(3, 1.5, "AU6"), (15, -1.2, "Valence"), (20, -0.3, "Surprise")])
def test_emotion_values_out_of_range_are_refused(tmp_path, col, value, what):
    e = _good_emotion()
    e[4, col] = value
    with pytest.raises(DataError, match=rf"e.csv: 1 value\(s\) out of range; first .* at data row 5, column {what}"):
        read_emotion(_emotion_csv(tmp_path / "e.csv", e))


def test_emotion_range_tolerance(tmp_path):
    e = _good_emotion()
    e[0, 0] = 1.0 + 5e-4  # rounding in exports: inside the documented tolerance of 1e-3
    e[1, 16] = -1.0 - 5e-4
    assert read_emotion(_emotion_csv(tmp_path / "t.csv", e)).shape == (10, 25)


# ----------------------------------------------------------------------------------------- 8: neighbours
def test_neighbour_matrix_must_be_square_0_1_and_non_empty(tmp_path):
    rng = np.random.default_rng(0)
    r, t = 4, 60
    for name, arr in {"pred": rng.random((r, 2, t, 25)), "listener": rng.random((r, t, 25)),
                      "speaker": rng.random((r, t, 25))}.items():
        np.save(tmp_path / f"{name}.npy", arr.astype(np.float32))
    for bad, msg in ((np.full((r, r), 0.5), "values must be 0/1"), (np.eye(r)[:, :3], "expected shape (4, 4)")):
        np.save(tmp_path / "nb.npy", bad)
        res = _run("evaluate", "--pred", str(tmp_path / "pred.npy"), "--listener", str(tmp_path / "listener.npy"),
                   "--speaker", str(tmp_path / "speaker.npy"), "--neighbours", str(tmp_path / "nb.npy"),
                   "--out", str(tmp_path / "m.json"))
        assert res.returncode != 0 and f"{tmp_path / 'nb.npy'}: " in res.stderr and msg in res.stderr, res.stderr


# -------------------------------------------------------------------------------- 9: .npy that is text
def test_text_file_named_npy_is_not_a_npy_file(tmp_path):
    f = tmp_path / "x.npy"
    f.write_text("0.1,0.2,0.3\n")
    with pytest.raises(FileFormatError, match=r"x.npy: not a .npy file \(starts with b'0.1,0.'"):
        load_npy(f)
    with pytest.raises(DataError, match="x.npy: not a .npy file"):
        read_tdmm(f)
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FileFormatError, match="o.npy: holds pickled"):
        load_npy(tmp_path / "o.npy")


# ------------------------------------------------------------------------------ 10: corrupt checkpoints
def _ckpt(tmp_path):
    import torch

    p = tmp_path / "models" / "ddim.pt"
    checkpoint.save(p, "reactdiff.ddim", {"model": {"w": torch.arange(20000.0)}}, {"config": {}})
    return p


def test_truncated_or_empty_checkpoint_names_the_file(tmp_path):
    p = _ckpt(tmp_path)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(checkpoint.CheckpointError, match=rf"{p}: .* bytes, but {len(data)} were written"):
        checkpoint.load(p)
    assert "truncated" in checkpoint.stale(p)
    p.write_bytes(b"")
    with pytest.raises(checkpoint.CheckpointError, match=rf"{p}: 0 bytes"):
        checkpoint.load(p)
    checkpoint.sidecar(p).unlink()
    with pytest.raises(checkpoint.CheckpointError, match="no checksum sidecar"):
        checkpoint.load(p)
    # not a mafrg checkpoint at all (e.g. someone's raw state_dict) is said as such
    import torch

    q = tmp_path / "raw.pt"
    torch.save({"conv.weight": torch.zeros(2)}, q)
    from mafrg.atomic import write_json
    from mafrg.provenance import file_sha256

    write_json(checkpoint.sidecar(q), {"sha256": file_sha256(q), "size": q.stat().st_size, "mtime_ns": 0})
    with pytest.raises(checkpoint.CheckpointError, match=r"raw.pt: not a mafrg checkpoint .*conv.weight"):
        checkpoint.load(q)


def test_an_edited_checkpoint_is_detected_and_quarantined(tmp_path):
    p = _ckpt(tmp_path)
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes, new mtime
    p.write_bytes(bytes(data))
    assert "sha256 does not match" in checkpoint.stale(p)
    moved = checkpoint.quarantine(p, checkpoint.stale(p))
    assert moved.exists() and not p.exists() and not checkpoint.sidecar(p).exists()


# ------------------------------------------------------------------------------------ 11: disk full
def test_disk_full_is_said_with_the_path(tmp_path, monkeypatch):
    target = tmp_path / "big.npy"

    def full(path, arr, allow_pickle=False):
        Path(path).write_bytes(b"\x93NUMPY partial")
        raise OSError("139200 requested and 66528 written")

    monkeypatch.setattr(np, "save", full)
    with pytest.raises(OSError) as exc:
        write_npy(target, np.zeros(10))
    assert exc.value.errno == errno.ENOSPC and str(target) in str(exc.value)
    assert "no space left on device" in str(exc.value).lower()
    assert list(tmp_path.iterdir()) == []  # nothing a rerun would trust, no temp file left


def test_disk_full_message_from_the_cli(tmp_path):
    from mafrg.cli.common import describe_error

    e = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.parquet"))
    assert describe_error(e).startswith(f"no space left on device: {tmp_path / 'x.parquet'}")


# ----------------------------------------------------------------------------- 12: stale temp files
def test_stale_temps_of_an_output_are_removed_when_it_is_written_again(tmp_path):
    target = tmp_path / "2.parquet"
    stale = [tmp_path / ".2.parquet.lbvvk7v2.tmp.parquet", tmp_path / ".2.parquet.x1.tmp.parquet"]
    other = tmp_path / ".3.parquet.zz.tmp.parquet"  # another output's temp: left alone
    for f in (*stale, other):
        f.write_bytes(b"half")
    with atomic_path(target, suffix=".parquet") as tmp:
        tmp.write_bytes(b"done")
    assert target.read_bytes() == b"done" and not any(f.exists() for f in stale) and other.exists()
    state = tmp_path / "last.pt"
    old = tmp_path / ".last.pt.k50wdf3x.tmp.pt"
    old.write_bytes(b"x")
    with atomic_path(state, suffix=".pt") as tmp:
        tmp.write_bytes(b"y")
    assert not old.exists()


def test_concurrent_cache_writers_do_not_remove_each_others_temps(tmp_path):
    """Training seeds of one method fill the same cache at once: a second writer of a cached array must leave the
    first one's temporary alone (it was removing it, and the first writer's rename failed), and still clear a
    temporary that a killed writer left long ago."""
    import os
    import time

    import numpy as np

    from mafrg.cache import STALE_AFTER, cached_array

    target = tmp_path / "1.wav2vec2.abc.npy"
    killed = tmp_path / ".1.wav2vec2.abc.npy.old.tmp.npy"
    killed.write_bytes(b"half")
    past = time.time() - STALE_AFTER - 60
    os.utime(killed, (past, past))
    with atomic_path(target, suffix=".npy", stale_after=STALE_AFTER) as first:
        np.save(first, np.ones(3, np.float32))
        second = cached_array(target, lambda: np.ones(3, np.float32))  # the other job, meanwhile
        assert first.exists() and not killed.exists()
    assert np.array_equal(second, np.ones(3)) and np.array_equal(np.load(target), np.ones(3))
    assert not list(tmp_path.glob(".*.tmp.npy"))


def test_pickle_is_not_needed_anywhere_to_read_outputs():
    """The prediction and split files are read without allow_pickle (json meta, numeric arrays)."""
    import re

    for f in (REPO / "src").rglob("*.py"):
        text = f.read_text()
        assert "allow_pickle=True" not in text, f
        assert not re.search(r"\bpickle\.loads?\(", text), f
