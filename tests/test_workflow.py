"""The Snakemake workflow end to end on a tiny demo dataset, in a temporary directory."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from browser import WIDTH, load_page, screenshot
from conftest import REPO
from workflow_helpers import TINY, TOY_PLUGIN, planned_jobs, snakemake

from mafrg.provenance import file_sha256

@pytest.mark.slow
@pytest.mark.xdist_group("workflow")
def test_demo_workflow_end_to_end(tiny_run, tmp_path):
    import shutil

    tmp_path = tmp_path / "work"
    shutil.copytree(tiny_run, tmp_path, symlinks=True)  # copy2: mtimes (and Snakemake's metadata) kept
    report = tmp_path / "results" / "report"
    for split in ("val", "test"):
        df = pd.read_csv(report / f"{split}.csv")
        assert df.method.tolist() == ["GT", "B_Random", "B_MeanSeq", "B_MeanFr", "NN_motion", "NN_audio",
                                      "Random_listener", "Median", "EfficientListener_offline",
                                      "EfficientListener_online", "ReactDiff_offline", "ReactDiff_online",
                                      "ReactDiffK_offline", "ReactDiffK_online"]
        assert list(df.columns[:10]) == ["method", "seeds", "FRCorr", "FRDist", "FRDiv", "FRVar", "FRDvs", "FRRea",
                                         "FD_behaviour", "FRSyn"]
        gt = df.set_index("method").loc["GT"]
        assert gt.FRDist == 0.0 and gt.seeds == 1
        md = (report / f"{split}.md").read_text()
        assert "Appropriateness" in md and "Diversity" in md and "Synchrony" in md
    assert (report / "training_losses.png").stat().st_size > 1000
    readme = (report / "README.md").read_text()
    assert "synthetic demo dataset" in readme and "config_hash" in readme and "manifest_sha256" in readme
    prov = json.loads((report / "provenance.json").read_text())
    assert [Path(c["path"]).name for c in prov["config_files"]] == ["config.yaml"]
    assert prov["config_files"][0]["sha256"] == file_sha256(tmp_path / "config.yaml")
    assert {"torchaudio", "scikit-learn", "dask", "torch"} <= set(prov["packages"])
    for log in (tmp_path / "results" / "logs").rglob("*.log"):
        assert log.stat().st_size > 0, log  # every rule logs
        text = log.read_text(errors="replace")
        assert "\r" not in text and "\x1b[" not in text, log  # progress as plain lines, not redrawn bars
    check_html_report(report, tmp_path)

    # Nothing to do on a rerun.
    res = snakemake(tmp_path, "-n", "--cores", "1")
    assert res.returncode == 0 and "Nothing to be done" in res.stdout + res.stderr

    # A trained model that was truncated after the fact (half of ddim.pt) is detected while planning. A dry run
    # says so and changes nothing in the results folder; a run moves it aside (kept for inspection, never read
    # again), and what was made from it before it broke stays valid; the next job that needs it (here: generation
    # with more sampling steps, a generation-only setting that alone would retrain nothing) trains it again first.
    ddim = tmp_path / "results" / "models" / "ReactDiff" / "seed0" / "ddim.pt"
    ddim.write_bytes(ddim.read_bytes()[: ddim.stat().st_size // 2])
    more_steps = dict(TINY, methods=dict(TINY["methods"], ReactDiff=dict(TINY["methods"]["ReactDiff"],
                                                                          ddim=dict(TINY["methods"]["ReactDiff"]["ddim"], sample_steps=5))))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(more_steps))
    before = sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in (tmp_path / "results").rglob("*"))
    r = snakemake(tmp_path, "-n", "--cores", "1")
    assert "ddim.pt: " in r.stderr and "truncated or replaced" in r.stderr and "nothing moved" in r.stderr, r.stderr[-2000:]
    assert sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in (tmp_path / "results").rglob("*")) == before
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY))
    res = snakemake(tmp_path, "--cores", "1")
    assert res.returncode == 0 and "Nothing to be done" in res.stdout + res.stderr, res.stderr[-2000:]
    assert "trained again" in res.stderr and list(ddim.parent.glob("ddim.pt.corrupt-*")) and not ddim.exists()
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(more_steps))
    r = snakemake(tmp_path, "-n", "--cores", "1")
    jobs = planned_jobs(r.stdout + r.stderr)
    assert jobs == {"train": 1, "generate": 6, "evaluate_shard": 6, "aggregate_metrics": 4, "evaluate_split": 4,
                    "report": 1, "all": 1}, jobs
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY))
    res = snakemake(tmp_path, "-n", "--cores", "1")
    assert res.returncode == 0 and "Nothing to be done" in res.stdout + res.stderr

    # Row shards: val has 8 mirrored rows (2 shards of 4), test 4 rows (1 shard).
    results = tmp_path / "results"
    assert sorted(p.name for p in (results / "metrics" / "val" / "B_Random" / "seed7").glob("*.parquet")) == [
        "r00000-00004.parquet", "r00004-00008.parquet"]

    # One changed prediction shard re-evaluates that shard alone, then that run's aggregation and the report.
    shard = results / "predictions" / "val" / "ReactDiff_offline" / "seed0" / "r00004-00008.npy"
    changed = np.load(shard)
    changed[0, 0, 0, 15] = 0.5
    np.save(shard, changed)
    jobs = planned_jobs((r := snakemake(tmp_path, "-n", "--cores", "1")).stdout + r.stderr)
    # (evaluate_split: FD and SI are over the whole split's frames)
    assert jobs == {"evaluate_shard": 1, "aggregate_metrics": 1, "evaluate_split": 1, "report": 1, "all": 1}, jobs
    assert "metrics/val/ReactDiff_offline/seed0/r00004-00008.parquet" in r.stdout + r.stderr
    res = snakemake(tmp_path, "--cores", "1")
    assert res.returncode == 0, res.stderr[-3000:]

    # New methods -- B_Mime, and a toy method from a plugin module registered at run time: their shards are
    # generated (the toy trained first) and evaluated, then the report; nothing else is recomputed.
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "toy_method.py").write_text(TOY_PLUGIN)
    env = {"PYTHONPATH": str(tmp_path / "plugins")}
    cfg = dict(TINY, plugins=["toy_method"], methods=dict(TINY["methods"], B_Mime={}, Toy={"gain": 0.7}))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    jobs = planned_jobs((r := snakemake(tmp_path, "-n", "--cores", "1", env=env)).stdout + r.stderr)
    assert jobs == {"train": 1, "generate": 6, "evaluate_shard": 6, "aggregate_metrics": 4, "evaluate_split": 4,
                    "report": 1, "all": 1}, jobs
    res = snakemake(tmp_path, "--cores", "2", env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    val = pd.read_csv(report / "val.csv")
    assert val.method.tolist() == ["GT", "B_Random", "B_Mime", "B_MeanSeq", "B_MeanFr", "NN_motion", "NN_audio",
                                   "Random_listener", "Median", "EfficientListener_offline",
                                   "EfficientListener_online", "ReactDiff_offline", "ReactDiff_online", "ReactDiffK_offline",
                                   "ReactDiffK_online", "Toy_live"]
    toy = val.set_index("method").loc["Toy_live"]
    assert np.isfinite(toy.FRCorr) and toy.FRDiv > 0
    assert (results / "models" / "Toy" / "seed0" / "fit.pt").is_file()
    assert "Toy fit" in (report / "README.md").read_text()  # its training curve is in the report
    # The toy's config reaches its jobs: a new gain retrains and regenerates the toy alone.
    cfg["methods"]["Toy"] = {"gain": 0.2}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    jobs = planned_jobs((r := snakemake(tmp_path, "-n", "--cores", "1", env=env)).stdout + r.stderr)
    assert jobs == {"train": 1, "generate": 3, "evaluate_shard": 3, "aggregate_metrics": 2, "evaluate_split": 2,
                    "report": 1, "all": 1}, jobs
    cfg["methods"]["Toy"] = {"gain": 0.7}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))

    # A new B_Random seed reruns B_Random (every shard of both splits, under its new seed), its evaluation and
    # the report.
    cfg_seed = dict(cfg, methods=dict(cfg["methods"], B_Random={"seed": 8}))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg_seed))
    res = snakemake(tmp_path, "-n", "--cores", "1", env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = planned_jobs(res.stdout + res.stderr)
    assert jobs == {"generate": 3, "evaluate_shard": 3, "aggregate_metrics": 2, "evaluate_split": 2, "report": 1,
                    "all": 1}, jobs

    # A new neighbour quantile re-evaluates every run but regenerates nothing.
    cfg_nb = dict(cfg, neighbours={"quantile": 0.3})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg_nb))
    jobs = planned_jobs((r := snakemake(tmp_path, "-n", "--cores", "1", env=env)).stdout + r.stderr)
    assert jobs == {"neighbours": 2, "evaluate_shard": 48, "aggregate_metrics": 32, "report": 1, "all": 1}, jobs


def check_html_report(report, tmp_path):
    """The self-contained HTML report in a real headless browser: loads without console errors and shows
    the tables, every image decodes, and it references nothing outside itself."""
    page = (report / "report.html").read_text()
    assert not re.search(r"(src|href)=['\"](?!data:|#)", page), "the report must not reference other files"
    dom, errors = load_page(report / "report.html", tmp_path)
    assert errors == [], errors
    assert not re.search(r"<body[^>]*data-error=", dom)
    shown = re.search(r'data-images="(\d+)/(\d+)"', dom)
    assert shown, "the page's load handler did not run"
    ok, total = int(shown.group(1)), int(shown.group(2))
    # per split: bar charts + scatter; 3 trace rows; 2 rendered GIFs; training curves
    assert total >= 2 * 2 + 3 + 2 + 1 and ok == total, shown.group(0)
    # at a common screen width the charts are shown at their own size: their text (no two pieces of which
    # overlap: tests/test_report_charts.py) is not shrunk
    assert float(re.search(r'data-chart-scale="([\d.]+)"', dom).group(1)) >= 0.95
    from PIL import Image

    shot = screenshot(report / "report.html", tmp_path / "report.png", tmp_path)
    assert Image.open(shot).size[0] == WIDTH
    assert dom.count("<table>") >= 6  # paper-style, listener and smoothness tables of both splits
    for text in ("FRCorr", "ReactDiff_offline", "ReactDiffK_online", "Efficient Listener", "Smoothness and anatomy", "FRRea is not available", "UNTRAINED",
                 "config_hash", "data:image/gif;base64"):
        assert text in dom, text
    # the report's CSV tables carry the realism and listener columns
    val = pd.read_csv(report / "val.csv")
    assert val.FRRea.isna().all() and val.set_index("method").FD_behaviour.loc["GT"] == pytest.approx(0.0, abs=1e-3)
    lst = pd.read_csv(report / "val_listener.csv").set_index("method")
    assert lst.loc["GT", "L2_expression"] == 0.0 and lst.loc["B_MeanFr", "SI"] == 0.0
    # every registered method of config.yaml went through the generic rules: Efficient Listener (raw media, no
    # feature shards) and the classical baselines, with every REACT and listener metric
    from mafrg.metrics import table as mt

    new = ["EfficientListener_offline", "EfficientListener_online", "NN_motion", "NN_audio", "Random_listener", "Median"]
    react = val.set_index("method")
    assert set(new) <= set(react.index) and set(new) <= set(lst.index)
    assert react.loc[new, ["FRCorr", "FRDist", "FRDiv", "FRVar", "FRDvs", "FRSyn"]].notna().all().all()
    assert lst.loc[new, list(mt.names(table="listener"))].drop(columns="TLCC_lag").notna().all().all()
    assert "Definition `mafrg`" in (report / "val_listener.md").read_text()
    # the smoothness table: every run, the GT row is the true listeners' motion, uniform noise is far jerkier
    sm = pd.read_csv(report / "val_smoothness.csv").set_index("method")
    assert set(react.index) == set(sm.index) and sm[list(mt.names(table="smoothness"))].notna().all().all()
    assert sm.loc["B_Random", "Acc_emotion"] > 2 * sm.loc["GT", "Acc_emotion"] and sm.loc["B_MeanFr", "Vel_3DMM"] == 0
    assert 0 <= sm.loc["GT", "ExclAU"] < 1 and "ExclAU" in (report / "val_smoothness.md").read_text()


def test_bad_config_fails_before_any_job(tmp_path):
    bad = dict(TINY, dataset=dict(TINY["dataset"], clip_lenght=750), evaluation={"threads": "two"})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(bad))
    res = snakemake(tmp_path, "-n", "--cores", "1")
    assert res.returncode != 0
    err = res.stdout + res.stderr
    assert "unknown config key 'dataset.clip_lenght'" in err
    assert "config key 'evaluation.threads': 'two' is not of type 'integer'" in err
