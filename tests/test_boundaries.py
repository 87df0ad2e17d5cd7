"""What is refused at each boundary (docs/security.md): files that leave the dataset root, settings that would
train nothing, arrays that are not real numbers, malformed rows, split files that make no sense, and what
evaluation says about inputs it scores differently from the challenge."""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from mafrg.constants import EMOTION_COLUMNS
from mafrg.data.layouts.react2024 import LayoutError, clip_files, read_split
from mafrg.data.readers import read_emotion, read_tdmm
from mafrg.errors import DataError


def _mafrg(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mafrg", *args], capture_output=True, text=True, cwd=cwd)


def _a_clip(root: Path, split: str = "val") -> str:
    return read_split(root, split).speaker_path[0]


# ------------------------------------------------------------------------------------ links out of the root
@pytest.mark.parametrize("kind,folder,level", [
    ("video", "Video_files", "session"), ("audio", "Audio_files", "session"), ("emotion", "Emotion", "file"),
    ("tdmm", "3D_FV_files", "file"), ("audio", "Audio_files", "file"), ("video", "Video_files", "file"),
])
def test_a_link_out_of_the_root_is_refused_for_every_modality(dataset_copy, tmp_path, dcfg, kind, folder, level):
    """A session folder or a single file of any modality that is a link to a place outside the dataset root is
    named by validation and never read; the same copy linked from inside the root is fine."""
    from mafrg.data.assemble import assemble_split
    from mafrg.data.validate import validate_dataset

    rel = _a_clip(dataset_copy)
    target = getattr(clip_files(dataset_copy, "val", rel), kind)
    outside = tmp_path / "outside"
    outside.mkdir()
    if level == "session":
        link = dataset_copy / "val" / folder / rel.rsplit("/", 2)[0]
        shutil.copytree(link, outside / "session")
        shutil.rmtree(link)
        link.symlink_to(outside / "session", target_is_directory=True)
    else:
        link = target
        shutil.copy(target, outside / target.name)
        target.unlink()
        link.symlink_to(outside / target.name)
    with pytest.raises(LayoutError, match="resolves outside the dataset root"):
        clip_files(dataset_copy, "val", rel)
    with pytest.raises(Exception) as exc:
        validate_dataset(dataset_copy, ["val"], dcfg)
    assert "resolves outside the dataset root" in str(exc.value) and rel in str(exc.value)
    with pytest.raises(LayoutError, match="resolves outside the dataset root"):
        assemble_split(dataset_copy, "val", dcfg, mirrored=True)
    # a link that stays inside the root is data like any other
    inside = dataset_copy / "linked_copies"
    shutil.move(str(outside / ("session" if level == "session" else target.name)), inside)
    link.unlink()
    link.symlink_to(inside, target_is_directory=level == "session")
    assert clip_files(dataset_copy, "val", rel)


def test_split_file_neighbour_matrix_and_png_frames_must_stay_inside(dataset_copy, tmp_path):
    from mafrg.neighbours import official_path

    elsewhere = tmp_path / "elsewhere.csv"
    shutil.move(dataset_copy / "val.csv", elsewhere)
    (dataset_copy / "val.csv").symlink_to(elsewhere)
    with pytest.raises(LayoutError, match=r"val.csv: \(split file\) resolves outside the dataset root"):
        read_split(dataset_copy, "val")
    (tmp_path / "m.npy").write_bytes(b"")
    (dataset_copy / "neighbour_emotion_test.npy").symlink_to(tmp_path / "m.npy")
    with pytest.raises(LayoutError, match="neighbour_emotion_test.npy: resolves outside"):
        official_path(dataset_copy, "test")
    rel = _a_clip(dataset_copy, "test")
    frames = dataset_copy / "test" / "Video_files" / rel
    frames.mkdir()
    (frames / "1.png").symlink_to(tmp_path / "m.npy")
    (dataset_copy / "test" / "Video_files" / (rel + ".mp4")).unlink()
    with pytest.raises(LayoutError, match=r"1.png: \(a frame of clip .*\) resolves outside the dataset root"):
        clip_files(dataset_copy, "test", rel)


# ------------------------------------------------------------------------------------ split files
def _csv(root: Path, pairs: list[tuple[str, str]]) -> None:
    lines = [",speaker_path,listener_path"] + [f"{i},{s},{l}" for i, (s, l) in enumerate(pairs)]
    (root / "val.csv").write_text("\n".join(lines) + "\n")


def test_an_empty_split_duplicates_and_self_pairs_are_refused(dataset_copy):
    df = read_split(dataset_copy, "val")
    a, b = df.speaker_path[0], df.listener_path[0]
    _csv(dataset_copy, [])
    with pytest.raises(LayoutError, match="lists no speaker/listener pair"):
        read_split(dataset_copy, "val")
    _csv(dataset_copy, [(a, b), (b, a), (a, b)])
    with pytest.raises(LayoutError, match=r"line 4: the pair .* repeats line 2"):
        read_split(dataset_copy, "val")
    _csv(dataset_copy, [(a, a)])
    with pytest.raises(LayoutError, match="line 2: the speaker .* is its own listener"):
        read_split(dataset_copy, "val")
    res = _mafrg("validate", "--root", str(dataset_copy), "--splits", "val")
    assert res.returncode == 2 and "own listener" in res.stderr


@pytest.mark.parametrize("fields", [24, 26])
def test_an_emotion_row_with_the_wrong_field_count_is_named(tmp_path, fields):
    rows = [",".join(EMOTION_COLUMNS)] + [",".join(["0.5"] * 25)] * 3
    rows[2] = ",".join(["0.5"] * fields)
    (tmp_path / "e.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=f"e.csv: data row 2 has {fields} fields, the header has 25"):
        read_emotion(tmp_path / "e.csv")


# ------------------------------------------------------------------------------------ real numbers only
@pytest.mark.parametrize("dtype", ["complex64", "datetime64[s]", "<U3", "timedelta64[s]"])
def test_arrays_that_are_not_real_numbers_are_refused_naming_file_and_dtype(tmp_path, dtype):
    arr = np.zeros((6, 58)).astype(dtype) if "U" not in dtype else np.full((6, 58), "abc")
    np.save(tmp_path / "x.npy", arr)
    with pytest.raises(DataError, match=re.escape(f"x.npy: dtype {np.dtype(arr.dtype)} is not a real number type")):
        read_tdmm(tmp_path / "x.npy")


@pytest.fixture()
def eval_inputs(tmp_path):
    rng = np.random.default_rng(0)
    r, t = 4, 20
    files = {"pred": rng.uniform(0, 1, (r, 10, t, 25)), "listener": rng.uniform(0, 1, (r, t, 25)),
             "speaker": rng.uniform(0, 1, (r, t, 25)), "neighbours": np.eye(r, dtype=np.uint8)}
    for k, v in files.items():
        np.save(tmp_path / f"{k}.npy", v.astype(np.float32) if k != "neighbours" else v)
    return tmp_path


def _evaluate(folder: Path, **replace: np.ndarray):
    for k, v in replace.items():
        np.save(folder / f"{k}.npy", v)
    return _mafrg("evaluate", *[x for k in ("pred", "listener", "speaker", "neighbours")
                                for x in (f"--{k}", str(folder / f"{k}.npy"))], "--out", str(folder / "m.json"))


@pytest.mark.parametrize("which,dtype", [("pred", "complex64"), ("listener", "datetime64[s]"),
                                         ("speaker", "<U2"), ("pred", "timedelta64[s]")])
def test_evaluate_refuses_complex_datetime_and_string_arrays(eval_inputs, which, dtype):
    x = np.load(eval_inputs / f"{which}.npy")
    bad = np.full(x.shape, "ab") if "U" in dtype else x.astype(dtype)
    res = _evaluate(eval_inputs, **{which: bad})
    assert res.returncode == 2 and f"{which}.npy: dtype {np.dtype(bad.dtype)} is not a real number type" in res.stderr
    assert "Traceback" not in res.stderr


def test_evaluate_accepts_integer_and_bool_arrays(eval_inputs):
    listener = np.load(eval_inputs / "listener.npy")
    assert _evaluate(eval_inputs, listener=(listener > 0.5)).returncode == 0


def test_evaluate_refuses_zero_and_odd_row_counts(eval_inputs):
    rng = np.random.default_rng(1)
    res = _evaluate(eval_inputs, pred=rng.uniform(0, 1, (3, 10, 20, 25)).astype(np.float32),
                    listener=rng.uniform(0, 1, (3, 20, 25)).astype(np.float32),
                    speaker=rng.uniform(0, 1, (3, 20, 25)).astype(np.float32), neighbours=np.eye(3, dtype=np.uint8))
    assert res.returncode == 2 and "3 rows; an evaluated split has 2N rows" in res.stderr
    res = _evaluate(eval_inputs, pred=np.zeros((0, 10, 20, 25), np.float32), listener=np.zeros((0, 20, 25), np.float32),
                    speaker=np.zeros((0, 20, 25), np.float32), neighbours=np.zeros((0, 0), np.uint8))
    assert res.returncode == 2 and "no rows to evaluate" in res.stderr


def test_fewer_than_ten_reactions_are_said_in_the_output_and_the_report(eval_inputs):
    from mafrg.report import build_report

    pred = np.load(eval_inputs / "pred.npy")[:, :3]
    res = _evaluate(eval_inputs, pred=pred)
    assert res.returncode == 0 and "3 reactions per speaker clip, not the challenge's 10" in res.stderr
    out = json.loads((eval_inputs / "m.json").read_text())
    assert out["info"]["warnings"]
    out |= {"method": "B_Random", "split": "val"}
    (eval_inputs / "m.json").write_text(json.dumps(out))
    build_report([str(eval_inputs / "m.json")], eval_inputs / "report")
    assert "Fewer than 10 reactions per speaker clip** for B_Random (3)" in (eval_inputs / "report" / "README.md").read_text()


def test_huge_values_still_give_valid_json(eval_inputs):
    pred = np.load(eval_inputs / "pred.npy") * np.float32(1e30)
    res = _evaluate(eval_inputs, pred=pred)
    assert res.returncode == 0, res.stderr
    text = (eval_inputs / "m.json").read_text()

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    out = json.loads(text, parse_constant=refuse)  # NaN / Infinity literals are not JSON
    assert any(out[k] is None for k in ("FRDist", "FRCorr", "FRDiv", "FRVar", "FRDvs"))


# ------------------------------------------------------------------------------------ settings that train nothing
@pytest.mark.parametrize("method,override,key", [
    ("ReactDiffK", {"train": {"epochs": -1}}, "train.epochs"),
    ("ReactDiffK", {"train": {"batch_size": 0}}, "train.batch_size"),
    ("EfficientListener", {"train": {"lr": -1.0}}, "train.lr"),
    ("ReactDiff", {"ddim": {"sample_steps": -1}}, "ddim.sample_steps"),
    ("ReactDiff", {"train_mmt": {"val_fraction": 5}}, "train_mmt.val_fraction"),
    ("ReactDiffK", {"edm": {"sigma_min": 0.0}}, "edm.sigma_min"),
])
def test_settings_that_would_train_nothing_are_refused_while_planning(method, override, key):
    import yaml

    from mafrg.config import ConfigError
    from mafrg.plan import Plan

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["methods"][method] = {**cfg["methods"][method], **override}
    with pytest.raises(ConfigError, match=rf"methods\.{method}\.{key}"):
        Plan.load(cfg, REPO / "workflow" / "schemas" / "config.schema.yaml")


def test_every_numeric_setting_has_a_range_and_every_preset_lies_inside_it():
    from mafrg import methods
    from mafrg.methods.settings import resolve, schema_fragment

    def leaves(node, path):
        if node.get("type") == "object" or "properties" in node:
            for k, v in node.get("properties", {}).items():
                yield from leaves(v, f"{path}.{k}")
        elif node.get("type") == "array" and isinstance(node.get("items"), dict):
            yield from leaves(node["items"], path + "[]")
        elif node.get("type") in ("integer", "number"):
            yield path, node

    unbounded = [p for m in methods.registered() for p, n in leaves(schema_fragment(m), m.name)
                 if not ({"minimum", "exclusiveMinimum"} & set(n))]
    assert not unbounded, f"numeric settings without a range: {unbounded}"
    for m in methods.registered():
        for preset in m.presets:
            resolve(m, {"preset": preset})  # every preset value inside its own schema range


def test_the_cli_checks_the_ranges_too(tmp_path):
    res = _mafrg("train", "--method", "ReactDiffK", "--root", str(tmp_path), "--results", str(tmp_path),
                 "--stage", "edm", "--block", json.dumps({"preset": "demo", "train": {"epochs": 0}}))
    assert res.returncode == 2 and "methods.ReactDiffK.train.epochs: 0 is less than the minimum of 1" in res.stderr


def test_a_training_stage_that_ran_no_optimiser_step_fails(tmp_path):
    import torch

    from mafrg.config import TrainConfig
    from mafrg.training import TrainingError, train

    model = torch.nn.Linear(2, 1)
    with pytest.raises(TrainingError, match="zero optimiser steps"):
        train(model, lambda m, b, s: m(b).sum(), lambda epoch, training: [], TrainConfig(epochs=2), tmp_path,
              {"stage": "x"}, progress=False)
    train(model, lambda m, b, s: m(b).sum(), lambda epoch, training: [torch.ones(1, 2)] if training else [],
          TrainConfig(epochs=1), tmp_path / "ok", {"stage": "y"}, progress=False)


# ------------------------------------------------------------------------------------ weights that are not weights
def test_a_malicious_or_corrupt_wav2vec2_file_is_named(tmp_path):
    pytest.importorskip("transformers")
    from mafrg.extractors.errors import WeightsError
    from mafrg.features.wav2vec import load_wav2vec2

    folder = tmp_path / "w2v"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "wav2vec2", "hidden_size": 768}))
    import pickle

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch PWNED_W2V",))

    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(WeightsError, match=r"pytorch_model.bin: cannot be loaded as wav2vec2 weights"):
        load_wav2vec2(str(folder))
    assert not Path("PWNED_W2V").exists()
    (folder / "pytorch_model.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(WeightsError, match=r"pytorch_model.bin: cannot be loaded as wav2vec2 weights"):
        load_wav2vec2(str(folder))


# ------------------------------------------------------------------------------------ neighbours, early
def test_an_official_neighbour_matrix_that_does_not_fit_fails_at_assembly(dataset_copy, tmp_path):
    np.save(dataset_copy / "neighbour_emotion_val.npy", np.eye(5, dtype=np.uint8))
    settings = json.dumps({"clip_length": 60, "fps": 25})
    res = _mafrg("assemble", "--root", str(dataset_copy), "--split", "val", "--dataset", settings,
                 "--out", str(tmp_path / "val.npz"))
    assert res.returncode == 2 and "neighbour_emotion_val.npy: expected shape" in res.stderr
    assert not (tmp_path / "val.npz").exists()
    res = _mafrg("assemble", "--root", str(dataset_copy), "--split", "val", "--dataset", settings,
                 "--neighbours-source", "build", "--out", str(tmp_path / "val.npz"))
    assert res.returncode == 0, res.stderr
