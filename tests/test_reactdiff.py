"""ReactDiff: both configurations build and train a step, normalisation is exact, online mode is causal,
sampling is deterministic by seed, training resumes after a kill, and a tiny end-to-end run works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from mafrg.reactdiff.config import reactdiff_config
from mafrg.reactdiff.diffusion import LatentDiffusion, LatentNorm
from mafrg.reactdiff.mmt import MMT, STREAM_DIMS, mmt_loss, windowed
from mafrg.reactdiff.stages import react

TINY = {"preset": "demo", "mmt": {"window": 10, "d_model": 16, "d_fused": 16, "latent_dim": 8, "latent_frame_dim": 2,
                                   "heads": 2, "decoder_layers": 1, "decoder_dim": 16},
        "ddim": {"unet_channels": [8, 16], "cond_dim": 16, "time_dim": 16, "sample_steps": 4},
        "train_mmt": {"epochs": 2, "batch_size": 2}, "train_ddim": {"epochs": 2, "batch_size": 4}}
SMALL_DIMS = {"au": 392, "fe": 1408, "va": 64, "mfcc": 26, "wav2vec2": 1536}


def _feats(t: int, dims=STREAM_DIMS, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {s: torch.randn(1, t, d, generator=g) for s, d in dims.items()}


@pytest.mark.parametrize("preset", ["demo", "paper"])
def test_configs_build_and_train_one_step(preset):
    cfg = reactdiff_config({"preset": preset})
    mmt, diff = MMT(cfg.mmt), LatentDiffusion(cfg.mmt, cfg.ddim)
    t = 2 * cfg.mmt.window
    feats = {s: x.expand(2, -1, -1) for s, x in _feats(t).items()}
    w, n = windowed(feats, cfg.mmt.window)
    (p3, pe), z = mmt(w, causal=True)
    assert p3.shape == (2, t, 58) and pe.shape == (2, t, 25) and z.shape == (2, n, cfg.mmt.latent_dim)
    loss = mmt_loss(p3, pe, torch.zeros(2, t, 58), torch.zeros(2, t, 25))
    loss.backward()
    assert all(p.grad is not None for p in mmt.encoder.parameters() if p.requires_grad and p.dim() > 1)
    d_loss = diff.loss(z.detach(), z.detach(), online=False, sched=diff.scheduler())
    d_loss.backward()
    assert torch.isfinite(d_loss) and diff.unet.inp.weight.grad is not None
    assert (pe[..., :15] >= 0).all() and (pe[..., :15] <= 1).all() and (pe[..., 15:17].abs() <= 1).all()
    torch.testing.assert_close(pe[..., 17:].sum(-1), torch.ones(2, t))


def test_latent_normalisation_round_trip():
    norm = LatentNorm(6)
    x = torch.randn(50, 6) * torch.tensor([1, 10, 0.1, 3, 5, 2]) + 4
    norm.fit(x)
    y = norm(x)
    assert torch.isclose(y.min(0).values, torch.full((6,), -1.0)).all()
    assert torch.isclose(y.max(0).values, torch.full((6,), 1.0)).all()
    torch.testing.assert_close(norm.inverse(y), x, rtol=1e-5, atol=1e-5)
    # the intended formula, not the authors' precedence slip 2*(x-min)/max-min-1
    lo, hi = x.min(0).values, x.max(0).values
    torch.testing.assert_close(y, 2 * (x - lo) / (hi - lo) - 1)


@pytest.fixture(scope="module")
def tiny_models():
    cfg = reactdiff_config(TINY)
    torch.manual_seed(0)
    return MMT(cfg.mmt, SMALL_DIMS).eval(), LatentDiffusion(cfg.mmt, cfg.ddim).eval()


def test_online_mode_never_reads_future_speaker_frames(tiny_models):
    mmt, diff = tiny_models
    t = 45  # 5 windows of 10, the last one partial
    feats = _feats(t, SMALL_DIMS)
    cut = 20  # perturb from frame 20 on: windows 0 and 1 (frames 0..19) must not change
    future = {s: x.clone() for s, x in feats.items()}
    for x in future.values():
        x[:, cut:] += 5 * torch.randn_like(x[:, cut:])
    for online in (True, False):
        a_emo, a_3d = react(mmt, diff, feats, t, 3, online, 4, 0.5, seed=7)
        b_emo, b_3d = react(mmt, diff, future, t, 3, online, 4, 0.5, seed=7)
        assert a_emo.shape == (3, t, 25) and a_3d.shape == (3, t, 58)
        if online:
            np.testing.assert_array_equal(a_emo[:, :cut], b_emo[:, :cut])
            np.testing.assert_array_equal(a_3d[:, :cut], b_3d[:, :cut])
            assert not np.array_equal(a_emo[:, cut:], b_emo[:, cut:])
        else:  # offline sees the whole clip: early frames do change
            assert not np.array_equal(a_emo[:, :cut], b_emo[:, :cut])


def test_generation_is_deterministic_by_seed_and_diverse(tiny_models):
    mmt, diff = tiny_models
    feats = _feats(30, SMALL_DIMS)
    a, _ = react(mmt, diff, feats, 30, 4, False, 4, 0.0, seed=1)
    b, _ = react(mmt, diff, feats, 30, 4, False, 4, 0.0, seed=1)
    c, _ = react(mmt, diff, feats, 30, 4, False, 4, 0.0, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.abs(a[0] - a[1]).mean() > 0  # fresh noise per reaction: the 10 reactions differ (FRDiv > 0)


# ---------------------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def train_inputs(tiny_dataset, tmp_path_factory):
    """Features of the tiny dataset's train and val splits, assembled splits and manifests."""
    from mafrg.config import DatasetConfig
    from mafrg.data.assemble import assemble_split
    from mafrg.data.layout import referenced_clips
    from mafrg.features.config import FeatureConfig
    from mafrg.features.extract import extract_shard
    from mafrg.features.manifest import build_manifest

    out = tmp_path_factory.mktemp("rd")
    dcfg = DatasetConfig(clip_length=60)
    fcfg = FeatureConfig.from_dict({"threads": 1, "au": {"dim": 392}})
    for split in ("train", "val"):
        shards = []
        for rel in referenced_clips(tiny_dataset, split):
            p = out / "features" / split / f"{rel}.parquet"
            extract_shard(tiny_dataset, split, rel, p, fcfg, dcfg, progress=False)
            shards.append(str(p))
        build_manifest(split, shards, out / "features" / f"{split}.manifest.json")
        assemble_split(tiny_dataset, split, dcfg, mirrored=split != "train").save(out / f"{split}.npz")
    return out


def _train_cmd(stage: str, d, settings: dict, out_name: str, extra=()):
    import json

    return [sys.executable, "-m", "mafrg", f"train-{stage}", "--train-data", str(d / "train.npz"),
            "--features-root", str(d / "features"), "--manifest", str(d / "features/train.manifest.json"),
            "--settings", json.dumps(settings), "--out", str(d / out_name), "--losses",
            str(d / f"{out_name}.csv"), "--threads", "1", *extra]


@pytest.mark.slow
def test_tiny_end_to_end_training_and_generation(train_inputs):
    from mafrg.reactdiff.stages import generate, train_ddim, train_mmt

    d = train_inputs
    mmt = train_mmt(str(d / "train.npz"), str(d / "features"), str(d / "features/train.manifest.json"), TINY,
                    str(d / "e2e" / "mmt.pt"), str(d / "e2e" / "mmt.csv"), progress=False)
    assert len(mmt["history"]) == 2 and np.isfinite(mmt["history"][-1]["train_loss"])
    assert mmt["data_manifest_digest"] and mmt["code_version"] and "config" in mmt
    ddim = train_ddim(str(d / "train.npz"), str(d / "features"), str(d / "features/train.manifest.json"),
                      str(d / "e2e" / "mmt.pt"), TINY, str(d / "e2e" / "ddim.pt"), str(d / "e2e" / "ddim.csv"),
                      progress=False)
    assert len(ddim["latent_stats"]["min"]) == 8 and ddim["mmt_sha256"]
    for mode in ("offline", "online"):
        out = d / "e2e" / f"ReactDiff_{mode}.npy"
        generate(str(d / "val.npz"), str(d / "features"), str(d / "e2e" / "mmt.pt"), str(d / "e2e" / "ddim.pt"), mode,
                 str(out), progress=False)
        pred = np.load(out)
        assert pred.shape == (4, 10, 60, 25) and np.isfinite(pred).all()
        assert np.load(str(out).replace(".npy", "_3dmm.npy")).shape == (4, 10, 60, 58)
        # A row shard (as the workflow generates) holds exactly those rows of the whole-split output.
        part = d / "e2e" / f"ReactDiff_{mode}_r1-3.npy"
        generate(str(d / "val.npz"), str(d / "features"), str(d / "e2e" / "mmt.pt"), str(d / "e2e" / "ddim.pt"), mode,
                 str(part), progress=False, rows=(1, 3))
        np.testing.assert_array_equal(np.load(part), pred[1:3])
    assert (d / "e2e" / "mmt.csv").read_text().startswith("epoch,train_loss,val_loss")


@pytest.mark.slow
def test_training_resumes_after_being_killed(train_inputs):
    """Kill a run after its first epoch checkpoint; rerunning finishes it with the weights of an unbroken run."""
    d = train_inputs
    settings = dict(TINY, train_mmt={"epochs": 8, "batch_size": 2})
    state = d / "killed" / "mmt_state" / "last.pt"
    proc = subprocess.Popen(_train_cmd("mmt", d, settings, "killed/mmt.pt"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not state.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = torch.load(state, weights_only=False)["epoch"] + 1
    assert 1 <= done < 8, f"run was not interrupted mid-way ({done} epochs done)"
    assert not (d / "killed" / "mmt.pt").exists()
    res = subprocess.run(_train_cmd("mmt", d, settings, "killed/mmt.pt"), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"resuming from {state}: epoch {done} of 8 done" in res.stderr
    res = subprocess.run(_train_cmd("mmt", d, settings, "whole/mmt.pt"), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    a = torch.load(d / "killed" / "mmt.pt", weights_only=False)
    b = torch.load(d / "whole" / "mmt.pt", weights_only=False)
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
    for k in b["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
