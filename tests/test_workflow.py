"""The Snakemake workflow end to end on a tiny demo dataset, in a temporary directory."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from browser import load_page
from conftest import REPO

TINY = {
    "results": "results",
    "dataset": {"root": "results/demo_data", "generate": True, "clip_length": 60, "splits": ["val", "test"]},
    "synth": {"seed": 5, "sessions": {"train": 2, "val": 2, "test": 1}, "clips_per_session": 2, "frames": 61,
              "image_size": 64, "audio": "procedural"},
    "features": {"threads": 1, "au": {"dim": 392}},
    "reactdiff": {"preset": "demo", "threads": 1,
                  "mmt": {"window": 10, "d_model": 16, "d_fused": 16, "latent_dim": 8, "latent_frame_dim": 2,
                          "heads": 2, "decoder_layers": 1, "decoder_dim": 16},
                  "ddim": {"unet_channels": [8, 16], "cond_dim": 16, "time_dim": 16, "sample_steps": 4},
                  "train_mmt": {"epochs": 2}, "train_ddim": {"epochs": 2}},
    "neighbours": {"quantile": 0.2},
    "baselines": {"seed": 7, "methods": ["GT", "B_Random", "B_MeanSeq", "B_MeanFr"]},  # B_Mime comes later
    "evaluation": {"threads": 1, "chunk_rows": 4, "shard_rows": 4},
}


def snakemake(workdir, *args):
    # --configfile takes several values: it goes last so that targets are not read as config files
    cmd = [sys.executable, "-m", "snakemake", *args, "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """Job counts from the 'Job stats' table of a dry run."""
    counts: dict[str, int] = {}
    block = dry_run_output.split("Job stats:")[-1].split("Reasons:")[0]
    for name, n in re.findall(r"^(\w+)\s+(\d+)\s*$", block, flags=re.M):
        if name != "total":
            counts[name] = int(n)
    return counts


@pytest.mark.slow
@pytest.mark.xdist_group("workflow")
def test_demo_workflow_end_to_end(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY))
    res = snakemake(tmp_path, "--cores", "2")
    assert res.returncode == 0, res.stderr[-4000:]
    report = tmp_path / "results" / "report"
    for split in ("val", "test"):
        df = pd.read_csv(report / f"{split}.csv")
        assert df.method.tolist() == ["GT", "B_Random", "B_MeanSeq", "B_MeanFr", "ReactDiff_offline",
                                      "ReactDiff_online"]
        assert list(df.columns) == ["method", "FRCorr", "FRDist", "FRDiv", "FRVar", "FRDvs", "FRRea", "FD_behaviour",
                                    "FRSyn"]
        gt = df.set_index("method").loc["GT"]
        assert gt.FRDist == 0.0
        md = (report / f"{split}.md").read_text()
        assert "Appropriateness" in md and "Diversity" in md and "Synchrony" in md
    assert (report / "training_losses.png").stat().st_size > 1000
    readme = (report / "README.md").read_text()
    assert "synthetic demo dataset" in readme and "config_hash" in readme and "manifest_sha256" in readme
    for log in (tmp_path / "results" / "logs").iterdir():
        assert log.stat().st_size > 0, log  # every rule logs
    check_html_report(report, tmp_path)

    # Nothing to do on a rerun.
    res = snakemake(tmp_path, "-n", "--cores", "1")
    assert res.returncode == 0 and "Nothing to be done" in res.stdout + res.stderr

    # Row shards: val has 8 mirrored rows (2 shards of 4), test 4 rows (1 shard).
    results = tmp_path / "results"
    assert sorted(p.name for p in (results / "metrics" / "val" / "B_Random").glob("*.parquet")) == [
        "r00000-00004.parquet", "r00004-00008.parquet"]

    # One changed prediction shard re-evaluates that shard alone, then that method's aggregation and the report.
    shard = results / "predictions" / "val" / "ReactDiff_offline" / "r00004-00008.npy"
    changed = np.load(shard)
    changed[0, 0, 0, 15] = 0.5
    np.save(shard, changed)
    jobs = planned_jobs((r := snakemake(tmp_path, "-n", "--cores", "1")).stdout + r.stderr)
    # (evaluate_3dmm: FD and SI are over the whole split's frames)
    assert jobs == {"evaluate_shard": 1, "aggregate_metrics": 1, "evaluate_3dmm": 1, "report": 1, "all": 1}, jobs
    assert "metrics/val/ReactDiff_offline/r00004-00008.parquet" in r.stdout + r.stderr
    res = snakemake(tmp_path, "--cores", "1")
    assert res.returncode == 0, res.stderr[-3000:]

    # A new method: its shards are generated and evaluated, then the report; nothing else is recomputed.
    cfg = dict(TINY, baselines={"seed": 7})  # all five baselines
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    jobs = planned_jobs((r := snakemake(tmp_path, "-n", "--cores", "1")).stdout + r.stderr)
    assert jobs == {"baseline": 3, "evaluate_shard": 3, "aggregate_metrics": 2, "evaluate_3dmm": 2, "report": 1,
                    "all": 1}, jobs
    res = snakemake(tmp_path, "--cores", "1")
    assert res.returncode == 0, res.stderr[-3000:]
    assert pd.read_csv(report / "val.csv").method.tolist() == ["GT", "B_Random", "B_Mime", "B_MeanSeq", "B_MeanFr",
                                                               "ReactDiff_offline", "ReactDiff_online"]

    # A new B_Random seed reruns B_Random (every shard of both splits), its evaluation and the report.
    cfg = dict(TINY, baselines={"seed": 8})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(tmp_path, "-n", "--cores", "1")
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = planned_jobs(res.stdout + res.stderr)
    assert jobs == {"baseline": 3, "evaluate_shard": 3, "aggregate_metrics": 2, "evaluate_3dmm": 2, "report": 1,
                    "all": 1}, jobs

    # A new neighbour quantile re-evaluates every method but regenerates nothing.
    cfg = dict(TINY, baselines={"seed": 7}, neighbours={"quantile": 0.3})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    jobs = planned_jobs((r := snakemake(tmp_path, "-n", "--cores", "1")).stdout + r.stderr)
    assert jobs == {"neighbours": 2, "evaluate_shard": 21, "aggregate_metrics": 14, "report": 1, "all": 1}, jobs


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
    assert dom.count("<table>") >= 4  # paper-style and listener tables of both splits
    for text in ("FRCorr", "ReactDiff_offline", "Efficient Listener", "FRRea is not available", "UNTRAINED",
                 "config_hash", "data:image/gif;base64"):
        assert text in dom, text
    # the report's CSV tables carry the realism and listener columns
    val = pd.read_csv(report / "val.csv")
    assert val.FRRea.isna().all() and val.set_index("method").FD_behaviour.loc["GT"] == pytest.approx(0.0, abs=1e-3)
    lst = pd.read_csv(report / "val_listener.csv").set_index("method")
    assert lst.loc["GT", "L2_expression"] == 0.0 and lst.loc["B_MeanFr", "SI"] == 0.0


@pytest.mark.xdist_group("workflow")
def test_bad_config_fails_before_any_job(tmp_path):
    bad = dict(TINY, dataset=dict(TINY["dataset"], clip_lenght=750), evaluation={"threads": "two"})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(bad))
    res = snakemake(tmp_path, "-n", "--cores", "1")
    assert res.returncode != 0
    err = res.stdout + res.stderr
    assert "unknown config key 'dataset.clip_lenght'" in err
    assert "config key 'evaluation.threads': 'two' is not of type 'integer'" in err
