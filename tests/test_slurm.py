"""The cluster path, for real: a small workflow through ``profiles/slurm`` on a private one-node SLURM cluster
(Debian's slurmctld, slurmd, munge) gives exactly the numbers of the same workflow run locally.

Every rule runs as a SLURM job, so each job pays a submission and a Snakemake start-up: to keep the suite
short the config is the tiny one cut to one training and one val session, one row shard, and GT, B_Random and
ReactDiff offline (both training stages, submitted with a GPU request to a fake GPU).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml

import slurm_cluster
from conftest import REPO
from workflow_helpers import TINY, snakemake

CONFIG = dict(
    TINY, dataset=dict(TINY["dataset"], splits=["val"]),
    synth=dict(TINY["synth"], sessions={"train": 1, "val": 1, "test": 1}),
    evaluation=dict(TINY["evaluation"], shard_rows=8),
    methods={"GT": {}, "B_Random": TINY["methods"]["B_Random"],
             "ReactDiff": dict(TINY["methods"]["ReactDiff"], variants=["offline"])},
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    missing = slurm_cluster.missing_tools()
    if missing:
        pytest.skip(f"SLURM not installed ({', '.join(missing)} missing): `make test` installs Debian's "
                    f"{' '.join(slurm_cluster.APT_PACKAGES)} when it runs as root with apt")
    c = slurm_cluster.Cluster(tmp_path_factory.mktemp("slurm")).start()
    yield c
    c.stop()


def test_the_profile_placeholders_stop_a_run_before_any_job(tmp_path):
    """profiles/slurm ships CHANGE_ME partitions and account: a run that did not replace them stops at parse
    time, naming each, instead of submitting jobs that SLURM rejects one by one."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    res = snakemake(tmp_path, "-n", "--profile", str(REPO / "profiles" / "slurm"))
    err = res.stdout + res.stderr
    assert res.returncode != 0 and "resources still hold the profile's placeholders" in err, err[-2000:]
    for unset in ("slurm_partition=CHANGE_ME_cpu_partition", "slurm_account=CHANGE_ME_account",
                  "train:slurm_partition=CHANGE_ME_gpu_partition"):
        assert unset in err
    assert not (tmp_path / "results").exists()
    res = snakemake(tmp_path, "-n", "--profile", str(REPO / "profiles" / "slurm"), "--slurm-no-account",
                    "--default-resources", "slurm_partition=cpu", "--set-resources", "train:slurm_partition=gpu")
    assert res.returncode == 0 and "still hold the profile" not in res.stdout + res.stderr, res.stderr[-2000:]


def _metrics(work):
    out = {}
    for p in sorted((work / "results" / "metrics").rglob("seed*.json")):
        d = json.loads(p.read_text())
        keys = ("FRCorr", "FRDist", "FRDiv", "FRVar", "FRDvs", "FRSyn") if "FRCorr" in d else ("FD_behaviour",)
        out[str(p.relative_to(work))] = {k: d[k] for k in keys} | d.get("listener_metrics", {})
    return out


@pytest.mark.slow
@pytest.mark.xdist_group("slurm")
def test_small_workflow_through_the_slurm_profile(cluster, tmp_path):
    local = tmp_path / "local"
    local.mkdir()
    (local / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    res = snakemake(local, "--cores", "2")
    assert res.returncode == 0, res.stderr[-3000:]
    tmp_path = tmp_path / "slurm"
    tmp_path.mkdir()
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    res = snakemake(tmp_path, "--profile", str(REPO / "profiles" / "slurm"), "--slurm-no-account",
                    "--default-resources", "slurm_partition=debug", "mem_mb=2000", "runtime=60",
                    "--set-resources", "train:slurm_partition=debug",
                    "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "2",
                    "--latency-wait", "10", "--slurm-keep-successful-logs", env=cluster.env, timeout=1500)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:] + cluster.logs()
    # every rule that does real work ran as a SLURM job, training with a GPU request and extraction as a job
    # array; the local rules (seconds of work on small files) were not submitted
    logs = tmp_path / ".snakemake" / "slurm_logs"
    ran = {p.name for p in logs.iterdir()}
    for rule in ("synth_dataset", "assemble_split", "extract_features", "neighbours", "train", "generate",
                 "evaluate_shard", "evaluate_split"):
        assert f"rule_{rule}" in ran, (rule, sorted(ran))
    for rule in ("validate_split", "features_manifest", "aggregate_metrics", "report"):
        assert f"rule_{rule}" not in ran, (rule, sorted(ran))  # (their outputs are read below: they ran here)
    train_jobs = [p.stem for p in (logs / "rule_train").rglob("*.log")]
    assert len(train_jobs) == 2, train_jobs  # ReactDiff's two stages
    for job in train_jobs:  # submitted with a GPU request and given the (fake) GPU
        show = subprocess.run(["scontrol", "show", "job", job], env=os.environ | cluster.env, capture_output=True,
                              text=True).stdout
        assert "gres/gpu=1" in show or "gres:gpu:1" in show, show
    here, there = _metrics(local), _metrics(tmp_path)
    assert len(there) == 6 and here.keys() == there.keys(), sorted(there)  # 3 runs x (metrics, realism)
    for k, v in here.items():
        assert there[k] == v, k  # same code, same machine: the same numbers, bit for bit
    assert (tmp_path / "results" / "report" / "report.html").is_file()
    for work in (local, tmp_path):
        shutil.rmtree(work / "results" / "demo_data")  # big and no longer needed
