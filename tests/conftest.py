"""Shared fixtures: a tiny demo dataset generated once per test session, copied where tests corrupt it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_REAL = REPO.parent / "shared" / "data" / "real"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper modules (method_helpers, workflow_helpers, ...)


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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The tiny workflow run once locally (the end-to-end test continues from a copy; the SLURM test compares
    its numbers with it). Only tests in xdist group "workflow" use it, so it runs once per suite."""
    import yaml

    from workflow_helpers import TINY, snakemake

    import os

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # the workers share their parent temp folder: a second run of this fixture would leave a trace
        trace = tmp_path_factory.getbasetemp().parent / "tiny_run.worker"
        assert not trace.exists(), (f"the tiny workflow already ran on {trace.read_text()}: --dist loadgroup did not "
                                    "keep the 'workflow' group on one worker (pytest / pytest-xdist versions?)")
        trace.write_text(worker)
    work = tmp_path_factory.mktemp("tiny_run")
    (work / "config.yaml").write_text(yaml.safe_dump(TINY))
    res = snakemake(work, "--cores", "2")
    assert res.returncode == 0, res.stderr[-4000:]
    return work
