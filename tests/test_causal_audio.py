"""Online variants hear no speech after their frame: causal MFCC windows, the wav2vec2_causal stream, and the
workflow extracting that stream exactly when an enabled online variant reads wav2vec2."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from conftest import REPO
from mafrg.media.audio import AlignedAudio

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _audio(fps: int, frames: int = 48, seed: int = 0) -> AlignedAudio:
    rng = np.random.default_rng(seed)
    n = frames * 16000 // fps
    x = (0.1 * rng.standard_normal(n) + 0.3 * np.sin(np.arange(n) / 9.0)).astype(np.float32)
    return AlignedAudio(x, 16000, fps, frames, 16000, n / 16000, 0, False)


def _after(a: AlignedAudio, t: int, seed: int = 1) -> AlignedAudio:
    """The same audio with every sample after the end of frame t replaced."""
    x = a.samples.copy()
    end = int(a.bounds[t + 1])
    x[end:] = np.random.default_rng(seed).standard_normal(len(x) - end).astype(np.float32)
    return AlignedAudio(x, a.sample_rate, a.fps, a.frames, a.source_rate, a.source_seconds, 0, False)


@pytest.mark.parametrize("fps", [25, 30])
def test_mfcc_of_a_frame_never_hears_the_next_frame(fps):
    from mafrg.features.audio import mfcc_per_frame

    a = _audio(fps)
    for t in (0, 7, 30):
        m, p = mfcc_per_frame(a, 13, 23, True), mfcc_per_frame(_after(a, t), 13, 23, True)
        assert np.array_equal(m[: t + 1], p[: t + 1]), t
        assert not np.array_equal(m[t + 1 :], p[t + 1 :])


@pytest.mark.parametrize("fps", [25, 30])
def test_causal_wav2vec2_sees_the_audio_up_to_the_end_of_its_frame_only(fps):
    from mafrg.features.wav2vec import untrained_wav2vec2, wav2vec2_causal_per_frame, wav2vec2_per_frame, width

    model = untrained_wav2vec2(0)
    a = _audio(fps)
    f = wav2vec2_causal_per_frame(model, True, a, context=0.5)
    assert f.shape == (a.frames, width(16000, fps)) and f.dtype == np.float32 and np.isfinite(f).all()
    for t in (0, 11, 30):
        g = wav2vec2_causal_per_frame(model, True, _after(a, t), context=0.5)
        assert np.array_equal(f[: t + 1], g[: t + 1]), t
        assert not np.allclose(f[t + 1 :], g[t + 1 :])
    # the whole-clip stream is what leaked: speech after frame 11 changes its values before it
    w, w2 = wav2vec2_per_frame(model, True, a), wav2vec2_per_frame(model, True, _after(a, 11))
    assert not np.allclose(w[:12], w2[:12])


def test_a_chunk_of_k_frames_sees_up_to_the_end_of_its_block():
    from mafrg.features.wav2vec import untrained_wav2vec2, wav2vec2_causal_per_frame

    model = untrained_wav2vec2(0)
    a = _audio(30)
    f = wav2vec2_causal_per_frame(model, True, a, context=0.5, chunk=4)
    g = wav2vec2_causal_per_frame(model, True, _after(a, 21), context=0.5, chunk=4)  # block 20..23 holds frame 21
    assert np.array_equal(f[:20], g[:20])
    assert not np.allclose(f[20:22], g[20:22])  # frames 20 and 21 hear frames 22, 23 of their block
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        wav2vec2_causal_per_frame(model, True, a, chunk=0)


def test_the_context_bounds_what_a_frame_hears_before_it():
    """Frame t's window starts ``context`` seconds before frame t: audio earlier than that changes nothing."""
    from mafrg.features.wav2vec import untrained_wav2vec2, wav2vec2_causal_per_frame

    model = untrained_wav2vec2(0)
    a = _audio(25, frames=60)
    x = a.samples.copy()
    x[: 640 * 10] = 0.0  # the first 10 frames silenced
    b = AlignedAudio(x, 16000, 25, 60, 16000, a.source_seconds, 0, False)
    f, g = (wav2vec2_causal_per_frame(model, True, c, context=0.4) for c in (a, b))  # 0.4 s = 10 frames
    assert np.array_equal(f[20:], g[20:]) and not np.allclose(f[:10], g[:10])


def _plan(methods_block):
    from mafrg.plan import Plan

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["methods"] = copy.deepcopy(methods_block)
    return Plan.load(cfg, SCHEMA), cfg


def test_the_causal_stream_is_extracted_exactly_when_an_online_variant_reads_wav2vec2():
    from mafrg.config import ConfigError

    wf, _ = _plan({"ReactDiffK": {"preset": "demo", "variants": ["online"]}})
    assert wf.causal_reads() == {"wav2vec2"}
    assert wf.features().wav2vec2_causal.enabled is True and "wav2vec2_causal" in wf.features().enabled()
    assert wf.features_section()["wav2vec2_causal"]["enabled"] is True
    for block in ({"ReactDiffK": {"preset": "demo", "variants": ["offline"]}},  # offline only
                  {"EfficientListener": {"preset": "demo"}},  # online, but reads raw audio, not wav2vec2
                  {"NN_audio": {}}):  # reads MFCC, which is causal as it is
        wf, _ = _plan(block)
        assert "wav2vec2_causal" not in wf.features().enabled(), block
    wf, cfg = _plan({"ReactDiff": {"preset": "demo"}})
    cfg["features"]["wav2vec2_causal"]["enabled"] = False
    from mafrg.plan import Plan

    with pytest.raises(ConfigError, match="wav2vec2_causal.enabled is false, but an enabled online variant"):
        Plan.load(cfg, SCHEMA).features()


def test_an_online_variant_reads_the_causal_stream_under_the_name_it_asks_for(tmp_path):
    """SpeakerClip.features gives a causal variant wav2vec2_causal's values as 'wav2vec2', the offline one the
    whole-clip stream, and names the file when the causal stream was not extracted."""
    from mafrg.features.parquet import stream_array, write_features
    from mafrg.methods.contract import GenerationContext, SpeakerClip
    from mafrg.paths import Paths

    paths = Paths(results=str(tmp_path), root=str(tmp_path / "data"))
    rel = "Synth/session0/speaker/1"
    whole, causal = np.zeros((5, 4), np.float32), np.ones((5, 4), np.float32)

    def write(streams):
        meta = {"streams": {s: {"dim": 4, "dtype": "float32"} for s in streams}}
        write_features(paths.feature_file("test", rel), rel, "speaker", 25,
                       {s: stream_array(v, "float32") for s, v in streams.items()}, meta)

    write({"wav2vec2": whole, "wav2vec2_causal": causal})

    class Row:
        speaker = rel

    class Data:
        rows = [Row()]
        ragged = False

    def clip(is_causal):
        ctx = GenerationContext(method="m", config=None, seed=0, paths=paths, split="test", rows=(0, 1),
                                causal=is_causal, _data=Data())
        ctx.row_frames = lambda k: 5
        return SpeakerClip(ctx, 0)

    assert np.array_equal(clip(False).features(["wav2vec2"])["wav2vec2"], whole)
    assert np.array_equal(clip(True).features(["wav2vec2"])["wav2vec2"], causal)
    write({"wav2vec2": whole})
    with pytest.raises(ValueError, match="no wav2vec2_causal stream, which the causal variant reads in place of "
                                         "wav2vec2"):
        clip(True).features(["wav2vec2"])
