"""The workflow on a MARS-layout dataset (REACT 2025/2026): clips of any length from synthesis to the report and a
submission package with results.pt."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from conftest import REPO
from workflow_helpers import snakemake

pytestmark = pytest.mark.xdist_group("workflow")


@pytest.fixture(scope="module")
def mars_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("mars_wf")
    shutil.copy(REPO / "tests" / "config" / "tiny-mars.yaml", work / "config.yaml")
    res = snakemake(work, "--cores", "2", "all", "submission")
    assert res.returncode == 0, res.stderr[-4000:]
    return work


def test_mars_demo_runs_end_to_end_on_clips_of_different_lengths(mars_run):
    from mafrg import predictions
    from mafrg.data.assemble import load_split

    res = mars_run / "results"
    manifest = json.loads((res / "demo_data" / "manifest.json").read_text())
    lengths = [c["frames"] for s in manifest["sessions"].values() for c in s["clips"]]
    assert len(set(lengths)) > 5 and min(lengths) >= 40 and max(lengths) <= 120
    data = load_split(res / "data" / "test.npz")
    assert data.ragged and data.n_rows == 2 * 6  # bidirectional: every pair also swapped
    assert len(set(data.lengths.tolist())) > 3
    gt = predictions.load(res / "predictions" / "test" / "GT" / "seed0" / "r00000-00005.npy")
    assert gt.lengths.tolist() == data.speaker_lengths()[:5].tolist()  # every row at its speaker's length
    sets = json.loads((res / "neighbours" / "test.json").read_text())
    assert sets["source"] == "official" and sets["seed"] == 1234 and all(len(s) == 10 for s in sets["sets"])
    metrics = json.loads((res / "metrics" / "test" / "GT" / "seed0.json").read_text())
    assert metrics["protocol"] == "react2025" and metrics["info"]["gt_alignment"] == "resample"
    assert metrics["FRDist"] == pytest.approx(0.0, abs=1e-6) and np.isnan(metrics["FRDvs"] if metrics["FRDvs"] is not
                                                                              None else float("nan"))
    report = (res / "report" / "README.md").read_text()
    assert "protocol `react2025`" in report and "aligned by `resample`" in report
    table = (res / "report" / "test.md").read_text()
    assert all(m in table for m in ("GT", "B_Random", "B_Mime", "B_MeanSeq", "B_MeanFr", "NN_motion", "NN_audio",
                                    "Random_listener", "Median", "ReactDiffK_offline", "ReactDiffK_online",
                                    "ReactDiff_offline", "ReactDiff_online", "EfficientListener_offline",
                                    "EfficientListener_online"))


def test_mars_submission_has_results_pt_and_checks(mars_run):
    import subprocess
    import sys

    import torch

    from mafrg.data.assemble import load_split

    res = mars_run / "results"
    pkg = res / "submission" / "B_Mime"
    data = load_split(res / "data" / "test.npz")
    pt = torch.load(pkg / "offline" / "test" / "results.pt", weights_only=True)
    assert len(pt["PRED"]) == len(pt["GT"]) == data.n_rows
    for k, (p, g) in enumerate(zip(pt["PRED"], pt["GT"])):
        t = int(data.speaker_lengths()[k])
        assert p.shape == (10, t, 25) and g.shape == (10, t, 25)
        np.testing.assert_array_equal(g[0].numpy()[:, 15:17], _resampled_va(data.listener_emotion_of(k), t))
    check = subprocess.run([sys.executable, "-m", "mafrg", "check-submission", str(pkg), "--data",
                            str(res / "data" / "test.npz"), "--neighbours", str(res / "neighbours" / "test.npy"),
                            "--protocol", "react2025"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout.strip().splitlines()[-1])["ok"]
    # a results.pt whose predictions differ from the per-clip files is named
    pt["PRED"][3] = pt["PRED"][3] + 0.5
    bad = res / "bad_pkg"
    shutil.copytree(pkg, bad)
    torch.save(pt, bad / "offline" / "test" / "results.pt")
    check = subprocess.run([sys.executable, "-m", "mafrg", "check-submission", str(bad)], capture_output=True,
                           text=True)
    assert check.returncode == 1 and "PRED[3] differs from the per-clip result files" in check.stderr


def _resampled_va(x: np.ndarray, t: int) -> np.ndarray:
    from mafrg.metrics.ragged import resample

    return resample(x, t)[:, 15:17].astype(np.float32)


def test_the_plan_refuses_what_does_not_fit_clips_of_any_length(monkeypatch):
    from mafrg import methods
    from mafrg.config import ConfigError
    from mafrg.plan import Plan

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["dataset"].update(layout="mars", fps=30)
    monkeypatch.setattr(methods.get("EfficientListener"), "ragged", False)  # a plug-in for fixed-length clips only
    with pytest.raises(ConfigError) as exc:
        Plan.load(cfg, REPO / "workflow" / "schemas" / "config.schema.yaml")
    text = str(exc.value)
    assert "evaluation.protocol react2024 is for fixed-length clips" in text
    assert "methods.EfficientListener: not available on clips of any length" in text
    assert "methods.ReactDiff:" not in text and "NN_motion" not in text  # these run on clips of any length
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg.setdefault("evaluation", {})["protocol"] = "react2025"
    with pytest.raises(ConfigError, match="react2025 is for clips of any length"):
        Plan.load(cfg, REPO / "workflow" / "schemas" / "config.schema.yaml")
