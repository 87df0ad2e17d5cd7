"""The feature stage under Snakemake: per-session jobs, incremental additions, per-stream reruns, --keep-going."""

from __future__ import annotations

import shutil

import pytest
import yaml

from mafrg.config import SynthConfig
from mafrg.features import load_clip
from workflow_helpers import planned_jobs, snakemake


def _config(root):
    return {
        "results": "results",
        "dataset": {"root": str(root), "generate": False, "clip_length": 60, "splits": ["val"]},
        "synth": {"sessions": {"train": 1, "val": 1, "test": 1}},
        "features": {"threads": 1, "au": {"dim": 392}},
        "methods": {"GT": {}, "ReactDiff": {
            "preset": "demo", "threads": 1, "variants": ["offline"],
            "mmt": {"window": 10, "hidden_dim": 16, "heads": 2, "latent_dim": 8, "map_hidden": 16, "intra_depth": 1,
                    "inter_layers": 1, "decoder_layers": 1, "decoder_heads": 2, "decoder_ff": 16},
            "ddim": {"cond_dim": 16, "cond_groups": 4, "model_channels": 8, "channel_mult": [1, 2], "num_res_blocks": 1,
                     "attention_levels": [1], "sample_steps": 2},
            "train_mmt": {"epochs": 1}, "train_ddim": {"epochs": 1}}},
        "neighbours": {}, "evaluation": {},
    }


def _add_session(root, src_session, new_session):
    """Copy a val session under a new name and append its pairs to val.csv (as a new recording would)."""
    for mod in ("Video_files", "Audio_files", "Emotion", "3D_FV_files"):
        shutil.copytree(root / "val" / mod / "Synth" / src_session, root / "val" / mod / "Synth" / new_session)
    lines = (root / "val.csv").read_text().splitlines()
    extra = [l.replace(src_session, new_session) for l in lines[1:] if src_session in l]
    n = len(lines) - 1
    lines += [f"{n + i}," + l.split(",", 1)[1] for i, l in enumerate(extra)]
    (root / "val.csv").write_text("\n".join(lines) + "\n")


def _feature_file_log(work, path):
    """(<site>/<session>/<person>/<clip>, the log of the session job that wrote the val feature file)."""
    rel = path.relative_to(work / "results/features/val").with_suffix("")
    return rel, (work / "results/logs/features/val" / rel.parent.parent).with_suffix(".log").read_text()


@pytest.mark.slow
def test_incremental_feature_extraction(tmp_path):
    from mafrg.synth.generator import generate

    root = tmp_path / "data"
    generate(SynthConfig(seed=2, sessions={"train": 1, "val": 1, "test": 1}, clips_per_session=1, frames=61,
                         image_size=64, audio="procedural"), root)
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(_config(root)))
    target = "results/features/val.manifest.json"
    # the val features and ReactDiff's training (generation and evaluation play no part here)
    res = snakemake(work, target, "results/models/ReactDiff/seed0/ddim.pt", "--cores", "2")
    assert res.returncode == 0, res.stderr[-3000:]
    files = sorted((work / "results/features/val").rglob("*.parquet"))
    assert len(files) == 2

    # A new val session: only its two clips are extracted, and nothing is retrained (training depends on the
    # frozen training manifest only). (A dry run lists every val extraction: they wait for the re-validation,
    # a checkpoint, after which only the new session's record is missing. So the real run is what is checked.)
    _add_session(root, "session001", "session009")
    jobs = planned_jobs((r := snakemake(work, "-n", "--cores", "1")).stdout + r.stderr)
    assert "train" not in jobs, jobs
    old = {p: p.stat().st_mtime_ns for p in files}
    # One of the new videos is truncated: the split's validation fails naming it, before any extraction of the
    # new session starts (extraction waits for validation), and the existing feature files are left alone.
    bad = root / "val/Video_files/Synth/session009/P1/1.mp4"
    good_copy = bad.read_bytes()
    bad.write_bytes(good_copy[: len(good_copy) // 4])
    res = snakemake(work, target, "--cores", "2", "--keep-going")
    assert res.returncode != 0
    assert {p: p.stat().st_mtime_ns for p in files} == old  # the existing feature files were not touched
    assert not (work / "results/features/val/Synth/session009").exists()
    log = (work / "results/logs/validate_val.log").read_text()
    assert f"{bad}: video cannot be decoded" in log and "dataset validation failed: 1 problem(s)" in log
    bad.write_bytes(good_copy)
    res = snakemake(work, target, "--cores", "2")
    assert res.returncode == 0, res.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in files} == old
    assert (res.stdout + res.stderr).count("rule extract_features:") == 1  # the new session's job only
    au_before = {p: load_clip(p, ["au"], dtype=None)["au"] for p in (work / "results/features/val").rglob("*.parquet")}

    # A different VA network: every session's job reruns, but recomputes VA only.
    cfg = _config(root)
    cfg["features"]["va"] = {"dim": 32}
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    jobs = planned_jobs((r := snakemake(work, target, "-n", "--cores", "1")).stdout + r.stderr)
    assert jobs.get("extract_features") == 2, jobs  # one job per session
    res = snakemake(work, target, "--cores", "2")
    assert res.returncode == 0, res.stderr[-3000:]
    for p, au in au_before.items():
        clip = load_clip(p, ["va", "au"], dtype=None)
        assert clip["va"].shape[1] == 32 and (clip["au"] == au).all()
        rel, log = _feature_file_log(work, p)
        assert f"{rel}: 61 frames; computing ['va']; reusing ['au', 'fe', 'mfcc', 'wav2vec2']" in log, log[-500:]


@pytest.mark.slow
def test_published_weight_formats_run_the_extraction_end_to_end(tmp_path):
    """ELIM's three .t7 files (as a folder), an ME-GraphAU ResNet-50 .pth saved from DataParallel and
    HSEmotion's whole pickled model, at the published sizes (weights by the fixtures' fill rule), through the
    workflow; then a changed FE preprocessing, and then ResMaskNet in place of HSEmotion, recompute that stream
    only."""
    import numpy as np
    import torch

    import extractor_fixtures as fx
    from mafrg import extractors
    from mafrg.features.parquet import read_meta
    from mafrg.features.video import crop_frames, normalise, preprocess
    from mafrg.media.video import iter_frame_batches, plan_grid
    from mafrg.synth.generator import generate

    if not fx.available():
        pytest.skip("../shared/data/extractors is not present")
    root = tmp_path / "data"
    generate(SynthConfig(seed=3, sessions={"train": 1, "val": 1, "test": 1}, clips_per_session=1, frames=31,
                         image_size=64, audio="procedural"), root)
    w = tmp_path / "weights"
    elim = fx.elim_state_dicts()
    for name, part in (("enc2.t7", "encoder"), ("reg2.t7", "regressor"), ("header2.t7", "header")):
        fx.save(elim[part], w / "elim" / name)
    sd = fx.state_dict("megraphau_r50")
    fx.save({"epoch": 20, "state_dict": {f"module.{k}": v for k, v in sd.items()}, "optimizer": {}},
            w / "OpenGprahAU-ResNet50_first_stage.pth")
    fx.save_pickled_timm_model(fx.state_dict("hsemotion_enet_b2_8"), w / "enet_b2_8.pt")
    cfg = _config(root)
    cfg["dataset"]["clip_length"] = 30
    cfg["features"] = {"threads": 1, "va": {"weights": str(w / "elim")},
                       "au": {"weights": str(w / "OpenGprahAU-ResNet50_first_stage.pth"), "batch_size": 8},
                       "fe": {"weights": str(w / "enet_b2_8.pt"), "network": "hsemotion"}}
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    target = "results/features/val.manifest.json"
    res = snakemake(work, target, "--cores", "2")
    assert res.returncode == 0, res.stderr[-3000:]
    files = sorted((work / "results/features/val").rglob("*.parquet"))
    assert len(files) == 2
    meta = read_meta(files[0])["streams"]
    assert meta["va"]["settings"]["format"].startswith("ELIM encoder + regressor + header")
    assert "resnet50 backbone, stage-1 ANFL head (200 keys) left out" in meta["au"]["settings"]["format"]
    assert "whole pickled model (timm.models.efficientnet.EfficientNet)" in meta["fe"]["settings"]["format"]
    assert all(meta[s]["identity"].startswith("sha256:") and not meta[s]["untrained"] for s in ("va", "au", "fe"))
    clip = load_clip(files[0], ["va", "au", "fe"], dtype=None)
    assert clip["va"].shape == (31, 64) and clip["au"].shape == (31, 25088) and clip["fe"].shape == (31, 1408)
    # the stored VA features are the network's features of the decoded, preprocessed frames
    video = read_meta(files[0])["source"]["video"]
    frames = np.concatenate([b for _, b in iter_frame_batches(video, plan_grid(video, 25), 64)])
    with torch.inference_mode():
        direct = extractors.load("va", str(w / "elim")).net(preprocess(frames, 256, 224)).numpy()
    np.testing.assert_allclose(clip["va"], direct, rtol=1e-4, atol=1e-5 * np.abs(direct).max())

    cfg["features"]["fe"]["preprocess"] = "native"  # HSEmotion's own 260 x 260, ImageNet mean/std
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(work, target, "--cores", "2")
    assert res.returncode == 0, res.stderr[-3000:]
    for p in files:
        rel, log = _feature_file_log(work, p)
        assert f"{rel}: 31 frames; computing ['fe']; reusing ['va', 'au', 'mfcc', 'wav2vec2']" in log, log[-500:]
    fe = read_meta(files[0])["streams"]["fe"]["settings"]
    assert (fe["preprocess"], fe["resize"], fe["square"], fe["pool"]) == ("native", 260, True, "max")

    # the ReactDiff paper's network, ResMaskNet, on its own input (224 x 224, BGR, [0, 1]): fe recomputed alone
    fx.save({"net": fx.state_dict("resmasknet")}, w / "Z_resmasking_dropout1_rot30_2019Nov30_13.32", legacy=True)
    cfg["features"]["fe"] = {"weights": str(w / "Z_resmasking_dropout1_rot30_2019Nov30_13.32"), "network": "resmasknet",
                             "preprocess": "native"}
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(work, target, "--cores", "2")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "computing ['fe']; reusing ['va', 'au', 'mfcc', 'wav2vec2']" in _feature_file_log(work, files[0])[1]
    fe = read_meta(files[0])["streams"]["fe"]["settings"]
    assert fe["format"].startswith("ResMaskNet resmasking_dropout1") and fe["channels"] == "bgr"
    got = load_clip(files[0], ["fe"], dtype=None)["fe"]
    x = normalise(crop_frames(frames, 224, 224, square=True), (0.0,) * 3, (1.0,) * 3, "bgr")
    assert torch.allclose(x[:, 0], torch.from_numpy(crop_frames(frames, 224, 224, True)[..., 2].copy()) / 255)  # B
    with torch.inference_mode():
        direct = extractors.load("fe", str(w / "Z_resmasking_dropout1_rot30_2019Nov30_13.32")).net(x).numpy()
    assert got.shape == (31, 512)
    np.testing.assert_allclose(got, direct, rtol=1e-4, atol=1e-5 * np.abs(direct).max())


def test_missing_weights_fail_before_any_job(tmp_path):
    cfg = _config(tmp_path / "data")
    cfg["features"]["fe"] = {"weights": str(tmp_path / "fer.pt")}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(tmp_path, "-n", "--cores", "1")
    assert res.returncode != 0
    err = res.stdout + res.stderr
    assert f"features.fe.weights: {tmp_path / 'fer.pt'} not found (fe stream). Put ResMaskNet's Z_resmasking" in err
