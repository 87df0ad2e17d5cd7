"""The standalone `mafrg evaluate` command, neighbour matrices, and atomic writes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mafrg.atomic import atomic_path, write_npy
from mafrg.neighbours import NeighbourError, build_neighbours, check_neighbours


def _run(*args):
    return subprocess.run([sys.executable, "-m", "mafrg", *args], capture_output=True, text=True)


@pytest.fixture()
def npy_inputs(tmp_path):
    rng = np.random.default_rng(0)
    r, t = 6, 80
    files = {
        "pred": rng.random((r, 10, t, 25)).astype(np.float32),
        "listener": rng.random((r, t, 25)).astype(np.float32),
        "speaker": rng.random((r, t, 25)).astype(np.float32),
        "neighbours": np.eye(r, dtype=np.uint8),
    }
    paths = {}
    for k, v in files.items():
        paths[k] = tmp_path / f"{k}.npy"
        np.save(paths[k], v)
    return paths


def test_evaluate_command(npy_inputs, tmp_path):
    out = tmp_path / "m.json"
    p = npy_inputs
    res = _run("evaluate", "--pred", str(p["pred"]), "--listener", str(p["listener"]), "--speaker", str(p["speaker"]),
               "--neighbours", str(p["neighbours"]), "--out", str(out))
    assert res.returncode == 0, res.stderr
    d = json.loads(out.read_text())
    for k in ("FRCorr", "FRDist", "FRDiv", "FRVar", "FRDvs", "FRSyn"):
        assert isinstance(d[k], float)
    assert abs(d["FRDiv"] - 1 / 6) < 0.01
    assert len(d["per_row"]["FRDist"]) == 6 and "code_version" in d["provenance"]


def test_evaluate_command_shape_error_names_file(npy_inputs, tmp_path):
    p = npy_inputs
    np.save(p["speaker"], np.zeros((5, 80, 25), np.float32))
    res = _run("evaluate", "--pred", str(p["pred"]), "--listener", str(p["listener"]), "--speaker", str(p["speaker"]),
               "--neighbours", str(p["neighbours"]), "--out", str(tmp_path / "m.json"))
    assert res.returncode != 0
    assert f"{p['speaker']}: expected shape (6, 80, 25)" in res.stderr and "found (5, 80, 25)" in res.stderr
    assert not (tmp_path / "m.json").exists()
    res = _run("evaluate", "--pred", str(tmp_path / "nope.npy"), "--listener", str(p["listener"]),
               "--speaker", str(p["speaker"]), "--neighbours", str(p["neighbours"]), "--out", str(tmp_path / "m.json"))
    assert res.returncode != 0 and "nope.npy: file not found" in res.stderr


def test_built_neighbours_rule():
    rng = np.random.default_rng(0)
    base = rng.random((3, 50, 25))
    sp = np.concatenate([base + 0.01 * rng.random((3, 50, 25)) for _ in range(4)])  # 4 near-copies of 3 speakers
    m = build_neighbours(sp, quantile=0.27)  # 18 of the 66 pairs are near-copies
    assert (m == m.T).all() and (np.diag(m) == 1).all()
    for k in range(12):  # the near-copies of the same speaker are each other's neighbours
        assert set(np.flatnonzero(m[k])) == {j for j in range(12) if j % 3 == k % 3}
    check_neighbours(m, 12)
    with pytest.raises(NeighbourError, match="expected shape \\(10, 10\\)"):
        check_neighbours(m, 10)
    with pytest.raises(NeighbourError, match="values must be 0/1"):
        check_neighbours(m * 2, 12)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "a.npy"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    write_npy(target, np.arange(3))
    assert np.load(target).tolist() == [0, 1, 2] and len(list(tmp_path.iterdir())) == 1


_PAGE_FAULTS = """
import resource, sys
import numpy as np
if sys.argv[1] == "raised":
    from mafrg.allocator import retain_freed_memory
    assert retain_freed_memory()
def once():  # what a layer does on each call: a large buffer, written, freed
    a = np.empty(16 << 20, dtype=np.float32)
    a.fill(1.0)
    del a
once()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    once()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_raised_malloc_thresholds_reuse_freed_memory():
    """mafrg.allocator (every mafrg command runs it): a 64 MiB buffer allocated, written and freed again and again
    page-faults fresh memory each time under glibc's defaults, and reuses the process's own pages once the
    thresholds are raised -- the effect the generation speed-up rests on."""
    faults = {}
    for mode in ("default", "raised"):
        r = subprocess.run([sys.executable, "-c", _PAGE_FAULTS, mode], capture_output=True, text=True, check=True)
        faults[mode] = int(r.stdout.split()[-1])
    assert faults["default"] >= 5, faults  # at least one fault per allocation (fewer with transparent huge pages)
    assert faults["raised"] < faults["default"] / 20, faults
