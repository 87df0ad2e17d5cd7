"""Shared fixtures: a tiny demo dataset generated once per test session, copied where tests corrupt it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_REAL = REPO.parent / "shared" / "data" / "real"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # reference_metrics


@pytest.fixture(scope="session")
def tiny_synth_config():
    from mafrg.config import SynthConfig

    return SynthConfig(seed=11, sessions={"train": 2, "val": 1, "test": 1}, clips_per_session=2, frames=61,
                       image_size=64, audio="procedural")


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, tiny_synth_config) -> Path:
    from mafrg.synth.generator import generate

    root = tmp_path_factory.mktemp("tiny") / "data"
    generate(tiny_synth_config, root)
    return root


@pytest.fixture()
def dataset_copy(tiny_dataset, tmp_path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(tiny_dataset, dst)
    return dst


@pytest.fixture()
def dcfg():
    from mafrg.config import DatasetConfig

    return DatasetConfig(clip_length=60, fps=25)
