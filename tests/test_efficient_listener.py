"""Efficient Listener: spatial-softmax pooling, frame-aligned causal audio, clip batching equals clip by clip,
the one-step sampler (trailing spacing, x0 prediction), online conditions, the frame cache, resume after a kill,
checkpoint errors, and the published sizes behind the efficiency comparison. (Shapes, sharding and
frame-causality of generation: the method contract test.)"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from method_helpers import TINY_BLOCKS, build_results, copy_results, kill_and_resume, train_all
from mafrg import checkpoint
from mafrg.methods import get
from mafrg.methods.efficient_listener.config import ELConfig, demo, paper
from mafrg.methods.efficient_listener.model import (
    TARGET_DIM, FacialActionDiffusion, SpatialSoftmax, clip_condition, log_mel,
)
from mafrg.methods.efficient_listener.stages import react
from mafrg.methods.settings import resolve

TINY = TINY_BLOCKS["EfficientListener"]


def _tiny() -> ELConfig:
    return resolve(get("EfficientListener"), TINY).config


def test_spatial_softmax_finds_the_peak_and_sees_where_it_is():
    pool = SpatialSoftmax(1, 1)
    with torch.no_grad():
        pool.keypoints.weight.fill_(1.0)
        pool.keypoints.bias.zero_()
    fmap = torch.zeros(1, 1, 5, 7)
    fmap[0, 0, 1, 5] = 50.0  # row 1 of 5, column 5 of 7
    x, y = pool(fmap)[0].tolist()
    assert x == pytest.approx(np.linspace(-1, 1, 7)[5], abs=1e-6) and y == pytest.approx(np.linspace(-1, 1, 5)[1], abs=1e-6)
    moved = torch.roll(fmap, 1, dims=3)  # the same feature one column right: average pooling could not tell
    assert moved.mean() == fmap.mean() and pool(moved)[0, 0] > x + 0.3
    assert pool(torch.zeros(2, 1, 3, 3)).abs().max() < 1e-6  # a flat map: the centre


def test_log_mel_is_frame_aligned_and_causal():
    rng = np.random.default_rng(0)
    wav = torch.from_numpy(rng.normal(0, 0.1, 20 * 640).astype(np.float32))
    mel = log_mel(wav, 20, 25, 16000, 40, 4)
    assert mel.shape == (20, 4, 40) and torch.isfinite(mel).all()
    later = wav.clone()
    later[7 * 640 + 1 :] += 0.5  # change from (inside) frame 7 on
    m2 = log_mel(later, 20, 25, 16000, 40, 4)
    assert torch.equal(m2[:7], mel[:7]) and not torch.equal(m2[7], mel[7])


def test_log_mel_at_30_fps_stays_inside_each_frame_over_20000_frames():
    """At 16 kHz and 30 fps frames own 533 or 534 samples: frame t's windows start at floor(t * 16000 / 30), with
    no drift, and never read a sample of frame t + 1."""
    frames = 20_000
    n = frames * 16000 // 30
    wav = torch.from_numpy(np.random.default_rng(1).normal(0, 0.1, n).astype(np.float32))
    mel = log_mel(wav, frames, 30, 16000, 16, 2)
    assert mel.shape == (frames, 2, 16)
    for t in (1, 2, 3, 12_345, frames - 1):
        b = t * 16000 // 30  # frame t's first sample
        later = wav.clone()
        later[b:] += 0.5
        part = log_mel(later[: n], frames, 30, 16000, 16, 2)
        assert torch.equal(part[:t], mel[:t]) and not torch.equal(part[t], mel[t]), t
        # frame t alone, from its own first sample, gives frame t's windows (no drift)
        alone = log_mel(wav[b : b + 534], 1, 30, 16000, 16, 2)
        torch.testing.assert_close(alone[0], mel[t])


def _model(seed=0):
    torch.manual_seed(seed)
    return FacialActionDiffusion(_tiny()).eval()


def test_clip_batching_equals_clip_by_clip():
    """All clips of a sequence (and all reactions) in one batch give what one clip at a time gives: GroupNorm
    and the per-frame perception never mix samples of a batch."""
    m = _model()
    cfg = m.cfg
    s = cfg.perception.image_size
    g = torch.Generator().manual_seed(1)
    frames = torch.randint(0, 256, (32, s, s, 3), generator=g, dtype=torch.uint8)
    mel = torch.randn(32, cfg.perception.mel_windows, cfg.perception.n_mels, generator=g)
    with torch.no_grad():
        whole = m.perception(frames, mel)
        one = torch.cat([m.perception(frames[i : i + 1], mel[i : i + 1]) for i in range(32)])
        torch.testing.assert_close(whole, one, rtol=1e-5, atol=1e-5)
        cond = clip_condition(whole[None], 8, online=False)[0]  # 4 clips
        noise = torch.randn(4, 8, TARGET_DIM, generator=g)
        batched = m.sample(cond, noise, 1)
        single = torch.cat([m.sample(cond[c : c + 1], noise[c : c + 1], 1) for c in range(4)])
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-5)


def test_one_step_sampler_evaluates_pure_noise_and_returns_x0():
    m = _model()
    sched = m.scheduler()
    sched.set_timesteps(1)
    assert sched.timesteps.tolist() == [m.cfg.fad.train_timesteps - 1]  # trailing: t = 99, pure noise
    from diffusers import DDPMScheduler

    leading = DDPMScheduler(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2")
    leading.set_timesteps(1)
    assert leading.timesteps.tolist() == [0]  # the trap this avoids: diffusers' default evaluates t = 0
    cond = torch.randn(3, m.cond_dim)
    noise = torch.randn(3, 8, TARGET_DIM)
    with torch.no_grad():
        x0 = m.elnet(noise, torch.full((3,), 99), cond).clamp(-1, 1)
        torch.testing.assert_close(m.sample(cond, noise, 1), m.denormalise(x0), rtol=1e-6, atol=1e-6)
    assert float(sched.alphas_cumprod[99]) < 1e-4  # why epsilon is ill-conditioned with one step


def test_online_conditions_on_earlier_speaker_frames_only():
    pf = torch.randn(1, 32, 5)
    for t in (3, 8, 13, 24):
        moved = pf.clone()
        moved[:, t:] += 1.0
        a, b = clip_condition(pf, 8, online=True)[0], clip_condition(moved, 8, online=True)[0]
        # listener clip c reads speaker frames [8(c-1), 8c): unchanged while 8c <= t
        for c in range(4):
            assert torch.equal(a[c], b[c]) == (8 * c <= t), (t, c)
        off = clip_condition(moved, 8, online=False)[0]
        assert not torch.equal(off[t // 8], clip_condition(pf, 8, online=False)[0][t // 8])  # offline: own clip
    flags = clip_condition(pf, 8, online=True)[0][:, -2:]
    assert flags[0].tolist() == [0.0, 0.0] and flags[1:].eq(torch.tensor([1.0, 0.0])).all()


def test_react_output_ranges_and_noise_independence():
    m = _model()
    m.set_target_range(torch.zeros(TARGET_DIM), torch.ones(TARGET_DIM) * 2)
    s = m.cfg.perception.image_size
    frames = np.random.default_rng(0).integers(0, 256, (21, s, s, 3), dtype=np.uint8)
    audio = np.random.default_rng(1).normal(0, 0.1, 21 * 640).astype(np.float32)
    emo, tdmm = react(m, 21, frames, audio, 3, online=True, steps=1, seed=5)
    assert emo.shape == (3, 21, 25) and tdmm.shape == (3, 21, 58)
    assert emo.min() >= 0 and emo.max() <= 2  # inside the training range: x0 is clipped
    again, _ = react(m, 21, frames, audio, 3, online=True, steps=1, seed=5)
    assert np.array_equal(emo, again) and not np.array_equal(emo[0], emo[1])  # alpha reactions differ


def test_presets():
    p, d = paper(), demo()
    assert (p.perception.image_size, p.perception.arch, p.elnet.clip, p.fad.train_timesteps, p.fad.sample_steps,
            p.fad.beta_schedule, p.train.epochs) == (96, "resnet18", 8, 100, 1, "squaredcos_cap_v2", 20)
    assert FacialActionDiffusion(p).perception.backbone.out_channels == 512  # the published ResNet-18
    names = set(FacialActionDiffusion(d).perception.backbone.state_dict())
    assert {"conv1.weight", "bn1.weight", "layer4.1.conv2.weight", "layer2.0.downsample.0.weight"} <= names
    with pytest.raises(Exception, match="elnet.clip must be divisible"):
        resolve(get("EfficientListener"), {"preset": "demo", "elnet": {"clip": 6, "down_dims": [32, 64, 128]}})
    with pytest.raises(Exception, match="fad.prediction_type must be one of"):
        resolve(get("EfficientListener"), {"fad": {"prediction_type": "v"}})


def test_paper_sizes_cost_the_published_flops():
    """The two sides of ``benchmarks/efficiency_bench.py`` at their published sizes, counted on the meta device
    (shapes only, no arithmetic): Efficient Listener's perception is the published ResNet-18 (1.814 GMACs at
    224^2, torchvision's figure) at 96^2 -- every feature map scales by exactly (96/224)^2 -- and ReactDiff's AU
    extractor is the published Swin-B (15.4 GMACs at 224^2, Liu et al. 2021, Table 1). Per frame, ReactDiff's
    three face extractors cost about 50x Efficient Listener's whole perception: the reason (docs/methods/efficient-listener.md) the 100x
    target is not met at the paper's sizes. Counted with the benchmark's own counter, ``mafrg.flops``."""
    from mafrg import flops as timing
    from mafrg.extractors import published

    with torch.device("meta"), torch.no_grad():
        p = FacialActionDiffusion(paper()).perception
        frame = torch.zeros(1, 96, 96, 3, dtype=torch.uint8), torch.zeros(1, p.cfg.mel_windows, p.cfg.n_mels)
        perception = timing.flops(lambda: p(*frame)) / 1e9
        face = {s: timing.flops(lambda n=published(s): n(torch.zeros(1, 3, 224, 224))) / 1e9
                for s in ("va", "au", "fe")}
    assert perception == pytest.approx(2 * 1.814 * (96 / 224) ** 2, rel=0.005)  # 0.667 GFLOPs a frame
    assert face["au"] == pytest.approx(2 * 15.4, rel=0.01)
    assert 45 < sum(face.values()) / perception < 55


@pytest.fixture(scope="module")
def results(tiny_dataset, tmp_path_factory):
    return build_results(tiny_dataset, tmp_path_factory.mktemp("el") / "results")


@pytest.mark.slow
def test_frame_sources_agree_and_training_resumes_after_a_kill(results, tmp_path):
    from mafrg.data.assemble import SplitArrays
    from mafrg.data.layouts.react2024 import clip_files
    from mafrg.methods.efficient_listener import data as eld

    fresh = copy_results(results, tmp_path / "whole")
    cfg = _tiny()
    train = SplitArrays.load(results.split_data("train"))
    t = train.speaker_emotion.shape[1]
    rel = train.rows[0].speaker
    src = eld.Sources(lambda r: clip_files(results.root, "train", r), tmp_path / "cache", lambda r: t, 25, cfg)
    idx = np.array([0, 5, 6, t - 1])
    vid = eld.Sources(src.media, tmp_path / "none", lambda r: t, 25, dataclasses.replace(cfg, frame_source="video"))
    assert np.array_equal(src.read_frames(rel, idx), vid.read_frames(rel, idx))
    assert not (tmp_path / "none").exists()  # the video source writes no frame cache

    block = dict(TINY, train={"epochs": 6, "batch_size": 8})
    log, done, killed, whole = kill_and_resume(results, fresh, "EfficientListener", "fad", block, epochs=6)
    assert [h["train_loss"] for h in killed[1]["history"]] == [h["train_loss"] for h in whole[1]["history"]]
    for k in whole[0]["model"]:
        assert torch.equal(killed[0]["model"][k], whole[0]["model"][k]), k
    meta = whole[1]
    assert meta["data_loading"]["frames"] > 0 and meta["data_loading"]["frames_per_s"] > 0
    assert meta["config"]["fad"]["prediction_type"] == "sample"


@pytest.mark.slow
def test_checkpoint_errors(results, tmp_path):
    from mafrg.methods.efficient_listener.stages import load_model

    train_all(results, "EfficientListener", TINY, seed=0)
    path = results.model("EfficientListener", 0, "fad")
    model, meta = load_model(path)
    assert meta["frames"] > 0
    with pytest.raises(checkpoint.CheckpointError, match="efficient_listener.fad"):
        checkpoint.load(results.model("EfficientListener", 0, "fad"), kind="reactdiff.mmt")
    tensors, meta = checkpoint.load(path)
    meta["config"]["elnet"]["down_dims"] = [16, 48]
    bad = tmp_path / "bad.pt"
    checkpoint.save(bad, "efficient_listener.fad", tensors, meta)
    with pytest.raises(checkpoint.CheckpointError, match="do not fit its own configuration"):
        load_model(bad)


def test_training_clips_of_clips_of_any_length_stay_inside_their_item():
    """Clips of any length: each training clip of l frames is drawn within its own item (a pair's common length),
    long items reached to their end, the draws fixed by (seed, epoch)."""
    from mafrg.methods.efficient_listener import data as eld

    lengths = [8, 30, 400]
    its = [eld.Item(f"c{i}", np.zeros((t, 25)), np.zeros((t, 58))) for i, t in enumerate(lengths)]
    cfg = _tiny()
    a = eld.ClipSamples(its, None, cfg, seed=1, epoch=0, per_item=300)
    per_item = np.repeat(lengths, 300)
    assert (a.start >= 0).all() and (a.start + cfg.elnet.clip <= per_item).all()
    assert (a.start[per_item == 8] == 0).all() and a.start[per_item == 400].max() > 380
    np.testing.assert_array_equal(a.start, eld.ClipSamples(its, None, cfg, seed=1, epoch=0, per_item=300).start)
    assert not np.array_equal(a.start, eld.ClipSamples(its, None, cfg, seed=1, epoch=1, per_item=300).start)
