"""ReactDiff: both presets build and train a step, latent normalisation is exact, sampling is deterministic by
seed, training resumes after a kill, and checkpoints are read safely. (Shapes, sharding and causality of its
generation are checked by the method contract test.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from method_helpers import TINY_BLOCKS, build_results, copy_results
from mafrg import checkpoint
from mafrg.methods.reactdiff.config import reactdiff_config
from mafrg.methods.reactdiff.diffusion import LatentDiffusion, LatentNorm
from mafrg.methods.reactdiff.mmt import MMT, STREAM_DIMS, mmt_loss, windowed
from mafrg.methods.reactdiff.stages import react

TINY = TINY_BLOCKS["ReactDiff"]
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
    lo, hi = x.min(0).values, x.max(0).values
    torch.testing.assert_close(y, 2 * (x - lo) / (hi - lo) - 1)


def test_generation_is_deterministic_by_seed_and_diverse():
    cfg = reactdiff_config(TINY)
    torch.manual_seed(0)
    mmt, diff = MMT(cfg.mmt, SMALL_DIMS).eval(), LatentDiffusion(cfg.mmt, cfg.ddim).eval()
    feats = _feats(30, SMALL_DIMS)
    a, _ = react(mmt, diff, feats, 30, 4, False, 4, 0.0, seed=1)
    b, _ = react(mmt, diff, feats, 30, 4, False, 4, 0.0, seed=1)
    c, _ = react(mmt, diff, feats, 30, 4, False, 4, 0.0, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.abs(a[0] - a[1]).mean() > 0  # fresh noise per reaction: the 10 reactions differ (FRDiv > 0)


@pytest.fixture(scope="module")
def results(tiny_dataset, tmp_path_factory):
    return build_results(tiny_dataset, tmp_path_factory.mktemp("rd") / "results")


def _train_cmd(paths, stage: str, block: dict, seed: int = 0):
    return [sys.executable, "-m", "mafrg", "train", "--method", "ReactDiff", "--stage", stage, "--seed", str(seed),
            "--results", paths.results, "--root", paths.root, "--block", json.dumps(block), "--threads", "1"]


@pytest.mark.slow
def test_training_resumes_after_being_killed(results, tmp_path):
    """Kill a run after its first epoch checkpoint; rerunning finishes it with the weights of an unbroken run."""
    import os

    fresh = copy_results(results, tmp_path / "whole")  # before anything is trained in `results`
    block = dict(TINY, train_mmt={"epochs": 8, "batch_size": 2})
    state = f"{results.train_state('ReactDiff', 3, 'mmt')}/last.pt"
    complete = state + ".sha256"  # a state counts once its checksum sidecar is written
    proc = subprocess.Popen(_train_cmd(results, "mmt", block, seed=3), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not os.path.exists(complete) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = checkpoint.load(state)[1]["epoch"] + 1
    assert 1 <= done < 8, f"run was not interrupted mid-way ({done} epochs done)"
    assert not os.path.exists(results.model("ReactDiff", 3, "mmt"))
    res = subprocess.run(_train_cmd(results, "mmt", block, seed=3), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"resuming from {state}: epoch {done} of 8 done" in res.stderr
    killed = checkpoint.load(results.model("ReactDiff", 3, "mmt"))
    res = subprocess.run(_train_cmd(fresh, "mmt", block, seed=3), capture_output=True, text=True)  # unbroken
    assert res.returncode == 0, res.stderr[-2000:]
    whole = checkpoint.load(fresh.model("ReactDiff", 3, "mmt"))
    assert [h["train_loss"] for h in killed[1]["history"]] == [h["train_loss"] for h in whole[1]["history"]]
    for k in whole[0]["model"]:
        assert torch.equal(killed[0]["model"][k], whole[0]["model"][k]), k
