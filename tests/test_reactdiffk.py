"""ReactDiff-K: EDM preconditioning and noise density, the two priors on constructed cases, the pair lists,
classifier-free guidance (scale 0 = unconditional, 1 = conditional), frame-causality of the network, the
momentum blend, the smoothness measures, resume after a kill and checkpoint errors. (Shapes, sharding and
frame-causality of whole generation: the method contract test.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from method_helpers import TINY_BLOCKS, build_results, copy_results, kill_and_resume, train_all
from mafrg import checkpoint
from mafrg.config import ConfigError
from mafrg.methods import get
from mafrg.methods.reactdiffk import priors
from mafrg.methods.reactdiffk.config import ReactDiffKConfig
from mafrg.methods.reactdiffk.edm import draw_sigmas, guided_raw, sample_window, scheduler, training_loss
from mafrg.methods.reactdiffk.model import (
    MODALITIES, OFFLINE, ONLINE, ReactDiffK, WindowCondition, modalities, scalings, token_mask,
)
from mafrg.methods.reactdiffk.stages import momentum_blend
from mafrg.methods.settings import resolve
from mafrg.metrics.smoothness import Smoothness

TINY = TINY_BLOCKS["ReactDiffK"]
SHARED_PRIORS = Path(__file__).resolve().parents[2] / "shared" / "data" / "priors" / "reactdiffk_au_pairs.json"


def _cfg(**over) -> ReactDiffKConfig:
    return resolve(get("ReactDiffK"), {**TINY, **over}).config


def _model(cfg=None, seed=0) -> ReactDiffK:
    torch.manual_seed(seed)
    m = ReactDiffK(cfg or _cfg()).eval()
    with torch.no_grad():  # the zero-initialised head would make every output equal
        m.net.proj_out.weight.normal_(0, 0.3)
        for mod in m.modules():
            if hasattr(mod, "out") and isinstance(mod.out, torch.nn.Linear):
                mod.out.weight.normal_(0, 0.3)
    return m


def _cond(model, b=3, seed=0, mode=ONLINE, cond=True):
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    span = cfg.window + 2 * cfg.context
    off = torch.arange(-cfg.context, cfg.window + cfg.context).expand(b, -1)
    spk = {s: torch.randn(b, span, MODALITIES[s], generator=g) for s in modalities(cfg)}
    valid = torch.ones(b, span, dtype=torch.bool)
    modes = torch.full((b,), mode)
    mask = token_mask(valid, off, cfg.window, modes, torch.full((b,), cond))
    return WindowCondition(torch.randn(b, 83, generator=g), torch.ones(b, dtype=torch.bool),
                           model.net.speaker_tokens(spk, off), mask, modes), spk, off


# ------------------------------------------------------------------------------------------ EDM
def test_karras_preconditioning_values_and_identity():
    sd = 0.5
    c_skip, c_out, c_in = scalings(torch.tensor([1e-4, sd, 80.0]), sd)
    assert c_skip[0] == pytest.approx(1, abs=1e-6) and c_out[0] == pytest.approx(1e-4, rel=1e-3)
    assert c_skip[1] == pytest.approx(0.5) and c_out[1] == pytest.approx(sd / 2**0.5) and c_in[1] == pytest.approx(1 / (sd * 2**0.5))
    assert c_skip[2] == pytest.approx(sd**2 / (80**2 + sd**2)) and c_in[2] == pytest.approx(1 / (80**2 + sd**2) ** 0.5)
    # unit variance at the network's input and target for data of std sigma_data (EDM's design rule)
    sig = torch.tensor([0.2, 3.0])
    cs, co, ci = scalings(sig, sd)
    assert torch.allclose(ci**2 * (sd**2 + sig**2), torch.ones(2))
    assert torch.allclose((1 - cs) ** 2 * sd**2 / co**2 + cs**2 * sig**2 / co**2, torch.ones(2), atol=1e-5)
    # diffusers' scheduler (the sampler) applies the same c_skip / c_out to the network output
    from mafrg.methods.reactdiffk.config import EDMConfig

    s = scheduler(EDMConfig(), 5)  # the authors' schedule (the `paper` preset's)
    x, f = torch.randn(2, 4, 83), torch.randn(2, 4, 83)
    for sigma in s.sigmas[:-1]:
        cs, co, _ = scalings(sigma, 0.5)
        assert torch.allclose(s.precondition_outputs(x, f, sigma), cs * x + co * f, atol=1e-6)
    assert s.sigmas[0] == pytest.approx(80.0) and s.sigmas[-2] == pytest.approx(0.01, rel=1e-4) and s.sigmas[-1] == 0


def test_noise_density_and_prior_mask_pick_the_least_noised():
    edm = _cfg().edm
    sigma, mask = draw_sigmas(20000, edm, 0.1, torch.Generator().manual_seed(0))
    assert sigma.min() >= edm.density_min * 0.999 and sigma.max() <= edm.density_max * 1.001
    assert 0.09 < mask.float().mean() < 0.11
    assert sigma[mask].max() < sigma[~mask].min()  # the masked draws are the lowest noise levels
    assert (sigma < edm.sigma_data).float().mean() == pytest.approx(0.5, abs=0.02)  # median sigma_data (v-diffusion)


def test_training_loss_is_mse_of_the_karras_target_when_priors_are_off():
    cfg = _cfg(priors={"kinematics_weight": 0.0, "dependency_weight": 0.0}, guidance={"scale": 1.0})
    m = _model(cfg)
    b, k = 2, 3
    x = torch.randn(b, k * cfg.window, 83)
    cond, _, _ = _cond(m, b * k)
    sigma = torch.tensor([0.3, 2.0])
    noise = torch.randn_like(x)
    loss = training_loss(m, x, cond, sigma, torch.ones(b, dtype=torch.bool), noise)
    x_n = x + noise * sigma[:, None, None]
    cs, co, _ = scalings(sigma, 0.5)
    with torch.no_grad():
        f = m.raw(x_n.reshape(b * k, cfg.window, 83), sigma.repeat_interleave(k), cond).reshape(x.shape)
    target = (x - cs[:, None, None] * x_n) / co[:, None, None]
    assert float(loss.detach()) == pytest.approx(float((f - target).pow(2).mean()), rel=1e-5)
    # the denoised estimate D = c_skip x_n + c_out F recovers x exactly when F is the target
    assert torch.allclose(cs[:, None, None] * x_n + co[:, None, None] * target, x, atol=1e-5)


# ------------------------------------------------------------------------------------------ priors
def test_kinematics_prior_sees_pose_motion_only():
    t = torch.randn(2, 32, 83)
    mask = torch.ones(2, dtype=torch.bool)
    assert float(priors.kinematics_loss(t + 3.0, t, 8, mask)) == pytest.approx(0, abs=1e-9)  # same motion, other offset: no penalty
    other = t.clone()
    other[..., : priors.POSE.start] += torch.randn(2, 32, priors.POSE.start)  # expression and emotion jitter
    assert float(priors.kinematics_loss(other, t, 8, mask)) == 0
    jitter = t.clone()
    jitter[:, 1::2, priors.POSE] += 0.5  # alternate frames: pose jitter
    got = float(priors.kinematics_loss(jitter, t, 8, mask))
    # lag-1 differences are all +-0.5 (SmoothL1: 0.5 * 0.5^2 = 0.125); lag-8 differences are 0 (even lag)
    assert got == pytest.approx(10 * 0.125, rel=1e-5)
    assert float(priors.kinematics_loss(jitter, t, 8, torch.tensor([True, False]))) == pytest.approx(got / 2, rel=1e-5)
    assert float(priors.kinematics_loss(jitter, t, 8, torch.zeros(2, dtype=torch.bool))) == 0


def test_dependency_prior_penalises_broken_pairs_only():
    pairs = priors.dependency_pairs("au")
    t = torch.rand(1, 10, 83)
    mask = torch.ones(1, dtype=torch.bool)
    shift = t.clone()
    shift[..., :15] += 0.7  # every AU moved together: every pair difference kept
    assert float(priors.dependency_loss(shift, t, pairs, mask)) == pytest.approx(0, abs=1e-6)
    broken = t.clone()
    au12 = 7
    broken[..., au12] += 0.4  # AU12 alone: breaks (AU6, AU12) and (AU12, AU15)
    n_pairs = sum(au12 in p for p in priors.au_pairs("co_occurred") + priors.au_pairs("exclusive"))
    assert n_pairs == 2
    expect = n_pairs * 0.5 * 0.4**2  # SmoothL1 below 1: 0.5 d^2 per broken pair, mean over frames
    assert float(priors.dependency_loss(broken, t, pairs, mask)) == pytest.approx(expect, rel=1e-5)
    assert float(priors.dependency_loss(broken, t, pairs, torch.zeros(1, dtype=torch.bool))) == 0
    # the 3DMM lists act on the 3DMM columns only
    i, j = priors.dependency_pairs("3dmm")
    assert int(i.min()) >= 25 and int(j.max()) < 25 + 52


def test_pair_lists_are_the_authors_and_name_real_aus():
    lists = priors.pair_lists()
    assert [len(lists["tdmm"][k]) for k in ("symmetry", "co_occurred", "exclusive")] == [20, 30, 58]
    if SHARED_PRIORS.exists():
        shared = json.loads(SHARED_PRIORS.read_text())
        for k in ("symmetry", "co_occurred", "exclusive"):
            assert lists["tdmm"][k] == shared[k]
    assert (3, 7) in priors.au_pairs("co_occurred")  # AU6 with AU12
    assert (7, 9) in priors.au_pairs("exclusive")  # AU12 and AU15
    assert len(priors.dependency_pairs("both")[0]) == 108 + 10


# ------------------------------------------------------------------------------------------ guidance
def test_guidance_scale_zero_is_unconditional_and_one_is_conditional():
    m = _model()
    cond, _, _ = _cond(m, mode=OFFLINE)
    x, sigma = torch.randn(3, m.cfg.window, 83), torch.full((3,), 1.3)
    with torch.no_grad():
        f_c, f_u = m.raw(x, sigma, cond), m.raw(x, sigma, cond.unconditional())
        assert not torch.allclose(f_c, f_u)
        assert torch.allclose(guided_raw(m, x, sigma, cond, 1.0), f_c)
        assert torch.allclose(guided_raw(m, x, sigma, cond, 0.0), f_u)
        assert torch.allclose(guided_raw(m, x, sigma, cond, 2.5), f_u + 2.5 * (f_c - f_u), atol=1e-5)
        # the unconditional model does not read the speaker at all
        other, _, _ = _cond(m, seed=5, mode=OFFLINE)
        other.prev, other.has_prev = cond.prev, cond.has_prev
        assert torch.equal(m.raw(x, sigma, other.unconditional()), f_u)


def test_config_rejects_guidance_without_an_unconditional_model():
    with pytest.raises(ConfigError, match="needs an unconditional model"):
        _cfg(guidance={"cond_dropout": 0.0, "scale": 2.0})
    with pytest.raises(ConfigError, match="multiple of window"):
        _cfg(crop=30)


# ------------------------------------------------------------------------------------------ causality
def test_online_network_is_frame_causal_and_offline_sees_the_span():
    m = _model()
    cfg = m.cfg
    x, sigma = torch.randn(3, cfg.window, 83), torch.full((3,), 0.7)
    for mode in (ONLINE, OFFLINE):
        cond, spk, off = _cond(m, mode=mode)
        q = 3  # perturb speaker frames at offsets >= q (and the noisy listener frames >= q)
        spk2 = {s: v.clone() for s, v in spk.items()}
        for v in spk2.values():
            v[:, cfg.context + q :] += 5.0
        x2 = x.clone()
        x2[:, q:] += 1.0
        cond2 = WindowCondition(cond.prev, cond.has_prev, m.net.speaker_tokens(spk2, off), cond.mask, cond.mode)
        with torch.no_grad():
            a, b = m.raw(x, sigma, cond), m.raw(x2, sigma, cond2)
        if mode == ONLINE:
            assert torch.equal(a[:, :q], b[:, :q]) and not torch.equal(a[:, q:], b[:, q:])
        else:
            assert not torch.allclose(a[:, :q], b[:, :q])


def test_sampling_noise_of_a_reaction_does_not_depend_on_the_batch():
    m = _model()
    cond, _, _ = _cond(m, b=3)
    gens = lambda: [torch.Generator().manual_seed(100 + j) for j in range(3)]  # noqa: E731
    full = sample_window(m, cond, m.cfg.window, 3, 1.5, gens())
    one = sample_window(m, cond.select(torch.tensor([1])), m.cfg.window, 3, 1.5, [gens()[1]])
    assert torch.allclose(full[1:2], one, atol=1e-5)


def test_momentum_blend_pulls_head_pose_towards_the_previous_frame():
    x0, prev = torch.zeros(2, 4, 83), torch.ones(2, 83)
    out = momentum_blend(x0, prev, 0.9)
    assert torch.allclose(out[..., 80:], torch.full((2, 4, 3), 0.9))  # translation: m
    assert torch.allclose(out[..., 77:80], torch.full((2, 4, 3), 0.45))  # rotation: m / 2
    assert torch.equal(out[..., :77], x0[..., :77]) and torch.equal(momentum_blend(x0, prev, 0.0), x0)


# ------------------------------------------------------------------------------------------ smoothness
def test_smoothness_measures_on_constructed_reactions():
    t = np.arange(10, dtype=np.float32)
    tdmm = np.broadcast_to(t[:, None] * 0.5, (1, 2, 10, 58)).copy()  # constant velocity 0.5, no acceleration
    tdmm[..., 52:] = 0.1 * t[:, None] ** 2  # the head pose accelerates: |d1| = 0.1 (2t + 1), |d2| = 0.2
    emo = np.zeros((1, 2, 10, 25), np.float32)
    emo[..., 1::2, :] = 1.0  # alternating: |d1| = 1, |d2| = 2
    emo[..., 0, 7] = emo[..., 0, 9] = 1.0  # AU12 and AU15 both on at frame 0 (exclusive pair)
    s = Smoothness()
    s.update(emo, tdmm)
    v = s.value()
    assert v["Vel_pose"] == pytest.approx(0.9) and v["Acc_pose"] == pytest.approx(0.2)
    assert v["Vel_3DMM"] == pytest.approx((52 * 0.5 + 6 * 0.9) / 58) and v["Acc_3DMM"] == pytest.approx(6 * 0.2 / 58)
    assert v["Vel_emotion"] == pytest.approx(1.0, abs=0.02) and v["Acc_emotion"] == pytest.approx(2.0, abs=0.05)
    # frames 1, 3, ...: every AU on -> all 3 exclusive pairs co-active; frame 0: AU12 + AU15 only
    assert v["ExclAU"] == pytest.approx((5 * 3 + 1) / (10 * 3))


# ------------------------------------------------------------------------------------------ training
@pytest.fixture(scope="module")
def results(tiny_dataset, tmp_path_factory):
    return build_results(tiny_dataset, tmp_path_factory.mktemp("rdk") / "results")


@pytest.mark.slow
def test_training_resumes_after_a_kill_with_the_same_weights(results, tmp_path):
    fresh = copy_results(results, tmp_path / "fresh")
    killed_tree = copy_results(results, tmp_path / "killed")
    block = {**TINY, "train": {"epochs": 6, "batch_size": 8}}
    log, done, killed, whole = kill_and_resume(killed_tree, fresh, "ReactDiffK", "edm", block, epochs=6)
    for k, v in whole[0]["model"].items():
        assert torch.equal(killed[0]["model"][k], v), k
    assert [h["train_loss"] for h in killed[1]["history"]] == [h["train_loss"] for h in whole[1]["history"]]
    assert len(whole[1]["history"]) == 6


@pytest.mark.slow
def test_a_code_change_trains_again_instead_of_resuming_the_finished_state(results, tmp_path, monkeypatch, caplog):
    """The workflow reruns a training stage when the method's code changes; the finished resumable state beside
    the checkpoint must then not be "resumed" (which wrote the old weights again). The same code resumes it."""
    import logging

    tree = copy_results(results, tmp_path / "tree")
    state = Path(tree.train_state("ReactDiffK", 0, "edm")) / "last.pt"
    caplog.set_level(logging.INFO)
    train_all(tree, "ReactDiffK", TINY, seed=0, code="code-a")
    identity_a = checkpoint.load(state, kind="train_state")[1]["identity"]
    caplog.clear()
    train_all(tree, "ReactDiffK", TINY, seed=0, code="code-a")  # same code: the finished state is found, nothing retrains
    assert "resuming from" in caplog.text and "training from the start" not in caplog.text
    caplog.clear()
    train_all(tree, "ReactDiffK", TINY, seed=0, code="code-b")
    assert "made with other code, settings or data; training from the start" in caplog.text
    assert "resuming from" not in caplog.text
    assert checkpoint.load(state, kind="train_state")[1]["identity"] != identity_a  # the state is code-b's now
    assert len(checkpoint.load(tree.model("ReactDiffK", 0, "edm"))[1]["history"]) == TINY["train"]["epochs"]


@pytest.mark.slow
def test_checkpoint_errors_name_the_file(results, tmp_path):
    from mafrg.methods.reactdiffk.stages import load_model

    train_all(results, "ReactDiffK", TINY, seed=0)
    path = results.model("ReactDiffK", 0, "edm")
    model, meta = load_model(path)
    assert meta["config"]["window"] == 8 and model.target_std.min() > 0  # the statistics travel with it
    with pytest.raises(checkpoint.CheckpointError, match="reactdiff.mmt"):
        checkpoint.load(path, kind="reactdiff.mmt")
    tensors, meta = checkpoint.load(path)
    meta["config"]["net"]["widths"] = [16, 64]
    bad = tmp_path / "bad.pt"
    checkpoint.save(bad, "reactdiffk.edm", tensors, meta)
    with pytest.raises(checkpoint.CheckpointError, match="do not fit its own configuration"):
        load_model(bad)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["sde-dpmsolver++", "dpmsolver++"])
def test_sampling_ends_with_the_denoised_estimate_at_sigma_min(algorithm):
    """What the demo's sigma_min (1.0) relies on (docs/methods/reactdiffk.md): the Karras schedule ends at
    sigma_min and the last step returns D(x; sigma_min) exactly, no noise added after it (SDE included), so
    sigma_min is where sampling stops denoising."""
    from dataclasses import replace

    m = _model()
    cond, _, _ = _cond(m, b=2)
    edm = replace(m.cfg.edm, sigma_min=0.5, algorithm=algorithm)
    sched = scheduler(edm, 4)
    assert sched.sigmas[-2].item() == pytest.approx(0.5) and sched.sigmas[-1].item() == 0.0
    gens = [torch.Generator().manual_seed(k) for k in range(2)]
    x = torch.randn(2, m.cfg.window, 83, generator=torch.Generator().manual_seed(5)) * sched.sigmas[0]
    for i, t in enumerate(sched.timesteps):
        sigma = sched.sigmas[i].expand(2)
        out = sched.step(guided_raw(m, x, sigma, cond, 1.0), t, x, generator=gens).prev_sample
        if i == len(sched.timesteps) - 1:
            torch.testing.assert_close(out, m.denoise(x, sigma, cond), rtol=1e-5, atol=1e-5)
        x = out


def test_sampler_settings_come_from_the_run_not_the_checkpoint(results, tmp_path):
    """edm.algorithm / sample_steps given at generation reach the sampler (the algorithm used to be read from the
    checkpoint's config, so an ODE run silently sampled with the SDE)."""
    from mafrg.methods.run import generate_shard

    paths = copy_results(results, tmp_path / "r")
    train_all(paths, "ReactDiffK", TINY, seed=0)

    def gen(edm):
        block = {**TINY, "edm": {**TINY["edm"], **edm}}
        out = tmp_path / f"gen{len(list(tmp_path.glob('gen*.npy')))}.npy"
        return generate_shard(paths, "ReactDiffK", block, "offline", 0, "val", (0, 2), 2, out, threads=1,
                              progress=False).emotion

    sde, ode = gen({}), gen({"algorithm": "dpmsolver++"})
    assert not np.array_equal(sde, ode)
    np.testing.assert_array_equal(ode, gen({"algorithm": "dpmsolver++"}))  # and the ODE run is deterministic


def test_parameter_counts_quoted_in_the_readme():
    """docs/methods/reactdiffk.md: `paper` 43.57 M (residual blocks 19.84 M, cross-attention 22.70 M), `demo` 1.08 M."""
    from mafrg.methods.reactdiffk.config import demo, paper

    def counts(cfg):
        net = ReactDiffK(cfg).net
        named = list(net.named_parameters())
        return (sum(p.numel() for _, p in named), sum(p.numel() for n, p in named if ".blocks." in n),
                sum(p.numel() for n, p in named if ".attn." in n))

    assert counts(paper()) == (43_570_643, 19_840_640, 22_695_424)
    assert counts(demo())[0] == 1_080_550 and demo().speaker_emotion and not paper().speaker_emotion
    assert paper().net.depths == (2, 4, 4) and paper().net.widths == (128, 256, 512) and paper().window == 16


def test_causal_group_norm_uses_the_frames_up_to_t_only():
    from torch.nn import functional as F

    from mafrg.methods.reactdiffk.model import frame_norm

    x = torch.randn(2, 6, 8) * 3 + 1
    got = frame_norm(x, 2, "causal")
    for t in (0, 3, 5):
        # GroupNorm over (channels of the group, frames 0..t): the authors' window statistics, cut at t
        ref = F.group_norm(x[:, : t + 1].transpose(1, 2), 2).transpose(1, 2)[:, -1]
        assert torch.allclose(got[:, t], ref, atol=1e-4)
    later = x.clone()
    later[:, 4:] += 10.0
    assert torch.equal(frame_norm(later, 2, "causal")[:, :4], got[:, :4])
    assert torch.allclose(frame_norm(x, 2, "frame"), F.group_norm(x.reshape(12, 8), 2).reshape(2, 6, 8), atol=1e-5)


def test_input_gain_sets_how_much_of_the_noisy_frame_the_denoiser_keeps():
    """net.input_gain: F gains g(sigma) * c_in * x per channel, so D keeps c_skip + c_out c_in g of the noisy
    frame instead of c_skip; zero-initialised, it starts as the authors' network."""
    net = {**TINY["net"], "input_gain": False}
    plain = _model(_cfg(net=net))
    gained = ReactDiffK(_cfg(net={**net, "input_gain": True})).eval()
    missing, unexpected = gained.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and sorted(missing) == ["net.input_gain.bias", "net.input_gain.weight"]
    x, sigma = torch.randn(3, plain.cfg.window, 83), torch.tensor([0.1, 0.5, 2.0])
    cond, _, _ = _cond(plain, mode=OFFLINE)
    with torch.no_grad():
        assert torch.equal(gained.denoise(x, sigma, cond), plain.denoise(x, sigma, cond))  # zero-initialised
        g = torch.linspace(-1, 1, 83)
        gained.net.input_gain.bias.copy_(g)
        _, c_out, c_in = (c[:, None, None] for c in scalings(sigma, plain.edm.sigma_data))
        d = gained.denoise(x, sigma, cond) - plain.denoise(x, sigma, cond)
        assert torch.allclose(d, c_out * c_in * g * x, atol=1e-5)
        # it acts frame by frame: a later frame of the window does not change an earlier one's gain term
        x2 = x.clone()
        x2[:, 5:] += 3.0
        d2 = gained.denoise(x2, sigma, cond) - plain.denoise(x2, sigma, cond)
        assert torch.equal(d2[:, :5], d[:, :5])


def test_row_blocks_are_fixed_by_row_index():
    from mafrg.methods.contract import row_blocks

    assert row_blocks(0, 20, 8, 20) == [(0, 8), (8, 16), (16, 20)]
    assert row_blocks(5, 9, 8, 20) == [(0, 8), (8, 16)]  # a shard straddling a border samples both blocks
    assert row_blocks(17, 19, 8, 20) == [(16, 20)]  # the last block ends at the split's end, whoever asks
    assert row_blocks(3, 3, 8, 20) == []


@pytest.mark.parametrize("online", [False, True])
def test_rows_sampled_together_equal_rows_sampled_alone(online):
    """Sampling several speakers as one batch changes only float rounding, never which speaker, noise or previous
    frame a reaction gets (the network's speaker paths are made non-trivial, so a mix-up would show)."""
    from mafrg.methods.reactdiffk.stages import react

    model = _model()
    g = np.random.default_rng(3)
    spk = [{s: g.normal(size=(20, MODALITIES[s])).astype(np.float32) for s in modalities(model.cfg)}
           for _ in range(3)]
    together = react(model, spk, 2, online, 3, 1.0, [11, 12, 13])
    for r in range(3):
        alone = react(model, spk[r:r + 1], 2, online, 3, 1.0, [11 + r])
        for got, want in zip(together, alone):
            np.testing.assert_allclose(got[r], want[0], atol=1e-4, err_msg=f"speaker {r}")
    swapped = react(model, [spk[1], spk[0], spk[2]], 2, online, 3, 1.0, [11, 12, 13])
    assert not np.allclose(swapped[0][0], together[0][0], atol=1e-3)  # the speaker matters to the output


def test_crops_of_clips_of_any_length_stay_inside_their_clip():
    """On a split of clips of any length (MARS) each item keeps its own length, a crop starts within its own item,
    and the first-window share follows that item's windows per clip."""
    from mafrg.data.assemble import ClipArrays
    from mafrg.data.layouts import PairRow
    from mafrg.methods.reactdiffk import data as kd

    rng = np.random.default_rng(0)
    lengths = [40, 400, 65, 1000]  # clips 2k (speaker) and 2k+1 (listener) of pair k; the listener 2 frames longer
    clip_len = [t + d for t in lengths for d in (0, 2)]
    offsets = np.concatenate([[0], np.cumsum(clip_len)])
    data = ClipArrays("train", [PairRow(k, f"s{k}", f"l{k}", False) for k in range(len(lengths))],
                      [f"{r}{k}" for k in range(len(lengths)) for r in "sl"], offsets,
                      rng.random((offsets[-1], 25), dtype=np.float32), rng.random((offsets[-1], 58), dtype=np.float32),
                      np.arange(0, 2 * len(lengths), 2), np.arange(1, 2 * len(lengths), 2))
    its = kd.items(data)
    assert [len(it.target) for it in its] == [t for t in lengths for _ in range(2)]  # a pair cut to common length
    assert its[1].speaker == "l0" and np.array_equal(its[1].target[:, :25], data.speaker_emotion_of(0)[:40])
    cfg = ReactDiffKConfig(window=8, crop=32, crops_per_row=400)
    crops = kd.Crops(its, lambda rel: None, cfg, None, seed=1, epoch=0)
    per_item = np.repeat([len(it.target) for it in its], cfg.crops_per_row)
    assert (crops.start >= 0).all() and (crops.start + cfg.crop <= per_item).all()
    for t in (40, 1000):  # share of crops at frame 0: 1 / windows per clip (plus the uniform draws that hit 0)
        sel = per_item == t
        want = 1 / -(-t // cfg.window) + (1 - 1 / -(-t // cfg.window)) / (t - cfg.crop + 1)
        assert abs((crops.start[sel] == 0).mean() - want) < 4 * np.sqrt(want / sel.sum()) + 0.01
    assert crops.start[per_item == 1000].max() > 500  # crops reach into long clips


@pytest.mark.parametrize("frames", [37, 61])  # clips of any length: not a whole number of windows
def test_online_reactions_are_frame_causal_on_clips_of_any_length(frames):
    """What generation runs for each row of a split of clips of any length (``react`` on one speaker of its own
    length): perturbing the speaker from frame t on leaves every online frame before t unchanged; the offline
    variant sees the window's span."""
    from mafrg.methods.reactdiffk.stages import react

    m = _model(_cfg(audio_width=768))
    rng = np.random.default_rng(frames)
    sp = {s: rng.normal(size=(frames, 768 if s == "audio" else MODALITIES[s])).astype(np.float32)
          for s in modalities(m.cfg)}
    t = frames - 11
    late = {s: v.copy() for s, v in sp.items()}
    for v in late.values():
        v[t:] += 3.0
    for online in (True, False):
        a = react(m, [sp], 2, online, 2, 1.0, [5])
        b = react(m, [late], 2, online, 2, 1.0, [5])
        assert a[0].shape == (1, 2, frames, 25) and a[1].shape == (1, 2, frames, 58)
        if online:
            np.testing.assert_array_equal(a[0][:, :, :t], b[0][:, :, :t])
            np.testing.assert_array_equal(a[1][:, :, :t], b[1][:, :, :t])
            assert not np.array_equal(a[0][:, :, t:], b[0][:, :, t:])
        else:
            assert not np.array_equal(a[0][:, :, :t], b[0][:, :, :t])


def test_paper_preset_samples_with_the_guidance_the_demo_sweep_chose():
    """The paper names classifier-free guidance; scale 1 would be sampling without it. Both presets use the scale
    docs/methods/reactdiffk.md's sweep chose, and train with the condition dropout that guidance needs."""
    from mafrg.methods.reactdiffk.config import demo, paper

    for cfg in (paper(), demo()):
        assert cfg.guidance.scale == 2.0 and cfg.guidance.cond_dropout == 0.1


def test_paper_preset_averages_weights_as_the_authors():
    """The authors' EMA warms up ('inverse', power 2/3) to 0.9999: over the preset's ~2,900 steps (100 epochs of
    the REACT 2024 training set at batch 100) a constant 0.9999 would leave 0.9999^2900 = 75 % of the saved
    weights at their initial values; the warm-up leaves almost none."""
    import math

    from mafrg import training
    from mafrg.methods.reactdiffk.config import paper

    tc = paper().train
    assert (tc.ema_decay, tc.ema_warmup, tc.ema_power, tc.ema_inv_gamma) == (0.9999, "inverse", 2 / 3, 1.0)
    initial_share = math.prod(training.ema_decay_at(tc, n) for n in range(1, 2900))
    assert initial_share < 1e-6 and 0.9999 ** 2900 > 0.7


@pytest.mark.parametrize("dropout", [0.1, 0.4])
def test_training_crop_draws_follow_their_settings(dropout):
    """Each crop's mode is online or offline with probability 1/2, its speaker condition is dropped with probability
    guidance.cond_dropout (classifier-free guidance), and it starts at frame 0 with the share first windows have
    at generation (1 / windows per clip), plus the uniform draws that land on 0; draws are fixed by (seed, epoch)."""
    from mafrg.methods.reactdiffk import data as kd
    from mafrg.methods.reactdiffk.model import ONLINE

    frames, n_items = 96, 50
    cfg = _cfg(window=8, crop=32, crops_per_row=200, guidance={"cond_dropout": dropout})
    its = [kd.Item(f"c{i}", np.zeros((frames, 25)), np.zeros((frames, 58)), np.zeros((frames, 83)))
           for i in range(n_items)]
    crops = kd.Crops(its, lambda rel: None, cfg, frames, seed=3, epoch=0)
    n = n_items * cfg.crops_per_row

    def close(share, p):
        return abs(share - p) < 4 * np.sqrt(p * (1 - p) / n)

    assert close((crops.mode == ONLINE).mean(), 0.5)
    assert close((~crops.cond).mean(), dropout)
    first = 1 / (frames // cfg.window)
    assert close((crops.start == 0).mean(), first + (1 - first) / (frames - cfg.crop + 1))
    assert crops.start.max() == frames - cfg.crop
    again = kd.Crops(its, lambda rel: None, cfg, frames, seed=3, epoch=0)
    assert np.array_equal(again.start, crops.start) and np.array_equal(again.cond, crops.cond)
    assert not np.array_equal(kd.Crops(its, lambda rel: None, cfg, frames, seed=3, epoch=1).start, crops.start)
