"""Extraction into feature files: networks from saved weight files, metadata, reuse per stream, bad input, reader API."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from features_helpers import save_torchscript, save_tiny_wav2vec2
from mafrg import features
from mafrg.config import DatasetConfig
from mafrg.data.layouts import get_layout
from mafrg.data.layouts.react2024 import clip_files, read_split
from mafrg.errors import DataError
from mafrg.features.config import FeatureConfig
from mafrg.features.extract import extract_clip
from mafrg.features.networks import load_visual
from mafrg.extractors.errors import WeightsError

DCFG = DatasetConfig(clip_length=60)


def _layout(root):
    return get_layout(DatasetConfig(root=str(root)))


def small_cfg(**over) -> FeatureConfig:
    cfg = FeatureConfig.from_dict({"threads": 1, "au": {"dim": 49 * 8, "dtype": "float16"}, **over})
    return cfg


def _rel(root, split="val", i=0):
    return read_split(root, split).speaker_path[i]


def test_saved_torchscript_weight_files_load_and_are_checked(tmp_path):
    va = save_torchscript(tmp_path / "va.pt", 64)
    au = save_torchscript(tmp_path / "au.pt", 49 * 512, tokens=49)
    net, fmt = load_visual("va", FeatureConfig.from_dict({"va": {"weights": str(va)}}))
    assert net(__import__("torch").zeros(3, 3, 224, 224)).shape == (3, 64)
    assert fmt == "TorchScript feature network (features = net(x))"
    load_visual("au", FeatureConfig.from_dict({"au": {"weights": str(au)}}))  # (N, 49, 512) flattened per frame
    with pytest.raises(WeightsError, match=r"va.pt: the fe network \(TorchScript feature network .*\) gives 64 values "
                                           r"per frame .* features.fe.dim expects 512"):
        load_visual("fe", FeatureConfig.from_dict({"fe": {"weights": str(va)}}))
    with pytest.raises(WeightsError, match=r"features.va.weights: .*elim.pt not found \(va stream\). Put ELIM's"):
        load_visual("va", FeatureConfig.from_dict({"va": {"weights": str(tmp_path / "elim.pt")}}))
    (tmp_path / "bad.pt").write_bytes(b"junk")
    with pytest.raises(WeightsError, match="bad.pt: not a readable PyTorch weights file"):
        load_visual("va", FeatureConfig.from_dict({"va": {"weights": str(tmp_path / "bad.pt")}}))


def test_untrained_networks_are_deterministic():
    import torch

    x = torch.randn(2, 3, 224, 224)

    def au(seed):
        return load_visual("au", FeatureConfig.from_dict({"untrained_seed": seed}))[0](x)

    a, b, c = au(3), au(3), au(4)
    assert torch.equal(a, b) and not torch.equal(a, c) and a.reshape(2, -1).shape[1] == 25088


def test_feature_file_contents_and_metadata(tiny_dataset, tmp_path):
    rel = _rel(tiny_dataset)
    out = tmp_path / "s.parquet"
    assert "wav2vec2_causal" not in small_cfg().enabled()  # "auto": only when the workflow's online variants read it
    res = extract_clip(_layout(tiny_dataset), "val", rel, out, small_cfg(wav2vec2_causal={"enabled": True}), DCFG,
                       progress=False)
    assert sorted(res.computed) == sorted(features.STREAMS) and res.frames == 61
    clip = features.load_clip(out)
    assert clip["va"].shape == (61, 64) and clip["au"].shape == (61, 392) and clip["fe"].shape == (61, 512)  # ResMaskNet's width
    assert clip["mfcc"].shape == (61, 26) and clip["wav2vec2"].shape == (61, 1536)
    assert clip["wav2vec2_causal"].shape == (61, 1536)
    assert np.allclose(clip["timestamp"], np.arange(61) / 25)
    t = pq.read_table(out)
    assert t.schema.field("au").type.value_type == __import__("pyarrow").float16()
    assert set(t.column_names) == {"clip", "person", "frame", "timestamp", *features.STREAMS}
    meta = clip["meta"]
    site, session, person, num = rel.split("/")
    assert meta["clip"] == f"{site}/{session}/{num}" and meta["person"] == person
    for s in features.STREAMS:
        info = meta["streams"][s]
        assert {"dim", "dtype", "identity", "settings", "settings_hash", "source_sha256"} <= set(info)
    assert meta["streams"]["va"]["identity"].startswith("untrained:va:seed0:code")
    assert set(meta["untrained"]) == {"va", "au", "fe", "wav2vec2", "wav2vec2_causal"}
    assert meta["source"]["video_sha256"] and meta["code_version"] and meta["config_hash"]
    # only requested columns are read
    only = features.load_clip(out, ["mfcc"])
    assert "mfcc" in only and "au" not in only
    ds = features.open_dataset([out])
    assert ds.to_table(columns=["frame", "va"]).num_columns == 2


def test_reuse_recomputes_only_changed_stream(tiny_dataset, tmp_path, monkeypatch):
    rel = _rel(tiny_dataset)
    out = tmp_path / "s.parquet"
    va_pt = save_torchscript(tmp_path / "va.pt", 64, seed=1)
    extract_clip(_layout(tiny_dataset), "val", rel, out, small_cfg(), DCFG, progress=False)
    before = features.load_clip(out, dtype=None)
    res = extract_clip(_layout(tiny_dataset), "val", rel, out, small_cfg(), DCFG, progress=False)
    assert res.computed == [] and len(res.reused) == 5
    res = extract_clip(_layout(tiny_dataset), "val", rel, out, small_cfg(va={"weights": str(va_pt)}), DCFG, progress=False)
    assert res.computed == ["va"]
    after = features.load_clip(out, dtype=None)
    for s in ("au", "fe", "mfcc", "wav2vec2"):
        np.testing.assert_array_equal(before[s], after[s])
    assert not np.array_equal(before["va"], after["va"])
    assert after["meta"]["streams"]["va"]["identity"].startswith("sha256:")
    # a changed source video invalidates the video streams only
    f = clip_files(tiny_dataset, "val", rel)
    copy = tmp_path / "data"
    shutil.copytree(tiny_dataset, copy)
    other = clip_files(copy, "val", _rel(copy, i=1))
    shutil.copy(other.video, clip_files(copy, "val", rel).video)
    res = extract_clip(_layout(copy), "val", rel, out, small_cfg(va={"weights": str(va_pt)}), DCFG, progress=False)
    assert sorted(res.computed) == ["au", "fe", "va"]


def test_changed_untrained_network_code_is_not_reused(tiny_dataset, tmp_path, monkeypatch):
    """Untrained stand-ins are identified by seed *and* the code that builds them: edit that code and the
    untrained streams are recomputed instead of silently kept from the old networks."""
    from mafrg.features import networks

    rel = _rel(tiny_dataset)
    out = tmp_path / "s.parquet"
    extract_clip(_layout(tiny_dataset), "val", rel, out, small_cfg(), DCFG, progress=False)
    monkeypatch.setattr(networks, "_untrained_code", lambda: "edited")
    res = extract_clip(_layout(tiny_dataset), "val", rel, out, small_cfg(), DCFG, progress=False)
    assert sorted(res.computed) == ["au", "fe", "va", "wav2vec2"] and res.reused == ["mfcc"]


def test_transformers_wav2vec2_through_extraction(tiny_dataset, tmp_path):
    w2v = save_tiny_wav2vec2(tmp_path / "w2v")
    out = tmp_path / "s.parquet"
    cfg = small_cfg(wav2vec2={"model_dir": str(w2v)})
    extract_clip(_layout(tiny_dataset), "val", _rel(tiny_dataset), out, cfg, DCFG, progress=False)
    meta = features.file_metadata(out)
    assert meta["streams"]["wav2vec2"]["identity"].startswith("sha256:") and "wav2vec2" not in meta["untrained"]


def test_bad_input_leaves_no_partial_feature_file(dataset_copy, tmp_path):
    rel = _rel(dataset_copy)
    out = tmp_path / "s.parquet"
    f = clip_files(dataset_copy, "val", rel)
    raw = f.video.read_bytes()
    f.video.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(DataError, match=str(f.video)):
        extract_clip(_layout(dataset_copy), "val", rel, out, small_cfg(), DCFG, progress=False)
    assert list(tmp_path.glob("*.parquet")) == [] and not list(tmp_path.glob(".*tmp*"))
    # a good feature file stays untouched when a later extraction fails (atomic replace)
    good = _rel(dataset_copy, i=1)
    extract_clip(_layout(dataset_copy), "val", good, out, small_cfg(), DCFG, progress=False)
    stamp = out.read_bytes()
    clip_files(dataset_copy, "val", good).audio.unlink()
    with pytest.raises(DataError, match="audio file missing"):
        extract_clip(_layout(dataset_copy), "val", good, out, small_cfg(mfcc={"num_ceps": 13}), DCFG, progress=False)
    assert out.read_bytes() == stamp


def test_session_job_shares_networks_and_keeps_finished_feature_files(dataset_copy, tmp_path):
    """One job per session loads its networks once: every feature file equals the one a job of its own writes. A job
    failing on a later clip keeps the feature files it finished and writes no record; the rerun reuses those feature files
    whole and computes only the rest."""
    import json

    from mafrg.features.extract import extract_session

    rels = _layout(dataset_copy).clips("val")
    (session, clips), = _layout(dataset_copy).sessions("val").items()
    assert clips == rels and len(rels) == 4 and session == rels[0].rsplit("/", 2)[0]
    alone = {}
    for rel in rels:
        alone[rel] = tmp_path / "alone" / f"{rel}.parquet"
        extract_clip(_layout(dataset_copy), "val", rel, alone[rel], small_cfg(), DCFG, progress=False)

    results, record = tmp_path / "results", tmp_path / "results/features/val/session.json"
    video = clip_files(dataset_copy, "val", rels[2]).video
    raw = video.read_bytes()
    video.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(DataError, match=str(video)):
        extract_session(_layout(dataset_copy), "val", session, rels, str(results), record, small_cfg(), DCFG, progress=False)
    path = {rel: results / "features/val" / f"{rel}.parquet" for rel in rels}
    assert [path[r].is_file() for r in rels] == [True, True, False, False] and not record.exists()

    video.write_bytes(raw)
    done = extract_session(_layout(dataset_copy), "val", session, rels, str(results), record, small_cfg(), DCFG,
                           progress=False)
    assert [r.computed for r in done[:2]] == [[], []] and all(len(r.computed) == 5 for r in done[2:])
    rec = json.loads(record.read_text())
    assert [s["path"] for s in rec["files"]] == [str(path[r]) for r in rels]
    for rel in rels:
        a, b = features.load_clip(alone[rel], dtype=None), features.load_clip(path[rel], dtype=None)
        assert a["meta"] == b["meta"]
        for stream in ("va", "au", "fe", "mfcc", "wav2vec2"):
            np.testing.assert_array_equal(a[stream], b[stream])
    with pytest.raises(ValueError, match="clip\\(s\\) of other sessions"):
        extract_session(_layout(dataset_copy), "val", "Synth/other", rels, str(results), record, small_cfg(), DCFG)
    # the split's manifest reads the feature files from the records; one deleted by hand is named, with the record
    from mafrg.features.manifest import session_files

    assert session_files([str(record)]) == [str(path[r]) for r in rels]
    path[rels[1]].unlink()
    with pytest.raises(ValueError, match=f"{path[rels[1]]}: feature file listed by {record} is missing .* delete "
                                         f"{record} to re-extract its session"):
        session_files([str(record)])


def test_short_clip_and_padding(tiny_dataset, tmp_path):
    rel = _rel(tiny_dataset)
    with pytest.raises(DataError, match="shorter than clip_length 80"):
        extract_clip(_layout(tiny_dataset), "val", rel, tmp_path / "a.parquet", small_cfg(), DatasetConfig(clip_length=80),
                      progress=False)
    res = extract_clip(_layout(tiny_dataset), "val", rel, tmp_path / "b.parquet", small_cfg(),
                        DatasetConfig(clip_length=64, pad_short=True), progress=False)
    clip = features.load_clip(tmp_path / "b.parquet")
    assert res.frames == 64 and clip["meta"]["source"]["padded_frames"] == 3
    np.testing.assert_array_equal(clip["va"][61], clip["va"][60])


def test_feature_config_errors():
    from mafrg.config import ConfigError

    with pytest.raises(ConfigError, match="unknown key\\(s\\) in features.va: chekpoint"):
        FeatureConfig.from_dict({"va": {"chekpoint": "x"}})
    with pytest.raises(ConfigError, match="features.au.dtype"):
        FeatureConfig.from_dict({"au": {"dtype": "int8"}})
    cfg = FeatureConfig()
    assert cfg.stream_hash("va", 25) != FeatureConfig.from_dict({"va": {"dim": 32}}).stream_hash("va", 25)
    assert cfg.stream_hash("au", 25) == FeatureConfig.from_dict({"va": {"dim": 32}}).stream_hash("au", 25)
    assert cfg.stream_hash("va", 25) == FeatureConfig.from_dict({"va": {"batch_size": 1}}).stream_hash("va", 25)
