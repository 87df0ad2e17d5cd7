"""Challenge submission packages: layout, value rules, manifest, reuse, archives, and the checker's findings."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mafrg import methods
from mafrg import predictions as preds
from mafrg.config import DatasetConfig
from mafrg.data.assemble import assemble_split
from mafrg.paths import Paths
from mafrg.predictions import Reactions
from mafrg.submission import DEFAULT_VIDEO_CLIPS
from mafrg.submission.check import check_package, evaluate_package
from mafrg.submission.pack import PackOptions, SubmissionError, pack, video_clips, write_archive
from mafrg.submission.values import SubmissionValueError, ValueRules, apply_rules

ALPHA = 3
FRAMES = 60


def _valid(rng, shape) -> np.ndarray:
    """Emotion predictions inside every range: AU probabilities, VA in (-1, 1), expression softmax."""
    e = np.empty((*shape, 25), np.float32)
    e[..., :15] = rng.uniform(0, 1, (*shape, 15))
    e[..., 15:17] = rng.uniform(-0.9, 0.9, (*shape, 2))
    z = np.exp(rng.normal(size=(*shape, 8)))
    e[..., 17:] = z / z.sum(-1, keepdims=True)
    return e


@pytest.fixture()
def results(tiny_dataset, tmp_path):
    """A results folder with the assembled test split and two prediction shards of ReactDiff (both variants),
    written through the predictions module as the generation rule writes them."""
    res = tmp_path / "results"
    paths = Paths(results=str(res), root=str(tiny_dataset))
    data = assemble_split(tiny_dataset, "test", DatasetConfig(clip_length=FRAMES), mirrored=True)
    data.save(paths.split_data("test"))
    rng = np.random.default_rng(0)
    m = methods.get("ReactDiff")
    n = data.n_rows
    for variant in ("offline", "online"):
        emo = _valid(rng, (n, ALPHA, FRAMES))
        tdmm = rng.normal(0, 0.05, (n, ALPHA, FRAMES, 58)).astype(np.float32)
        for a, b in ((0, 2), (2, n)):
            name = f"r{a:05d}-{b:05d}"
            meta = {"method": m.name, "variant": variant, "rows": [a, b], "seed": 0,
                    "checkpoints": {"mmt": "a" * 64, "ddim": "b" * 64}, "config": {"x": 1},
                    "row_order": preds.row_order(data, a, b)}
            preds.write(paths.prediction("test", m.label(variant), 0, name), Reactions(emo[a:b], tdmm[a:b]), meta)
    return res, tiny_dataset, data


def _pack(results, out, **kw):
    res, root, data = results
    opts = PackOptions(**({"videos": []} | kw))
    return pack(out, methods.get("ReactDiff"), None, data, str(res), DatasetConfig(root=str(root)), 0, opts,
                progress=False)


def test_package_layout_manifest_and_round_trip(results, tmp_path):
    res, root, data = results
    out = tmp_path / "pkg"
    man = _pack(results, out, rules=ValueRules(binarize=False))
    speakers = [r.speaker for r in data.rows]
    assert sorted(man["variants"]) == ["offline", "online"] and man["rows"] == data.n_rows == 4
    for vdir in ("offline", "online"):
        label = f"ReactDiff_{vdir}"
        stacked = np.load(out / vdir / "test" / "predictions.npy")
        assert stacked.shape == (4, ALPHA, FRAMES, 25)
        whole = np.concatenate([np.load(p) for p in sorted((res / "predictions" / "test" / label / "seed0").glob("r*[0-9].npy"))])
        np.testing.assert_array_equal(stacked, whole)  # valid values pass the rules bit for bit, in row order
        for i, s in enumerate(speakers):  # keyed by the speaker's clip path, official row order
            for k in range(ALPHA):
                np.testing.assert_array_equal(np.load(out / vdir / "test" / s / f"result-{k}.npy"), whole[i, k])
                assert np.load(out / vdir / "test" / s / f"3dmm-{k}.npy").shape == (FRAMES, 58)
        rows = (out / vdir / "test" / "rows.csv").read_text().splitlines()
        assert rows[0] == "row,speaker_path,listener_path,mirrored" and len(rows) == 5
        assert rows[3].split(",")[1:3] == [data.rows[2].speaker, data.rows[2].listener]
        assert man["variants"][vdir]["checkpoints"] == {"mmt": "a" * 64, "ddim": "b" * 64}
    assert man["options"]["value_rules"]["binarize"] is False and "code_version" in man and "torch" in man["packages"]
    assert len(man["files"]) == 2 * (4 * ALPHA * 2 + 2)
    rep = check_package(out, speakers)
    assert rep.ok, rep.problems
    # Evaluated from the files, it scores exactly what the predictions score.
    from mafrg.metrics.engine import evaluate

    nb = np.ones((4, 4), bool)
    scores = evaluate_package(rep, data, nb)
    direct = evaluate(whole, data.listener_emotion, data.speaker_emotion, nb, progress=False).metrics
    for k, v in direct.items():
        assert scores["online"][k] == pytest.approx(v, rel=1e-6, abs=1e-6)


def test_value_rules_binarise_clip_renormalise_and_refuse_nan():
    rng = np.random.default_rng(1)
    e = _valid(rng, (2, 2, 5))
    e[0, 0, 0, 15] = 1.7  # valence out of range
    e[0, 0, 1, 17:] *= 2  # expression probabilities summing to 2
    e[1, 1, 2, 20] = -0.1
    out, counts = apply_rules(e, ValueRules(binarize=True, threshold=0.5), ["a", "b"])
    assert set(np.unique(out[..., :15])) <= {0.0, 1.0}
    np.testing.assert_array_equal(out[..., :15], (e[..., :15] >= 0.5).astype(np.float32))
    assert out[0, 0, 0, 15] == 1.0 and counts["va_clipped"] == 1
    np.testing.assert_allclose(out[..., 17:].sum(-1), 1.0, atol=1e-6)
    assert (out[..., 17:] >= 0).all() and counts["fe_clipped"] == 1 and counts["fe_frames_renormalised"] == 2
    kept, _ = apply_rules(e, ValueRules(binarize=False), ["a", "b"])
    np.testing.assert_array_equal(kept[..., :15], e[..., :15])
    e[1, 0, 3, 4] = np.nan
    with pytest.raises(SubmissionValueError, match=r"row 1 \(speaker b\)"):
        apply_rules(e, ValueRules(), ["a", "b"])


def test_rerun_rewrites_only_what_changed_and_removes_nothing_valid(results, tmp_path):
    out = tmp_path / "pkg"
    _pack(results, out)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")}
    _pack(results, out)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")} == before
    # One row's reactions change: that row's files and the stacked file are rewritten, nothing else.
    res, root, data = results
    shard = res / "predictions" / "test" / "ReactDiff_offline" / "seed0" / "r00000-00002.npy"
    e = np.load(shard)
    e[1] = 1.0 - e[1]
    np.save(shard, e)
    _pack(results, out)
    changed = {p.relative_to(out).as_posix() for p, t in before.items() if p.stat().st_mtime_ns != t}
    s1 = data.rows[1].speaker
    assert changed == {f"offline/test/{s1}/result-{k}.npy" for k in range(ALPHA)} | {"offline/test/predictions.npy"}


def test_pth_format_reads_back_with_weights_only(results, tmp_path):
    import torch

    out = tmp_path / "pkg"
    _pack(results, out, format="pth")
    _, _, data = results
    f = out / "offline" / "test" / data.rows[0].speaker / "result-0.pth"
    x = torch.load(f, weights_only=True)
    assert tuple(x.shape) == (FRAMES, 25) and x.dtype == torch.float32
    assert check_package(out, [r.speaker for r in data.rows]).ok


def _problems(pkg, data):
    return check_package(pkg, [r.speaker for r in data.rows]).problems


def test_check_finds_each_broken_package_by_path(results, tmp_path):
    _, _, data = results
    good = tmp_path / "good"
    _pack(results, good)
    s0, s2 = data.rows[0].speaker, data.rows[2].speaker

    def broken(name, damage):
        pkg = tmp_path / name
        shutil.copytree(good, pkg)
        damage(pkg)
        return pkg, _problems(pkg, data)

    # missing result file
    pkg, probs = broken("missing", lambda p: (p / "online" / "test" / s0 / "result-2.npy").unlink())
    assert any(f"online/test/{s0}/result-2.npy: missing" in x for x in probs)
    # wrong shape
    pkg, probs = broken("shape", lambda p: np.save(p / "offline" / "test" / s2 / "result-0.npy",
                                                   np.zeros((FRAMES, 24), np.float32)))
    assert any(f"offline/test/{s2}/result-0.npy: shape (60, 24), expected (60, 25)" in x for x in probs)
    # NaN
    def nan(p):
        f = p / "offline" / "test" / s0 / "result-1.npy"
        x = np.load(f)
        x[3, 16] = np.nan
        np.save(f, x)
    pkg, probs = broken("nan", nan)
    assert any(f"offline/test/{s0}/result-1.npy: NaN or inf" in x for x in probs)
    # checksum mismatch (values still valid: only the manifest can tell)
    def flip(p):
        f = p / "online" / "test" / s2 / "3dmm-0.npy"
        x = np.load(f)
        x[0, 0] += 1
        np.save(f, x)
    pkg, probs = broken("sha", flip)
    assert probs == [f"{pkg}/online/test/{s2}/3dmm-0.npy: sha256 differs from the manifest (changed or corrupted)"]
    # missing clip
    pkg, probs = broken("clip", lambda p: shutil.rmtree(p / "offline" / "test" / s2))
    assert any(f"offline/test/{s2}: missing clip (row 2)" in x for x in probs)
    # truncated file and an extra row: all problems at once
    def several(p):
        f = p / "online" / "test" / s0 / "result-0.npy"
        f.write_bytes(f.read_bytes()[:100])
        extra = p / "online" / "test" / "Synth" / "session999" / "P1" / "1"
        extra.mkdir(parents=True)
        np.save(extra / "result-0.npy", np.zeros((FRAMES, 25), np.float32))
    pkg, probs = broken("several", several)
    assert any(f"online/test/{s0}/result-0.npy: unreadable" in x for x in probs)
    assert any("session999/P1/1: extra row" in x for x in probs)
    assert good.is_dir() and not _problems(good, data)


def test_check_reads_a_package_without_manifest(results, tmp_path):
    """Another tool's package in the same layout (no manifest, no rows.csv, no 3DMM) is checked from --data."""
    _, _, data = results
    pkg = tmp_path / "pkg"
    _pack(results, pkg)
    (pkg / "manifest.json").unlink()
    for f in list(pkg.rglob("3dmm-*.npy")) + list(pkg.rglob("rows.csv")) + list(pkg.rglob("predictions.npy")):
        f.unlink()
    speakers = [r.speaker for r in data.rows]
    assert len(check_package(pkg, speakers).problems) == 2 * 4 * (10 - ALPHA)  # the challenge's 10 per clip
    assert check_package(pkg, speakers, n_predictions=ALPHA).problems == []
    (pkg / "offline" / "test" / data.rows[3].speaker / "result-0.npy").unlink()
    assert check_package(pkg, speakers, n_predictions=ALPHA).problems == [
        f"{pkg}/offline/test/{data.rows[3].speaker}/result-0.npy: missing"]


def test_shards_must_tile_the_split(results, tmp_path):
    res, _, _ = results
    (res / "predictions" / "test" / "ReactDiff_online" / "seed0" / "r00002-00004.json").unlink()
    with pytest.raises(SubmissionError, match="r00002-00004.npy: prediction shard missing or incomplete"):
        _pack(results, tmp_path / "pkg")


def test_video_clip_choice():
    speakers = ["A/s/p/1", DEFAULT_VIDEO_CLIPS[3], "A/s/p/2", DEFAULT_VIDEO_CLIPS[0], "A/s/p/3"]
    assert video_clips(None, speakers) == [DEFAULT_VIDEO_CLIPS[0], DEFAULT_VIDEO_CLIPS[3]]
    assert video_clips(None, ["a/b/c/1", "a/b/c/2", "a/b/c/3", "a/b/c/4", "a/b/c/5"]) == ["a/b/c/1", "a/b/c/2", "a/b/c/3", "a/b/c/4"]
    with pytest.raises(SubmissionError, match="x/y/z/9 is not a speaker clip"):
        video_clips(["x/y/z/9"], speakers)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (make run installs it)")
def test_videos_play_with_audio_and_archive_is_reused(results, tmp_path):
    _, _, data = results
    out = tmp_path / "pkg"
    clip = data.rows[1].speaker
    man = _pack(results, out, videos=[clip], archive="zip")
    video = out / "offline" / "videos" / "test" / f"{clip}.mp4"
    assert f"offline/videos/test/{clip}.mp4" in man["files"]
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                            "stream=codec_type,nb_read_frames,r_frame_rate,width,height", "-of", "json", str(video)],
                           capture_output=True, text=True, check=True)
    streams = {s["codec_type"]: s for s in json.loads(probe.stdout)["streams"]}
    assert streams["video"]["nb_read_frames"] == str(FRAMES) and streams["video"]["r_frame_rate"] == "25/1"
    assert (streams["video"]["width"], streams["video"]["height"]) == (4 * 256, 256)  # speaker + 3 reactions
    assert "audio" in streams
    zpath = out.with_name("pkg.zip")
    with zipfile.ZipFile(zpath) as z:
        assert json.loads(z.read("pkg/manifest.json"))["files"] == man["files"]
    t_zip, t_video = zpath.stat().st_mtime_ns, video.stat().st_mtime_ns
    _pack(results, out, videos=[clip], archive="zip")  # unchanged: neither re-rendered nor re-archived
    assert (zpath.stat().st_mtime_ns, video.stat().st_mtime_ns) == (t_zip, t_video)
    a = zpath.read_bytes()
    zpath.unlink()
    write_archive(out, "zip")
    assert zpath.read_bytes() == a  # deterministic archive bytes


@pytest.mark.slow
@pytest.mark.xdist_group("workflow")
def test_snakemake_submission_round_trips_to_the_report(tiny_run, tmp_path):
    """`snakemake submission` packs ReactDiff (and a listed baseline) offline and online; read back and evaluated
    with --no-binarize values it scores what the report scores; a rerun has nothing to do."""
    import sys

    import yaml
    from workflow_helpers import TINY, snakemake

    work = tmp_path / "work"
    shutil.copytree(tiny_run, work, symlinks=True)
    has_ffmpeg = shutil.which("ffmpeg") is not None  # without it (not installable here) the package has no videos
    cfg = dict(TINY, submission={"methods": ["ReactDiff", "B_MeanSeq"], "binarize": False, "archive": "tar.gz",
                                 **({} if has_ffmpeg else {"videos": []})})
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    r = snakemake(work, "--cores", "2", "submission")
    assert r.returncode == 0, r.stderr[-3000:]
    res = work / "results"
    for method in ("ReactDiff", "B_MeanSeq"):
        pkg = res / "submission" / method
        man = json.loads((pkg / "manifest.json").read_text())
        assert sorted(man["variants"]) == ["offline", "online"] and man["split"] == "test"
        assert (res / "submission" / f"{method}.tar.gz").stat().st_size > 0
        assert len(list(pkg.glob("*/videos/test/**/*.mp4"))) == (2 * 4 if has_ffmpeg else 0)  # the first 4 rows
        out = tmp_path / f"{method}_check.json"
        chk = subprocess.run([sys.executable, "-m", "mafrg", "check-submission", str(pkg), "--data",
                              str(res / "data" / "test.npz"), "--neighbours", str(res / "neighbours" / "test.npy"),
                              "--out", str(out)], capture_output=True, text=True)
        assert chk.returncode == 0, chk.stderr[-2000:]
        scores = json.loads(out.read_text())["metrics"]
        for vdir, var in man["variants"].items():
            report = json.loads((res / "metrics" / "test" / var["label"] / "seed0.json").read_text())
            for k, v in scores[vdir].items():
                assert v == pytest.approx(report[k], rel=1e-6, abs=1e-6), (method, vdir, k)
    r = snakemake(work, "-n", "--cores", "1", "submission")
    assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr


def test_submission_config_errors_only_stop_the_submission_target(tmp_path):
    """A submission section that does not fit the config (a split that is not evaluated, a method that is not
    enabled) leaves the main workflow runnable and makes `snakemake submission` fail with a message naming the key."""
    import yaml
    from workflow_helpers import TINY, snakemake

    for sub, msg in (({"split": "test"}, "submission.split 'test' is not an evaluated split"),
                     ({"methods": ["B_Mime"]}, "submission.methods: B_Mime is not an enabled method")):
        cfg = dict(TINY, dataset=dict(TINY["dataset"], splits=["val"]) if "split" in sub else TINY["dataset"],
                   submission=sub)
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
        assert snakemake(tmp_path, "-n", "--cores", "1").returncode == 0
        r = snakemake(tmp_path, "-n", "--cores", "1", "submission")
        assert r.returncode != 0 and msg in r.stdout + r.stderr, (r.stdout + r.stderr)[-2000:]


# ------------------------------------------------------------------ the checker reads nothing outside the package
def test_check_never_follows_a_link_out_of_the_package(results, tmp_path):
    _, _, data = results
    pkg = tmp_path / "pkg"
    _pack(results, pkg)
    s0, s1 = data.rows[0].speaker, data.rows[1].speaker
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "result-0.npy"
    np.save(secret, np.zeros((FRAMES, 25), np.float32))
    # a result file that is a link to a file outside the package
    f = pkg / "offline" / "test" / s0 / "result-0.npy"
    f.unlink()
    f.symlink_to(secret)
    # a clip folder that is a link to a folder outside the package
    c = pkg / "online" / "test" / s1
    shutil.copytree(c, outside / "clip")
    shutil.rmtree(c)
    c.symlink_to(outside / "clip", target_is_directory=True)
    problems = _problems(pkg, data)
    assert any(p.startswith(f"{f}: a link to {secret}, outside the package") for p in problems), problems
    assert any(p.startswith(f"{c}: a link to {outside / 'clip'}, outside the package") for p in problems), problems
    assert not any("sha256 differs" in p or "unreadable" in p for p in problems if "outside" in p or str(f) in p)


def test_check_refuses_manifest_paths_that_leave_the_package(results, tmp_path):
    from mafrg.provenance import file_sha256

    pkg = tmp_path / "pkg"
    _pack(results, pkg)
    (tmp_path / "x").write_text("outside\n")
    man = json.loads((pkg / "manifest.json").read_text())
    man["files"]["../x"] = file_sha256(tmp_path / "x")  # the hash matches: it must still be refused
    man["files"]["/etc/hostname"] = "0" * 64
    (pkg / "manifest.json").write_text(json.dumps(man))
    problems = check_package(pkg).problems
    assert "manifest.json: path '../x' leaves the package (refused, nothing hashed)" in problems
    assert "manifest.json: path '/etc/hostname' leaves the package (refused, nothing hashed)" in problems
    assert not any("sha256 differs" in p for p in problems)


def test_an_empty_package_is_an_error(tmp_path):
    (tmp_path / "pkg" / "offline" / "test").mkdir(parents=True)
    assert any("holds no rows" in p for p in check_package(tmp_path / "pkg").problems)


def test_a_failed_submit_leaves_no_skeleton(results, tmp_path):
    res, _, _ = results
    existing = tmp_path / "old_pkg"
    _pack(results, existing)
    # the offline variant is written, then the online one fails on a missing shard
    (res / "predictions" / "test" / "ReactDiff_online" / "seed0" / "r00002-00004.json").unlink()
    out = tmp_path / "new_pkg"
    with pytest.raises(SubmissionError, match="prediction shard missing"):
        _pack(results, out)
    assert not out.exists()
    with pytest.raises(SubmissionError, match="prediction shard missing"):
        _pack(results, existing)
    assert (existing / "manifest.json").is_file()  # an existing package is kept
