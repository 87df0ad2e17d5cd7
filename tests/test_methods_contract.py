"""The method contract, checked on every registered method and variant.

For each: output shapes and dtypes (emotion and its 3DMM companion), determinism under a seed, a row shard
equal to those rows of a whole-split generation, and for causal variants: perturbing *every* speaker input
(emotion, 3DMM, feature streams, video frames, audio) from a random frame t -- not a window boundary -- leaves
every output frame < t unchanged. The same again on a MARS tree (30 fps, clips of 40 to 75 frames) for every
method that generates for clips of any length: each row at its speaker's length. Also the registry and its
config resolution.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
import pytest

from method_helpers import FRAMES, TINY_BLOCKS, build_results, copy_results, train_all
from mafrg import methods, predictions
from mafrg.config import ConfigError
from mafrg.methods.contract import GenerationContext, SpeakerClip
from mafrg.methods.settings import resolve, schema_fragment

CASES = [(m.name, v.name) for m in methods.registered() for v in m.variants]


@pytest.fixture(scope="module")
def trained(tiny_dataset, tmp_path_factory):
    """Every trained method trained once (tiny sizes) in one results tree."""
    paths = build_results(tiny_dataset, tmp_path_factory.mktemp("contract") / "results")
    for m in methods.registered():
        for seed in (0, 1) if m.stages else ():
            train_all(paths, m.name, TINY_BLOCKS.get(m.name), seed=seed)
    return paths


@pytest.fixture(scope="module")
def trained_mars(tmp_path_factory):
    """Every method that generates for clips of any length, trained once on a tiny MARS tree."""
    from mars_helpers import make_mars

    from mafrg.config import DatasetConfig

    work = tmp_path_factory.mktemp("contract_mars")
    root = make_mars(work / "data", splits=("train", "val"))
    dataset = DatasetConfig(root=str(root), layout="mars", fps=30)
    paths = build_results(root, work / "results", dataset)
    for m in methods.registered():
        for seed in (0, 1) if m.stages and m.ragged else ():
            train_all(paths, m.name, TINY_BLOCKS.get(m.name), seed=seed, dataset=dataset)
    return paths, dataset


def _ctx(paths, name, rows=(0, 4), seed=0, n=3, dataset=None, cls=GenerationContext, variant=None, block=None):
    """A generation context as the runner builds it (``variant``: a causal one reads the causal streams)."""
    from mafrg.config import DatasetConfig

    m = methods.get(name)
    run = resolve(m, block if block is not None else TINY_BLOCKS.get(name))
    return cls(method=name, config=run.config, seed=seed, paths=paths, split="val", rows=rows, n_predictions=n,
               threads=1, progress=False, dataset=dataset or DatasetConfig(root=paths.root),
               causal=bool(variant and m.variant(variant).causal))


class PerturbedSpeaker(SpeakerClip):
    """The same speaker, with every modality changed from frame t on (audio from sample t * 640)."""

    def __init__(self, ctx, row, t):
        super().__init__(ctx, row)
        self.t = t
        self.rng = np.random.default_rng(row)

    def _bump(self, x, start):
        x = np.array(x, dtype=np.float32 if x.dtype != np.uint8 else np.uint8, copy=True)
        noise = self.rng.normal(0, 2.0, x[start:].shape)
        x[start:] = np.clip(x[start:] + 60 * noise, 0, 255) if x.dtype == np.uint8 else x[start:] + noise
        return x

    @property
    def emotion(self):
        return self._bump(super().emotion, self.t)

    @property
    def tdmm(self):
        return self._bump(super().tdmm, self.t)

    def features(self, streams):
        return {s: self._bump(v.astype(np.float32), self.t).astype(v.dtype) for s, v in super().features(streams).items()}

    def video(self, size):
        return self._bump(super().video(size), self.t)

    def audio(self, sample_rate=16000):
        return self._bump(super().audio(sample_rate), self.t * sample_rate // self.ctx.fps)


class PerturbedContext(GenerationContext):
    t: int = 0

    def speaker(self, row):
        return PerturbedSpeaker(self, row, self.t)


class RecordingSpeaker(SpeakerClip):
    """Notes which feature streams generation asks for."""

    def features(self, streams):
        self.ctx.asked.update(streams)
        return super().features(streams)


class RecordingContext(GenerationContext):
    asked: set

    def speaker(self, row):
        return RecordingSpeaker(self, row)


@pytest.mark.slow
@pytest.mark.parametrize("name,variant", CASES)
def test_contract(trained, name, variant):
    m = methods.get(name)
    ctx = _ctx(trained, name, variant=variant, cls=RecordingContext)
    ctx.asked = set()
    a = m.generate(ctx, variant)
    # it reads the streams it declares (what the workflow extracts, causal counterparts included), no other
    assert ctx.asked <= set(m.feature_streams), (ctx.asked, m.feature_streams)
    a.check(rows=4, alpha=3, frames=FRAMES)
    assert a.emotion.dtype == np.float32 and a.tdmm.dtype == np.float32
    assert a.emotion.shape == (4, 3, FRAMES, 25) and a.tdmm.shape == (4, 3, FRAMES, 58)
    # determinism under a seed
    b = m.generate(_ctx(trained, name, variant=variant), variant)
    np.testing.assert_array_equal(a.emotion, b.emotion)
    np.testing.assert_array_equal(a.tdmm, b.tdmm)
    # a row shard equals those rows of the whole-split generation
    part = m.generate(_ctx(trained, name, rows=(1, 3), variant=variant), variant)
    np.testing.assert_array_equal(part.emotion, a.emotion[1:3])
    np.testing.assert_array_equal(part.tdmm, a.tdmm[1:3])
    # stochastic methods: another run seed gives other reactions, and the alpha reactions differ
    if m.stochastic:
        c = m.generate(_ctx(trained, name, seed=1, variant=variant), variant)
        assert not np.array_equal(a.emotion, c.emotion)


CAUSAL = [c for c in CASES if methods.get(c[0]).variant(c[1]).causal]


@pytest.mark.slow
@pytest.mark.parametrize("name,variant", CAUSAL)
def test_causal_variants_never_read_the_future(trained, name, variant):
    _check_causal(trained, None, name, variant, FRAMES)


def _check_causal(paths, dataset, name, variant, frames):
    """Perturbing every speaker input from frame t leaves every output frame < t unchanged (rows of ``frames``
    frames at least)."""
    m = methods.get(name)
    rng = np.random.default_rng(zlib.crc32(f"{name}/{variant}".encode()))  # the same t on every run
    base = m.generate(_ctx(paths, name, dataset=dataset, variant=variant), variant)
    for t in sorted(set(int(x) for x in rng.integers(3, frames - 3, size=2))):
        ctx = _ctx(paths, name, dataset=dataset, cls=PerturbedContext, variant=variant)
        ctx.t = t
        got = m.generate(ctx, variant)
        for k in range(base.n_rows):
            (e0, d0), (e1, d1) = base.row(k), got.row(k)
            np.testing.assert_array_equal(e1[:, :t], e0[:, :t], err_msg=f"row {k}: emotion before t={t}")
            np.testing.assert_array_equal(d1[:, :t], d0[:, :t], err_msg=f"row {k}: 3DMM before t={t}")
    if not m.reference:  # the perturbation reaches the model: later frames move (some baselines ignore it).
        # Perturbed from an early frame: a method that reacts with a delay (ReactDiff online: one window) may
        # leave every frame unchanged when t falls in the clip's last window.
        ctx = _ctx(paths, name, dataset=dataset, cls=PerturbedContext, variant=variant)
        ctx.t = 3
        got = m.generate(ctx, variant)
        assert not np.array_equal(got.emotion, base.emotion), "perturbing from t=3 changed nothing"


RAGGED = [c for c in CASES if methods.get(c[0]).ragged]


@pytest.mark.slow
@pytest.mark.parametrize("name,variant", RAGGED)
def test_contract_on_clips_of_any_length(trained_mars, name, variant):
    paths, dataset = trained_mars
    m = methods.get(name)
    ctx = _ctx(paths, name, dataset=dataset, variant=variant)
    a = m.generate(ctx, variant)
    lengths = ctx.data.speaker_lengths()[:4]
    assert len(set(lengths.tolist())) > 1  # rows of different lengths
    a.check(rows=4, alpha=3, lengths=lengths)
    for k, t in enumerate(lengths):
        e, d = a.row(k)
        assert e.shape == (3, t, 25) and d.shape == (3, t, 58) and e.dtype == d.dtype == np.float32
        assert np.isfinite(e).all() and np.isfinite(d).all()
    b = m.generate(_ctx(paths, name, dataset=dataset, variant=variant), variant)
    np.testing.assert_array_equal(a.emotion, b.emotion)
    np.testing.assert_array_equal(a.tdmm, b.tdmm)
    part = m.generate(_ctx(paths, name, rows=(1, 3), dataset=dataset, variant=variant), variant)
    for k in (0, 1):
        np.testing.assert_array_equal(part.row(k)[0], a.row(k + 1)[0])
        np.testing.assert_array_equal(part.row(k)[1], a.row(k + 1)[1])
    if m.stochastic:
        c = m.generate(_ctx(paths, name, seed=1, dataset=dataset, variant=variant), variant)
        assert not np.array_equal(a.emotion, c.emotion)


@pytest.mark.slow
@pytest.mark.parametrize("name,variant", [c for c in RAGGED if c in CAUSAL])
def test_causal_variants_never_read_the_future_on_clips_of_any_length(trained_mars, name, variant):
    paths, dataset = trained_mars
    _check_causal(paths, dataset, name, variant, 40)  # the shortest clip of the tree


# ------------------------------------------------------------------------- causality from the raw media
# Frames from which the speaker's media are perturbed. 23 lies early in the clip, so that every method's later
# output moves; 70 lies late in the clip's (75 frames) last window of ReactDiff's paper preset (50 frames),
# whose output frames 50..69 hear speaker window 0: there, a stream that leaks later speech shows. Neither is a
# multiple of any window.
CUTS = (23, 70)


def _rewrite_media(files, fps: int, cut: int | None) -> None:
    """Re-encode a clip's video from its decoded frames and rewrite its audio; with a ``cut``, video frames from
    it on and audio samples from the first sample of that frame on are replaced by noise."""
    import soundfile as sf

    from mafrg.media.audio import frame_bounds
    from mafrg.media.video import probe_video, read_frames
    from mafrg.render import write_mp4
    from mafrg.synth.audio import write_wav

    rng = np.random.default_rng(7)
    frames = read_frames(files.video, np.arange(probe_video(files.video).frames))
    x, rate = sf.read(str(files.audio), dtype="float32")
    if cut is not None:
        frames = frames.copy()
        frames[cut:] = rng.integers(0, 255, frames[cut:].shape, dtype=np.uint8)
        start = int(frame_bounds(cut, rate, fps)[-1])
        x = x.copy()
        x[start:] = (0.3 * rng.standard_normal(len(x) - start)).astype(np.float32)
    write_mp4((f[..., ::-1] for f in frames), files.video, fps=fps)
    write_wav(files.audio, x, rate)


@pytest.fixture(scope="module")
def raw_media(trained_mars, tmp_path_factory):
    """Copies of the trained MARS tree that differ only in one val row's speaker files: ``base`` re-encoded as they
    are, and one per cut with the media perturbed from that frame on; that clip's features extracted again from
    its files in each (the extraction every stream takes). Returns ({tree: (paths, dataset, files)}, row)."""
    import dataclasses
    import shutil

    from method_helpers import feature_config
    from mafrg.data.assemble import load_split
    from mafrg.data.layouts import get_layout
    from mafrg.features.extract import extract_clip
    from mafrg.media.video import plan_grid, read_frames
    from mafrg.paths import Paths

    paths, dataset = trained_mars
    work = tmp_path_factory.mktemp("raw_media")
    val = load_split(paths.split_data("val"))
    row = int(np.argmax(val.speaker_lengths()))  # the longest clip (75 frames)
    rel = val.rows[row].speaker
    assert val.speaker_lengths()[row] > max(CUTS) + 2
    trees = {}
    for cut in (None, *CUTS):
        name = "base" if cut is None else cut
        root, results = work / str(name) / "data", work / str(name) / "results"
        shutil.copytree(paths.root, root)
        shutil.copytree(paths.results, results)
        ds = dataclasses.replace(dataset, root=str(root))
        p = Paths(results=str(results), root=str(root))
        layout = get_layout(ds, root)
        files = layout.clip_files("val", rel)
        _rewrite_media(files, ds.fps, cut)
        extract_clip(layout, "val", rel, p.feature_file("val", rel), feature_config(), ds, progress=False)
        trees[name] = (p, ds, files)
    base = trees["base"][2]
    a = read_frames(base.video, plan_grid(base.video, dataset.fps).indices)
    for cut in CUTS:
        b = read_frames(trees[cut][2].video, plan_grid(trees[cut][2].video, dataset.fps).indices)
        assert np.array_equal(a[:cut], b[:cut]) and not np.array_equal(a[cut:], b[cut:])  # the codec keeps the past
    return trees, row


RAW_CAUSAL = [c for c in RAGGED if c in CAUSAL]


def _same_past(out: dict, cut: int, what: str, moves: bool) -> None:
    """Output frames before ``cut`` equal on the base and the perturbed media; with ``moves``, later ones not."""
    (e0, d0), (e1, d1) = out["base"], out[cut]
    np.testing.assert_array_equal(e1[:, :cut], e0[:, :cut], err_msg=f"{what}: emotion before frame {cut}")
    np.testing.assert_array_equal(d1[:, :cut], d0[:, :cut], err_msg=f"{what}: 3DMM before frame {cut}")
    if moves:  # the perturbation reaches the model
        assert not np.array_equal(e1, e0), f"{what}: the media perturbed from frame {cut} changed nothing"


@pytest.mark.slow
@pytest.mark.parametrize("name,variant", RAW_CAUSAL)
def test_online_variants_never_hear_or_see_the_future_in_the_raw_media(raw_media, name, variant):
    """From the clip's files: perturbing the speaker's video frames and audio samples from frame t on, then
    extracting and generating again, leaves every output frame before t unchanged (the whole-clip wav2vec2 stream
    fails this; its causal counterpart is what online variants read)."""
    m = methods.get(name)
    trees, row = raw_media
    out = {tree: m.generate(_ctx(p, name, rows=(row, row + 1), dataset=ds, variant=variant), variant).row(0)
           for tree, (p, ds, _) in trees.items()}
    for cut in CUTS:
        _same_past(out, cut, f"{name} {variant} (demo)", moves=cut == CUTS[0] and bool({"features", "media"} & set(m.reads)))


def _paper_reaction(name: str, sp, fps: int) -> tuple[np.ndarray, np.ndarray]:
    """Two online reactions of a method at its ``paper`` preset (published sizes, random weights drawn from a
    fixed seed, training statistics fixed), to one speaker read through the contract as generation reads it."""
    import dataclasses

    import torch

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)

    def stats(d):
        return 0.1 * torch.randn(d, generator=g), 0.5 + torch.rand(d, generator=g)

    def awake(*models):
        """Zero-initialised output layers (ADM's, for one) would keep the condition from reaching the output
        at random weights, and the probe would pass for nothing: give them small random values."""
        with torch.no_grad():
            for mod in models:
                for prm in mod.parameters():
                    if prm.ndim > 1 and not prm.any():
                        prm.copy_(0.02 * torch.randn(prm.shape, generator=g))
        return models

    if name == "ReactDiff":
        from mafrg.methods.reactdiff import data as rd
        from mafrg.methods.reactdiff.config import paper
        from mafrg.methods.reactdiff.diffusion import LatentDiffusion
        from mafrg.methods.reactdiff.mmt import MMT
        from mafrg.methods.reactdiff.stages import react

        cfg = paper()
        assert cfg.mmt.au_self_attention and cfg.mmt.input_norm == "dataset"  # the paper paths
        f = sp.features(rd.STREAMS)
        mmt = MMT(cfg.mmt, {s: v.shape[1] for s, v in f.items()})
        mmt.encoder.set_input_stats({s: stats(v.shape[1]) for s, v in f.items()})
        diff = LatentDiffusion(cfg.mmt, cfg.ddim)
        feats = {s: torch.from_numpy(np.asarray(v, np.float32))[None] for s, v in f.items()}
        awake(mmt, diff)
        e, d = react(mmt.eval(), diff.eval(), feats, sp.frames, 2, True, 3, cfg.ddim.eta, [0])
        return e[0], d[0]
    if name == "ReactDiffK":
        from mafrg.methods.reactdiffk.config import paper
        from mafrg.methods.reactdiffk.model import ReactDiffK, modalities
        from mafrg.methods.reactdiffk.stages import react, speaker_streams

        cfg = paper()
        assert cfg.context == 0 and cfg.net.dropout > 0  # the paper paths
        cfg = dataclasses.replace(cfg, audio_width=sp.features(["wav2vec2"])["wav2vec2"].shape[1])
        model = ReactDiffK(cfg)
        model.set_stats("target", *stats(model.target_mean.numel()))
        streams = speaker_streams(sp, cfg)
        for s in modalities(cfg):
            model.set_stats(s, *stats(streams[s].shape[1]))
        awake(model)
        e, d = react(model.eval(), [streams], 2, True, 3, cfg.guidance.scale, [0], edm=cfg.edm)
        return e[0], d[0]
    from mafrg.methods.efficient_listener.config import paper
    from mafrg.methods.efficient_listener.model import FacialActionDiffusion
    from mafrg.methods.efficient_listener.stages import SAMPLE_RATE, react

    cfg = paper()
    assert len(cfg.elnet.down_dims) == 3  # the paper's 3-level U-Net
    model = FacialActionDiffusion(cfg)
    p = cfg.perception
    if p.audio:
        model.perception.set_mel_stats(*stats(p.mel_windows * p.n_mels))
    lo = -1 - torch.rand(model.lo.numel(), generator=g)
    model.set_target_range(lo, lo + 2)
    video = sp.video(p.image_size) if p.video else None
    audio = sp.audio(SAMPLE_RATE) if p.audio else None
    awake(model)
    return react(model.eval(), sp.frames, video, audio, 2, True, cfg.fad.sample_steps, 0, fps)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ReactDiff", "ReactDiffK", "EfficientListener"])
def test_online_variants_at_the_paper_presets_are_causal_from_the_raw_media(raw_media, name):
    """The same probe through each method's paper-preset model (ReactDiff's AU self-attention and dataset
    normalisation, ReactDiff-K's context 0 and dropout, Efficient Listener's 3-level U-Net)."""
    trees, row = raw_media
    out = {}
    for tree, (p, ds, _) in trees.items():
        ctx = _ctx(p, name, rows=(row, row + 1), dataset=ds, variant="online", block={})
        out[tree] = _paper_reaction(name, ctx.speaker(row), ds.fps)
    for cut in CUTS:
        _same_past(out, cut, f"{name} online (paper)", moves=cut == CUTS[0])


def test_registry_lists_methods_with_variants_and_stages():
    names = [m.name for m in methods.registered()]
    assert names[:5] == ["GT", "B_Random", "B_Mime", "B_MeanSeq", "B_MeanFr"] and "ReactDiff" in names
    rd = methods.get("ReactDiff")
    assert [(v.name, v.causal) for v in rd.variants] == [("offline", False), ("online", True)]
    assert [s.name for s in rd.stages] == ["mmt", "ddim"] and rd.label("online") == "ReactDiff_online"
    assert methods.by_label("ReactDiff_online") == (rd, "online") and methods.by_label("GT")[0].name == "GT"
    with pytest.raises(ValueError, match="unknown method 'Nope'"):
        methods.get("Nope")


def test_a_training_stage_runs_with_its_own_settings_only():
    """A stage's command gets its preset plus the settings it depends on (Stage.settings), and that is what
    reruns it: it resolves to the run's config there, and sampling or later-stage settings do not reach it."""
    import copy
    import json

    import yaml
    from workflow_helpers import REPO
    from mafrg.methods.contract import to_jsonable
    from mafrg.plan import Plan

    rd = methods.get("ReactDiff")
    base = yaml.safe_load((REPO / "config.yaml").read_text())

    def blocks(block):
        cfg = copy.deepcopy(base)
        cfg["methods"] = {"ReactDiff": block}
        wf = Plan.load(cfg, REPO / "workflow" / "schemas" / "config.schema.yaml")
        return {s.name: json.loads(wf.stage_block_json("ReactDiff", s.name)) for s in rd.stages}

    demo = blocks({"preset": "demo"})
    full = resolve(rd, {"preset": "demo"}).config
    for stage, block in demo.items():
        got = resolve(rd, block).config
        assert all(to_jsonable(getattr(got, k)) == to_jsonable(getattr(full, k)) for k in block if k != "preset")
    assert blocks({"preset": "demo", "ddim": {"sample_steps": 5, "eta": 0.5}}) == demo  # sampling only
    wider = blocks({"preset": "demo", "ddim": {"cond_dim": 32}})
    assert wider["mmt"] == demo["mmt"] and wider["ddim"] != demo["ddim"]  # a DDIM size never retrains the MMT


def test_blocks_resolve_presets_overrides_and_reject_unknown_keys():
    rd = methods.get("ReactDiff")
    run = resolve(rd, {"preset": "demo", "seeds": 3, "seed": 5, "ddim": {"sample_steps": 7}})
    assert run.seeds == (5, 6, 7) and run.config.ddim.sample_steps == 7 and run.config.mmt.hidden_dim == 64
    assert resolve(rd, {}).config.mmt.hidden_dim == 1024  # default preset: paper
    with pytest.raises(ConfigError, match="unknown key methods.ReactDiff.ddim.steps"):
        resolve(rd, {"ddim": {"steps": 3}})
    with pytest.raises(ConfigError, match="does not depend on a seed"):
        resolve(methods.get("GT"), {"seeds": 2})
    with pytest.raises(ValueError, match="has no variant 'live'"):
        resolve(rd, {"variants": ["live"]})
    frag = schema_fragment(rd)
    assert frag["properties"]["variants"]["items"] == {"enum": ["offline", "online"]}
    assert frag["properties"]["ddim"]["properties"]["beta_schedule"] == {"enum": ["squaredcos_cap_v2", "linear", "scaled_linear"]}
    assert frag["properties"]["preset"] == {"enum": ["demo", "paper"], "description": "starting configuration (default paper)"}


def test_prediction_format_is_checked_before_writing(tmp_path):
    good = predictions.Reactions(np.zeros((2, 3, 5, 25), np.float32), np.zeros((2, 3, 5, 58), np.float32))
    predictions.write(tmp_path / "r.npy", good, {"rows": [0, 2]})
    assert predictions.load_3dmm(tmp_path / "r.npy").shape == (2, 3, 5, 58)
    bad = predictions.Reactions(good.emotion.copy(), good.tdmm[:, :, :4])
    with pytest.raises(predictions.PredictionError, match="3DMM must be"):
        predictions.write(tmp_path / "s.npy", bad, {})
    nan = predictions.Reactions(good.emotion.copy(), good.tdmm.copy())
    nan.emotion[1, 0, 2, 3] = np.nan
    with pytest.raises(predictions.PredictionError, match="NaN or inf in row 1"):
        predictions.write(tmp_path / "s.npy", nan, {})
    assert not (tmp_path / "s.npy").exists()


TRAINED = [c for c in CASES if methods.get(c[0]).stages]


@pytest.mark.slow
@pytest.mark.parametrize("name,variant", TRAINED)
def test_generation_device_and_precision(trained, name, variant):
    """generation.device / precision: auto (the default) on a machine without a GPU is the CPU, bit for bit; cuda
    without one is an error naming the setting; bf16 autocast changes the reactions, within the stated
    tolerance."""
    from dataclasses import replace

    m = methods.get(name)
    base = replace(_ctx(trained, name, variant=variant), device="cpu")
    a = m.generate(base, variant)
    if not torch.cuda.is_available():
        auto = m.generate(_ctx(trained, name, variant=variant), variant)
        np.testing.assert_array_equal(auto.emotion, a.emotion)
        with pytest.raises(RuntimeError, match="generation.device is 'cuda' but this job sees no CUDA device"):
            m.generate(replace(base, device="cuda"), variant)
    half = m.generate(replace(base, precision="bf16"), variant)
    assert np.isfinite(half.emotion).all() and np.isfinite(half.tdmm).all()
    assert not np.array_equal(half.emotion, a.emotion)  # the autocast took effect
    assert np.abs(half.emotion - a.emotion).mean() < BF16_MEAN_ABS, np.abs(half.emotion - a.emotion).mean()


BF16_MEAN_ABS = 0.05  # emotion values lie in [0, 1] (valence/arousal in [-1, 1]); docs/usage.md "On a GPU"


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on a GPU machine)")
@pytest.mark.parametrize("name,variant", TRAINED)
def test_generation_on_a_gpu_samples_the_cpus_noise(trained, name, variant):
    """On a GPU the reactions are the CPU's up to float rounding: the noise is drawn on the CPU either way."""
    from dataclasses import replace

    m = methods.get(name)
    base = _ctx(trained, name, variant=variant)
    cpu, gpu = m.generate(base, variant), m.generate(replace(base, device="cuda"), variant)
    np.testing.assert_allclose(gpu.emotion, cpu.emotion, atol=1e-3)
    np.testing.assert_allclose(gpu.tdmm, cpu.tdmm, atol=1e-2 * max(1.0, float(np.abs(cpu.tdmm).max())))
