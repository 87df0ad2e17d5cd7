"""The real workflow (tiny config) on hostile but realistic datasets: a clip path that is a shell command, a
dataset root with a space and non-ASCII characters, a split row that climbs out of the root, a bad file. Each
asserts that nothing outside the working directory was created, and that problems are named before work."""

from __future__ import annotations

import shutil

import pytest
import yaml

from mafrg.config import SynthConfig
from workflow_helpers import TINY, planned_jobs, snakemake

MODALITIES = ("Video_files", "Audio_files", "Emotion", "3D_FV_files")


def _config(root):
    return dict(TINY, dataset=dict(TINY["dataset"], root=str(root), generate=False),
                methods={"GT": {}, "B_Random": {"seed": 7}, "B_MeanSeq": {}, "B_Mime": {"enabled": False},
                         "B_MeanFr": {"enabled": False}, "ReactDiff": {"enabled": False}})


def _dataset(folder):
    from mafrg.synth.generator import generate

    generate(SynthConfig(seed=3, sessions={"train": 1, "val": 1, "test": 1}, clips_per_session=1, frames=61,
                         image_size=64, audio="procedural"), folder)
    return folder


def _rename_session(root, split, old, new):
    for mod in MODALITIES:
        (root / split / mod / "Synth" / old).rename(root / split / mod / "Synth" / new)
    csv = root / f"{split}.csv"
    csv.write_text(csv.read_text().replace(f"/{old}/", f"/{new}/"))


@pytest.mark.slow
@pytest.mark.xdist_group("security")
def test_shell_in_a_clip_path_and_a_root_with_spaces_are_only_data(tmp_path):
    root = _dataset(tmp_path / "data set é")  # a root with a space and a non-ASCII character
    _rename_session(root, "val", "session001", "x$(touch PWNED)`touch PWNED2`;touch PWNED3")
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(_config(root)))
    res = snakemake(work, "all", "results/features/val.manifest.json", "--cores", "2")
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert not list(tmp_path.rglob("PWNED*")) and not list(work.rglob("PWNED*"))
    # the odd clip was processed as data: its features and its rows' metrics exist
    shard = work / "results/features/val/Synth/x$(touch PWNED)`touch PWNED2`;touch PWNED3/P1/1.parquet"
    assert shard.is_file()
    assert (work / "results/report/val.csv").read_text().count("\n") == 4  # header + GT, B_Random, B_MeanSeq


@pytest.mark.xdist_group("security")
def test_a_split_row_outside_the_root_is_refused_before_any_job(tmp_path):
    root = _dataset(tmp_path / "data")
    outside = tmp_path / "outside_clip"
    for mod in MODALITIES:  # files really exist where the row points
        shutil.copytree(root / "val" / mod / "Synth", tmp_path / mod)
    csv = root / "val.csv"
    lines = csv.read_text().splitlines()
    lines.append(f"{len(lines) - 1},../../../outside_clip,{lines[1].split(',')[2]}")
    csv.write_text("\n".join(lines) + "\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(_config(root)))
    before = set(tmp_path.rglob("*"))
    res = snakemake(work, "-n", "--cores", "1")
    err = res.stdout + res.stderr
    assert res.returncode != 0
    assert f"{csv}: clip paths must be <site>/<session>/<person>/<clip> inside the dataset root" in err, err[-3000:]
    assert "line 3, speaker_path '../../../outside_clip': a '..' part" in err
    assert "Job stats" not in err  # refused while planning: no job, nothing read past the split file
    assert set(tmp_path.rglob("*")) - before <= {p for p in tmp_path.rglob("*") if work in p.parents or p == work}
    assert not outside.exists()


@pytest.mark.xdist_group("security")
def test_validation_problems_are_shown_on_the_console(tmp_path):
    root = _dataset(tmp_path / "data")
    emo = next((root / "val" / "Emotion").rglob("*.csv"))
    emo.write_text(emo.read_text().replace("AU1,", "Valence,", 1).replace(",Valence,", ",AU1,", 1))
    tdmm = next((root / "val" / "3D_FV_files").rglob("*.npy"))
    tdmm.write_text("1,2,3\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(_config(root)))
    res = snakemake(work, "--cores", "1")  # without the profile: no --show-failed-logs
    err = res.stdout + res.stderr
    assert res.returncode != 0
    assert f"{emo}: header does not name the REACT emotion columns in order: column 1 is 'Valence', expected " \
           "'AU1'" in err and f"{tdmm}: not a .npy file" in err, err[-3000:]
    assert "dataset validation failed: 2 problem(s)" in err
    assert not (work / "results" / "features").exists()  # nothing started on the bad split
    jobs = planned_jobs(snakemake(work, "-n", "--cores", "1").stdout)
    assert jobs.get("validate_split", 0) >= 1
