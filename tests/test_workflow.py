"""The Snakemake workflow end to end on a tiny demo dataset, in a temporary directory."""

from __future__ import annotations

import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

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
    "baselines": {"seed": 7},
    "evaluation": {"threads": 1, "chunk_rows": 4},
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
        assert df.method.tolist() == ["GT", "B_Random", "B_Mime", "B_MeanSeq", "B_MeanFr", "ReactDiff_offline",
                                      "ReactDiff_online"]
        assert list(df.columns) == ["method", "FRCorr", "FRDist", "FRDiv", "FRVar", "FRDvs", "FRSyn"]
        gt = df.set_index("method").loc["GT"]
        assert gt.FRDist == 0.0
        md = (report / f"{split}.md").read_text()
        assert "Appropriateness" in md and "Diversity" in md and "Synchrony" in md
    assert (report / "training_losses.png").stat().st_size > 1000
    readme = (report / "README.md").read_text()
    assert "synthetic demo dataset" in readme and "config_hash" in readme and "manifest_sha256" in readme
    for log in (tmp_path / "results" / "logs").iterdir():
        assert log.stat().st_size > 0, log  # every rule logs

    # Nothing to do on a rerun.
    res = snakemake(tmp_path, "-n", "--cores", "1")
    assert res.returncode == 0 and "Nothing to be done" in res.stdout + res.stderr

    # A new B_Random seed reruns B_Random (both splits), its evaluation and the report -- nothing else.
    cfg = dict(TINY, baselines={"seed": 8})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(tmp_path, "-n", "--cores", "1")
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = planned_jobs(res.stdout + res.stderr)
    assert jobs == {"baseline": 2, "evaluate": 2, "report": 1, "all": 1}, jobs

    # A new neighbour quantile re-evaluates every method but regenerates nothing.
    cfg = dict(TINY, neighbours={"quantile": 0.3})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    jobs = planned_jobs((r := snakemake(tmp_path, "-n", "--cores", "1")).stdout + r.stderr)
    assert jobs == {"neighbours": 2, "evaluate": 14, "report": 1, "all": 1}, jobs


@pytest.mark.xdist_group("workflow")
def test_bad_config_fails_before_any_job(tmp_path):
    bad = dict(TINY, dataset=dict(TINY["dataset"], clip_lenght=750), evaluation={"threads": "two"})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(bad))
    res = snakemake(tmp_path, "-n", "--cores", "1")
    assert res.returncode != 0
    err = res.stdout + res.stderr
    assert "unknown config key 'dataset.clip_lenght'" in err
    assert "config key 'evaluation.threads': 'two' is not of type 'integer'" in err
