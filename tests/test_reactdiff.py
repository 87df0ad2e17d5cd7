"""ReactDiff: both presets build and train a step, latent normalisation is exact, sampling is deterministic by
seed, training resumes after a kill, and checkpoints are read safely. (Shapes, sharding and causality of its
generation are checked by the method contract test.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from method_helpers import TINY_BLOCKS, build_results, copy_results, kill_and_resume
from mafrg import checkpoint
from mafrg.methods.reactdiff.config import reactdiff_config
from mafrg.methods.reactdiff.diffusion import LatentDiffusion, LatentNorm, ResBlock
from mafrg.methods.reactdiff.mmt import MMT, STREAM_DIMS, mmt_loss
from mafrg.methods.reactdiff.stages import react

TINY = TINY_BLOCKS["ReactDiff"]
SMALL_DIMS = {"au": 392, "fe": 1408, "va": 64, "mfcc": 26, "wav2vec2": 1536}


def _feats(t: int, dims=STREAM_DIMS, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {s: torch.randn(1, t, d, generator=g) for s, d in dims.items()}


def test_demo_builds_and_trains_one_step():
    cfg = reactdiff_config({"preset": "demo"})
    mmt, diff = MMT(cfg.mmt), LatentDiffusion(cfg.mmt, cfg.ddim)
    t = 2 * cfg.mmt.window - 7  # not a multiple of the window: the last window is padded
    feats = {s: x.expand(2, -1, -1) for s, x in _feats(t).items()}
    (p3, pe), z = mmt(feats, causal=True)
    tp = 2 * cfg.mmt.window
    assert p3.shape == (2, tp, 58) and pe.shape == (2, tp, 25) and z.shape == (2, tp, cfg.mmt.latent_dim)
    loss = mmt_loss(p3, pe, torch.zeros(2, tp, 58), torch.zeros(2, tp, 25))
    loss.backward()
    assert all(p.grad is not None for p in mmt.encoder.parameters() if p.requires_grad and p.dim() > 1)
    d_loss = diff.loss(z.detach(), z.detach(), online=False, sched=diff.scheduler())
    d_loss.backward()
    assert torch.isfinite(d_loss) and diff.unet.inp.weight.grad is not None
    assert (pe[..., :15] >= 0).all() and (pe[..., :15] <= 1).all() and (pe[..., 15:17].abs() <= 1).all()
    torch.testing.assert_close(pe[..., 17:].sum(-1), torch.ones(2, tp))


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_demo_unet_is_the_small_one_the_readme_measures():
    """The demo's noise predictor: 16 channels, one level, no per-level residual blocks (the middle block's two
    residual blocks and attention, one up block): the 21,257 parameters of docs/methods/reactdiff.md, chosen by a 3-seed comparison."""
    d = reactdiff_config({"preset": "demo"}).ddim
    assert (d.model_channels, d.channel_mult, d.num_res_blocks, d.attention_levels) == (16, (1,), 0, ())
    unet = LatentDiffusion(reactdiff_config({"preset": "demo"}).mmt, d).unet
    assert _params(unet) == 21_257
    assert sum(isinstance(m, ResBlock) for m in unet.modules()) == 3


def test_paper_preset_is_the_paper():
    """The published sizes and schedule, and the shapes the paper states, from the paper preset's config (built
    on the meta device: nothing is allocated)."""
    cfg = reactdiff_config({"preset": "paper"})
    m, d = cfg.mmt, cfg.ddim
    assert (m.window, m.hidden_dim, m.latent_dim, m.intra_depth, m.inter_layers, m.au_self_attention) == \
        (50, 1024, 128, 2, 2, True)
    assert m.encoder_span == "clip"  # the paper's cross-attention runs over the clip's N frames
    assert (d.cond_dim, d.train_timesteps, d.sample_steps, d.eta, d.beta_schedule) == (1024, 20, 20, 0.0, "squaredcos_cap_v2")
    assert (d.model_channels, d.channel_mult, d.num_res_blocks, d.attention_levels) == (256, (1, 2, 4, 8), 2, (0, 1, 2))
    for tc in (cfg.train_mmt, cfg.train_ddim):
        assert (tc.batch_size, tc.lr, tc.epochs, tuple(tc.betas), tc.weight_decay, tc.ema_decay) == \
            (16, 5e-3, 100, (0.9, 0.999), 5e-4, 0.999)  # the authors' code saves an EMA of 0.999
    n = 750  # a REACT clip
    with torch.device("meta"):
        mmt, diff = MMT(m), LatentDiffusion(m, d)
        feats = {s: torch.empty(1, n, k) for s, k in STREAM_DIMS.items()}
        z = mmt.encoder(feats)
        assert z.shape == (1, n, 128)  # x0 in R^{N x 128}
        cond = diff.condition(z, online=False)
        assert cond.shape == (1, n // 50, 1024)  # z_bc in R^{(N//ws) x 1024}
        x = torch.empty(n // 50, 50, 128)  # x0 reshaped to (N//ws, ws, 128); eps in R^{ws x 128}
        assert diff.unet(x, torch.zeros(n // 50, dtype=torch.long), cond[0]).shape == (n // 50, 50, 128)
        tdmm, emo = mmt.decoder(z)
        assert tdmm.shape == (1, n, 58) and emo.shape == (1, n, 25)
    # the sizes docs/methods/reactdiff.md prints (millions of parameters)
    sizes = {"encoder": _params(mmt.encoder), "decoder": _params(mmt.decoder), "z_bc": _params(diff.constraint),
             "unet": _params(diff.unet)}
    assert {k: round(v / 1e6, 1) for k, v in sizes.items()} == PAPER_PARAMS_M


# Parameter counts of the paper preset in millions, as docs/methods/reactdiff.md lists them.
PAPER_PARAMS_M = {"encoder": 120.7, "decoder": 0.3, "z_bc": 6.6, "unet": 404.3}


def test_the_encoder_spans_the_clip_offline_and_one_window_online():
    """encoder_span clip: a frame's latent hears frames of other windows offline; online (the MMT's causal mode,
    and generation) each window is encoded alone, so a window's latents never hear a later window."""
    cfg = reactdiff_config({"preset": "demo", "mmt": {"window": 10, "encoder_span": "clip"}})
    torch.manual_seed(0)
    mmt = MMT(cfg.mmt, SMALL_DIMS).eval()
    g = torch.Generator().manual_seed(1)
    feats = {s: torch.randn(1, 30, d, generator=g) for s, d in SMALL_DIMS.items()}
    later = {s: v.clone() for s, v in feats.items()}
    for v in later.values():
        v[:, 20:] += 3.0  # window 2 only
    with torch.no_grad():
        off, off2 = mmt.encoder(feats), mmt.encoder(later)
        on, on2 = mmt.encoder(feats, "window"), mmt.encoder(later, "window")
        (_, _), z_online = mmt(feats, causal=True)
    assert not torch.allclose(off[:, :20], off2[:, :20])  # offline: window 0 hears window 2
    torch.testing.assert_close(on[:, :20], on2[:, :20], rtol=0, atol=0)  # online: it does not
    torch.testing.assert_close(z_online, on, rtol=0, atol=0)  # causal mode encodes window by window
    assert not torch.allclose(on, off)


def test_online_conditions_on_the_previous_window_only():
    cfg = reactdiff_config(TINY)
    diff = LatentDiffusion(cfg.mmt, cfg.ddim).eval()
    ws = cfg.mmt.window
    s = torch.randn(1, 4 * ws, cfg.mmt.latent_dim)
    on, off = diff.condition(s, online=True), diff.condition(s, online=False)
    later = s.clone()
    later[:, 2 * ws + 3:] += 5.0  # change window 2 from its 4th frame on, and everything after
    on2, off2 = diff.condition(later, online=True), diff.condition(later, online=False)
    torch.testing.assert_close(on2[:, :3], on[:, :3], rtol=0, atol=0)  # online windows 0..2 see windows -1..1
    assert not torch.equal(on2[:, 3], on[:, 3])
    torch.testing.assert_close(off2[:, :2], off[:, :2], rtol=0, atol=0)
    assert not torch.equal(off2[:, 2], off[:, 2])  # offline window 2 sees its own (changed) window


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
    (a,), _ = react(mmt, diff, feats, 30, 4, False, 4, 0.0, seeds=[1])
    (b,), _ = react(mmt, diff, feats, 30, 4, False, 4, 0.0, seeds=[1])
    (c,), _ = react(mmt, diff, feats, 30, 4, False, 4, 0.0, seeds=[2])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.abs(a[0] - a[1]).mean() > 0  # fresh noise per reaction: the 10 reactions differ (FRDiv > 0)


@pytest.mark.parametrize("online", [False, True])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_clips_sampled_together_equal_clips_sampled_alone(online, eta):
    """Generation samples several rows as one batch (``generate_rows``): that changes float rounding only, never
    which speaker or noise a reaction gets -- with eta > 0 too, where every DDIM step draws fresh noise."""
    cfg = reactdiff_config(TINY)
    torch.manual_seed(0)
    mmt, diff = MMT(cfg.mmt, SMALL_DIMS).eval(), LatentDiffusion(cfg.mmt, cfg.ddim).eval()
    with torch.no_grad():  # zero-initialised layers (the condition's way in) made non-trivial, so a mix-up shows
        for p in diff.parameters():
            p.add_(0.1 * torch.randn_like(p))
    clips = [_feats(30, SMALL_DIMS, seed=r) for r in range(3)]
    feats = {s: torch.cat([c[s] for c in clips]) for s in clips[0]}
    together = react(mmt, diff, feats, 30, 2, online, 4, eta, seeds=[11, 12, 13])
    for r in range(3):
        alone = react(mmt, diff, clips[r], 30, 2, online, 4, eta, seeds=[11 + r])
        for got, want in zip(together, alone):
            np.testing.assert_allclose(got[r], want[0], atol=1e-5, err_msg=f"clip {r}")
    swapped = react(mmt, diff, feats, 30, 2, online, 4, eta, seeds=[12, 11, 13])
    assert not np.allclose(swapped[0][0], together[0][0], atol=1e-3)  # the seed decides the noise
    other = {s: x[[1, 0, 2]] for s, x in feats.items()}
    assert not np.allclose(react(mmt, diff, other, 30, 2, online, 4, eta, seeds=[11, 12, 13])[0][0], together[0][0],
                           atol=1e-3)  # and the speaker matters


@pytest.mark.parametrize("online", [False, True])
def test_a_clip_of_any_length_is_generated_chunk_by_chunk(online):
    """Clips of any length: the reactions to a 47-frame clip with crop 20 are those to its chunks [0, 20),
    [20, 40) and [40, 47), each generated as a clip of its own from its own seed (so nothing crosses a boundary),
    whichever chunks share a batch."""
    from mafrg.methods.reactdiff.stages import chunk_seed, react_chunks

    cfg = reactdiff_config(TINY)
    torch.manual_seed(0)
    mmt, diff = MMT(cfg.mmt, SMALL_DIMS).eval(), LatentDiffusion(cfg.mmt, cfg.ddim).eval()
    feats = {k: v[0].numpy() for k, v in _feats(47, SMALL_DIMS, seed=3).items()}
    for block in (1, 2):
        e, d = react_chunks(mmt, diff, feats, 47, 20, block, 2, online, 4, 0.0, seed=9)
        assert e.shape == (2, 47, 25) and d.shape == (2, 47, 58)
        for j, (a, z) in enumerate([(0, 20), (20, 40), (40, 47)]):
            part = {k: torch.from_numpy(v[None, a:z]) for k, v in feats.items()}
            want = react(mmt, diff, part, z - a, 2, online, 4, 0.0, seeds=[chunk_seed(9, j)])
            np.testing.assert_allclose(e[:, a:z], want[0][0], atol=1e-5, err_msg=f"chunk {j}, block {block}")
            np.testing.assert_allclose(d[:, a:z], want[1][0], atol=1e-4, err_msg=f"chunk {j}, block {block}")
    assert len({chunk_seed(9, j) for j in range(100)} | {chunk_seed(10, j) for j in range(100)}) == 200


def test_training_crops_of_clips_of_any_length_stay_inside_their_clip():
    """The MMT's crops on clips of any length: within each clip, a new draw every epoch, the same for a seed;
    the DDIM's chunks are the whole chunks generation cuts."""
    from mafrg.methods.reactdiff.data import ClipDataset, ClipItem, chunk_starts

    lengths = [20, 45, 300]
    items = [ClipItem(f"c{i}", "", np.zeros((t, 25)), np.zeros((t, 58))) for i, t in enumerate(lengths)]
    draws = [ClipDataset(items * 200, None, crop=20, seed=1, epoch=e).start for e in (0, 1)]
    per_item = np.array(lengths * 200)
    for start in draws:
        assert (start >= 0).all() and (start + 20 <= per_item).all()
        assert start[per_item == 300].max() > 200  # crops reach into long clips
    assert not np.array_equal(draws[0], draws[1])
    np.testing.assert_array_equal(draws[0], ClipDataset(items * 200, None, crop=20, seed=1, epoch=0).start)
    assert chunk_starts(47, 20) == [0, 20, 40] and chunk_starts(47, 20, whole_only=True) == [0, 20]
    assert chunk_starts(19, 20, whole_only=True) == [] and chunk_starts(19, 20) == [0]


@pytest.fixture(scope="module")
def results(tiny_dataset, tmp_path_factory):
    return build_results(tiny_dataset, tmp_path_factory.mktemp("rd") / "results")


@pytest.mark.slow
def test_training_resumes_after_being_killed(results, tmp_path):
    """Kill a run after its first epoch checkpoint; rerunning finishes it with the weights of an unbroken run."""
    fresh = copy_results(results, tmp_path / "whole")  # before anything is trained in `results`
    block = dict(TINY, train_mmt={"epochs": 8, "batch_size": 2})
    _, _, killed, whole = kill_and_resume(results, fresh, "ReactDiff", "mmt", block, epochs=8)
    assert [h["train_loss"] for h in killed[1]["history"]] == [h["train_loss"] for h in whole[1]["history"]]
    for k in whole[0]["model"]:
        assert torch.equal(killed[0]["model"][k], whole[0]["model"][k]), k
    # the 3DMM head predicts the offset from the training set's mean face, stored with the model
    from mafrg.data.assemble import SplitArrays
    from mafrg.methods.reactdiff.data import person_clips, split_items

    data = SplitArrays.load(results.split_data("train"))
    tr, _ = split_items(person_clips(data, lambda rel: ""), lambda it: it.rel, 0.1)
    mean = np.mean([it.tdmm[:data.speaker_emotion.shape[1]].mean(0) for it in tr], axis=0)
    np.testing.assert_allclose(whole[0]["model"]["decoder.tdmm_mean"].numpy(), mean, rtol=1e-5, atol=1e-6)
    assert np.abs(mean).max() > 0


def test_clip_input_norm_removes_what_is_constant_in_a_clip():
    """input_norm "clip" subtracts each clip's running mean (frames <= t): a per-clip constant offset of the
    inputs (a person's appearance, say) changes no latent; with "dataset" it does. The running mean is causal."""
    from mafrg.methods.reactdiff.data import running_mean

    x = torch.randn(2, 9, 3)
    rm = running_mean(x, axis=1)
    for t in range(9):
        torch.testing.assert_close(rm[:, t], x[:, : t + 1].mean(1))
    np.testing.assert_allclose(running_mean(x[0].numpy()), rm[0].numpy(), rtol=1e-5, atol=1e-6)
    feats = _feats(20, SMALL_DIMS)
    shifted = {s: v + 3.0 * torch.randn(1, 1, v.shape[-1]) for s, v in feats.items()}
    for norm, same in (("clip", True), ("dataset", False)):
        cfg = reactdiff_config({"preset": "demo", "mmt": {"window": 10, "input_norm": norm}})
        torch.manual_seed(0)
        enc = MMT(cfg.mmt, SMALL_DIMS).encoder.eval()
        with torch.no_grad():
            a, b = enc(feats), enc(shifted)
        assert torch.allclose(a, b, atol=1e-4) is same, norm


def test_emotion_loss_option():
    pe, target = torch.full((1, 4, 25), 0.5), torch.zeros(1, 4, 25)
    z3 = torch.zeros(1, 4, 58)
    assert mmt_loss(z3, pe, z3, target).item() == pytest.approx(10 * 0.5)  # paper: L1
    assert mmt_loss(z3, pe, z3, target, "mse").item() == pytest.approx(10 * 0.25)
    with pytest.raises(ValueError, match="emotion_loss"):
        reactdiff_config({"preset": "demo", "mmt": {"emotion_loss": "huber"}}).check()


@pytest.mark.parametrize("online", [False, True])
def test_context_windows_reach_back_never_forward(online):
    """ddim.context_windows 2: z_bc of window w sees speaker windows w-1 and w offline, w-2 and w-1 online."""
    from mafrg.methods.reactdiff.diffusion import BehaviourConstraint

    cfg = reactdiff_config({"preset": "demo", "ddim": {"context_windows": 2}})
    bc = BehaviourConstraint(4, 3, cfg.ddim).eval()
    s = torch.randn(1, 5, 4, 3)
    base = bc(s, online)
    last = 1 if online else 0  # the latest window z_bc(w) may see is w - last
    for src in range(5):
        moved = s.clone()
        moved[:, src] += 1.0
        changed = [w for w in range(5) if not torch.allclose(bc(moved, online)[:, w], base[:, w])]
        assert changed == [w for w in (src + last, src + last + 1) if w < 5], (src, changed)


@pytest.mark.parametrize("preset", ["demo", "tiny"])
def test_unet_output_depends_on_condition_and_timestep(preset):
    """The noise predictor must see z_bc and t. (It did not in the 16-channel demo U-Net while GroupNorm had one
    channel per group: the per-channel embedding a residual block adds was normalised away.)"""
    block = TINY if preset == "tiny" else {"preset": "demo"}
    cfg = reactdiff_config(block)
    diff = LatentDiffusion(cfg.mmt, cfg.ddim)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in diff.parameters():  # out-layers start at zero (ADM): give every weight a value
            p.normal_(0.0, 0.2)
    ws, lat = cfg.mmt.window, cfg.mmt.latent_dim
    x = torch.randn(3, ws, lat)
    c1, c2 = torch.randn(3, cfg.ddim.cond_dim), torch.randn(3, cfg.ddim.cond_dim)
    t1, t2 = torch.full((3,), 2), torch.full((3,), 15)
    with torch.no_grad():
        base = diff.unet(x, t1, c1)
        by_cond = (diff.unet(x, t1, c2) - base).abs().mean() / base.abs().mean()
        by_time = (diff.unet(x, t2, c1) - base).abs().mean() / base.abs().mean()
    assert by_cond > 1e-3 and by_time > 1e-3, (float(by_cond), float(by_time))  # the bug: ~1e-7


@pytest.mark.parametrize("span", ["window", "clip"])
@pytest.mark.parametrize("norm,au_attention,hidden", [("clip", False, 64), ("dataset", False, 64),
                                                      ("clip", True, 32), ("dataset", True, 32)])
def test_encoder_projecting_first_is_the_same_function(norm, au_attention, hidden, span):
    """The encoder centres and standardises its streams after their input projections (MMTEncoder.project):
    latents and weight gradients equal those of the definition -- every stream centred on its running mean,
    standardised and padded at full width, then passed through the layers. Covers Linear and Identity
    projections (VA is 64 wide: Identity at hidden 64, Linear at 32) and the AU self-attention of ``paper``."""
    cfg = reactdiff_config({"preset": "demo", "mmt": {"window": 10, "input_norm": norm, "hidden_dim": hidden,
                                                     "au_self_attention": au_attention}})
    torch.manual_seed(0)
    enc = MMT(cfg.mmt, SMALL_DIMS).encoder
    enc.set_input_stats({s: (torch.randn(d), torch.rand(d) + 0.5) for s, d in SMALL_DIMS.items()})
    g = torch.Generator().manual_seed(1)  # two clips of 23 frames: the last window is padded
    feats = {s: torch.randn(2, 23, d, generator=g) * 2 + 1 for s, d in SMALL_DIMS.items()}

    def definition() -> torch.Tensor:
        x = {s: enc.normalised(s, v, span) for s, v in feats.items()}
        face = enc.au(x["au"], x["au"]) if au_attention else enc.au(x["au"])
        audio = enc.audio(x["wav2vec2"], x["mfcc"])
        for block in enc.intra:
            face = block.va(block.fe(face, x["fe"]), x["va"])
        for layer in enc.inter:
            face = layer(face, audio)
        return enc.to_latent(face).reshape(feats["fe"].shape[0], -1, cfg.mmt.latent_dim)

    fast, ref = enc(feats, span), definition()
    assert fast.shape == ref.shape == (2, 30, cfg.mmt.latent_dim)
    torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-4)
    weights = [enc.au.weight if not au_attention else enc.au.q.weight, enc.intra[0].fe.k.weight,
               enc.audio.q.weight, enc.audio.v.weight]
    for g_fast, g_ref in zip(torch.autograd.grad(fast.square().sum(), weights),
                             torch.autograd.grad(ref.square().sum(), weights)):
        torch.testing.assert_close(g_fast, g_ref, rtol=1e-3, atol=1e-3)
    assert isinstance(enc.intra[0].va.k, torch.nn.Linear) == (hidden != SMALL_DIMS["va"])
