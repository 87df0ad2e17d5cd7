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


def _ctx(paths, name, rows=(0, 4), seed=0, n=3, dataset=None, cls=GenerationContext):
    from mafrg.config import DatasetConfig

    run = resolve(methods.get(name), TINY_BLOCKS.get(name))
    return cls(method=name, config=run.config, seed=seed, paths=paths, split="val", rows=rows, n_predictions=n,
               threads=1, progress=False, dataset=dataset or DatasetConfig(root=paths.root))


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


@pytest.mark.slow
@pytest.mark.parametrize("name,variant", CASES)
def test_contract(trained, name, variant):
    m = methods.get(name)
    ctx = _ctx(trained, name)
    a = m.generate(ctx, variant)
    a.check(rows=4, alpha=3, frames=FRAMES)
    assert a.emotion.dtype == np.float32 and a.tdmm.dtype == np.float32
    assert a.emotion.shape == (4, 3, FRAMES, 25) and a.tdmm.shape == (4, 3, FRAMES, 58)
    # determinism under a seed
    b = m.generate(_ctx(trained, name), variant)
    np.testing.assert_array_equal(a.emotion, b.emotion)
    np.testing.assert_array_equal(a.tdmm, b.tdmm)
    # a row shard equals those rows of the whole-split generation
    part = m.generate(_ctx(trained, name, rows=(1, 3)), variant)
    np.testing.assert_array_equal(part.emotion, a.emotion[1:3])
    np.testing.assert_array_equal(part.tdmm, a.tdmm[1:3])
    # stochastic methods: another run seed gives other reactions, and the alpha reactions differ
    if m.stochastic:
        c = m.generate(_ctx(trained, name, seed=1), variant)
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
    base = m.generate(_ctx(paths, name, dataset=dataset), variant)
    for t in sorted(set(int(x) for x in rng.integers(3, frames - 3, size=2))):
        ctx = _ctx(paths, name, dataset=dataset, cls=PerturbedContext)
        ctx.t = t
        got = m.generate(ctx, variant)
        for k in range(base.n_rows):
            (e0, d0), (e1, d1) = base.row(k), got.row(k)
            np.testing.assert_array_equal(e1[:, :t], e0[:, :t], err_msg=f"row {k}: emotion before t={t}")
            np.testing.assert_array_equal(d1[:, :t], d0[:, :t], err_msg=f"row {k}: 3DMM before t={t}")
    if not m.reference:  # the perturbation reaches the model: later frames move (some baselines ignore it).
        # Perturbed from an early frame: a method that reacts with a delay (ReactDiff online: one window) may
        # leave every frame unchanged when t falls in the clip's last window.
        ctx = _ctx(paths, name, dataset=dataset, cls=PerturbedContext)
        ctx.t = 3
        got = m.generate(ctx, variant)
        assert not np.array_equal(got.emotion, base.emotion), "perturbing from t=3 changed nothing"


RAGGED = [c for c in CASES if methods.get(c[0]).ragged]


@pytest.mark.slow
@pytest.mark.parametrize("name,variant", RAGGED)
def test_contract_on_clips_of_any_length(trained_mars, name, variant):
    paths, dataset = trained_mars
    m = methods.get(name)
    ctx = _ctx(paths, name, dataset=dataset)
    a = m.generate(ctx, variant)
    lengths = ctx.data.speaker_lengths()[:4]
    assert len(set(lengths.tolist())) > 1  # rows of different lengths
    a.check(rows=4, alpha=3, lengths=lengths)
    for k, t in enumerate(lengths):
        e, d = a.row(k)
        assert e.shape == (3, t, 25) and d.shape == (3, t, 58) and e.dtype == d.dtype == np.float32
        assert np.isfinite(e).all() and np.isfinite(d).all()
    b = m.generate(_ctx(paths, name, dataset=dataset), variant)
    np.testing.assert_array_equal(a.emotion, b.emotion)
    np.testing.assert_array_equal(a.tdmm, b.tdmm)
    part = m.generate(_ctx(paths, name, rows=(1, 3), dataset=dataset), variant)
    for k in (0, 1):
        np.testing.assert_array_equal(part.row(k)[0], a.row(k + 1)[0])
        np.testing.assert_array_equal(part.row(k)[1], a.row(k + 1)[1])
    if m.stochastic:
        c = m.generate(_ctx(paths, name, seed=1, dataset=dataset), variant)
        assert not np.array_equal(a.emotion, c.emotion)


@pytest.mark.slow
@pytest.mark.parametrize("name,variant", [c for c in RAGGED if c in CAUSAL])
def test_causal_variants_never_read_the_future_on_clips_of_any_length(trained_mars, name, variant):
    paths, dataset = trained_mars
    _check_causal(paths, dataset, name, variant, 40)  # the shortest clip of the tree


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
