"""A tiny results tree (assembled splits, feature shards and manifests) for training and generating with any
registered method outside Snakemake, laid out exactly as the workflow lays it out (mafrg.paths)."""

from __future__ import annotations

import shutil
from pathlib import Path

from mafrg.paths import Paths

# Tiny configurations of every built-in method: a few seconds to train on 2 cores.
TINY_BLOCKS = {
    "ReactDiff": {"preset": "demo",
                  "mmt": {"window": 10, "hidden_dim": 16, "heads": 2, "latent_dim": 8, "map_hidden": 16, "intra_depth": 1,
                          "inter_layers": 1, "decoder_layers": 1, "decoder_heads": 2, "decoder_ff": 16},
                  "ddim": {"cond_dim": 16, "cond_groups": 4, "model_channels": 8, "channel_mult": [1, 2], "num_res_blocks": 1,
                           "attention_levels": [1], "sample_steps": 4},
                  "crop": 20,
                  "train_mmt": {"epochs": 2, "batch_size": 2}, "train_ddim": {"epochs": 2, "batch_size": 4}},
    "EfficientListener": {"preset": "demo",
                          "perception": {"image_size": 32, "width": 8, "keypoints": 4, "visual_dim": 8, "n_mels": 16,
                                         "audio_dim": 8},
                          "elnet": {"down_dims": [16, 32], "step_embed_dim": 16},
                          "train": {"epochs": 2, "batch_size": 8}, "clips_per_row": 2},
    "ReactDiffK": {"preset": "demo", "window": 8, "crop": 32, "context": 4, "crops_per_row": 2,
                   "net": {"depths": [1, 1], "widths": [16, 32], "mapping_dim": 16, "group_size": 8, "head_size": 8,
                           "key_dim": 16},
                   "edm": {"sample_steps": 3}, "guidance": {"scale": 1.5}, "train": {"epochs": 2, "batch_size": 8}},
}
FRAMES = 60


def feature_config():
    """The tests' extraction settings: the default streams, the causal wav2vec2 (the online variants read it) and a
    narrow AU stream."""
    from mafrg.features.config import FeatureConfig

    return FeatureConfig.from_dict({"threads": 1, "au": {"dim": 392}, "wav2vec2_causal": {"enabled": True}})


def build_results(dataset: Path, out: Path, dcfg=None) -> Paths:
    """Assemble train/val, extract every feature shard and write the manifests under ``out`` (``dcfg``: the
    dataset section, REACT 2024 clips of FRAMES frames by default; a ragged layout assembles clips of any length)."""
    from mafrg.config import DatasetConfig
    from mafrg.data.assemble import assemble_clips, assemble_split
    from mafrg.data.layouts import get_layout
    from mafrg.features.extract import extract_clip
    from mafrg.features.manifest import build_manifest

    paths = Paths(results=str(out), root=str(dataset))
    dcfg = dcfg or DatasetConfig(clip_length=FRAMES)
    fcfg = feature_config()
    for split in ("train", "val"):
        shards = []
        layout = get_layout(dcfg, dataset)
        for rel in layout.clips(split):
            p = paths.feature_file(split, rel)
            extract_clip(layout, split, rel, p, fcfg, dcfg, progress=False)
            shards.append(p)
        build_manifest(split, shards, paths.features_manifest(split))
        if layout.ragged:
            assemble_clips(dataset, split, dcfg).save(paths.split_data(split))
        else:
            assemble_split(dataset, split, dcfg, mirrored=split != "train").save(paths.split_data(split))
    return paths


def copy_results(paths: Paths, dest: Path) -> Paths:
    """A private copy of a results tree (tests that train write models into it)."""
    shutil.copytree(paths.results, dest)
    return Paths(results=str(dest), root=paths.root)


def train_all(paths: Paths, name: str, block: dict | None, seed: int = 0, code: str = "", dataset=None) -> None:
    from mafrg import methods
    from mafrg.methods.run import train_stage

    for st in methods.get(name).stages:
        train_stage(paths, name, block, st.name, seed, threads=1, progress=False, code=code, dataset=dataset)


def train_cmd(paths: Paths, method: str, stage: str, block: dict, seed: int = 0) -> list[str]:
    import json
    import sys

    return [sys.executable, "-m", "mafrg", "train", "--method", method, "--stage", stage, "--seed", str(seed),
            "--results", paths.results, "--root", paths.root, "--block", json.dumps(block), "--threads", "1"]


def kill_and_resume(paths: Paths, fresh: Paths, method: str, stage: str, block: dict, epochs: int, seed: int = 3):
    """Kill a training run after its first epoch checkpoint, rerun it, and train an unbroken copy in ``fresh``.

    Returns (stderr of the resumed run, epochs done when killed, resumed checkpoint, unbroken checkpoint)."""
    import os
    import signal
    import subprocess
    import time

    from mafrg import checkpoint

    state = f"{paths.train_state(method, seed, stage)}/last.pt"
    complete = state + ".sha256"  # a state counts once its checksum sidecar is written
    proc = subprocess.Popen(train_cmd(paths, method, stage, block, seed), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not os.path.exists(complete) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = checkpoint.load(state)[1]["epoch"] + 1
    assert 1 <= done < epochs, f"run was not interrupted mid-way ({done} epochs done)"
    assert not os.path.exists(paths.model(method, seed, stage))
    res = subprocess.run(train_cmd(paths, method, stage, block, seed), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"resuming from {state}: epoch {done} of {epochs} done" in res.stderr
    killed = checkpoint.load(paths.model(method, seed, stage))
    res2 = subprocess.run(train_cmd(fresh, method, stage, block, seed), capture_output=True, text=True)
    assert res2.returncode == 0, res2.stderr[-2000:]
    return res.stderr, done, killed, checkpoint.load(fresh.model(method, seed, stage))
