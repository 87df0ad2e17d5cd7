# Shared helpers: config validation, paths, and code hashes that make rules rerun when mafrg changes.
import json
import shlex
import sys
from pathlib import Path

from snakemake.utils import validate

from mafrg.config import (
    BaselineConfig,
    DatasetConfig,
    EvalConfig,
    NeighbourConfig,
    SynthConfig,
    from_dict,
    validate_config,
)
from mafrg.provenance import code_hash

SCHEMA = str(Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
# mafrg's validator first: it names every offending key; then Snakemake's, which fills schema defaults.
validate_config(config, SCHEMA)
validate(config, SCHEMA)

# The CLI through the interpreter running Snakemake: works whether or not the venv/env is on PATH.
MAFRG = f"{shlex.quote(sys.executable)} -m mafrg"
RESULTS = config["results"]
DATASET = from_dict(DatasetConfig, config["dataset"])
SYNTH = from_dict(SynthConfig, config["synth"])
NEIGHBOURS = from_dict(NeighbourConfig, config["neighbours"])
BASELINE = from_dict(BaselineConfig, config["baselines"])
EVAL = from_dict(EvalConfig, config["evaluation"])
ROOT = DATASET.root
EVAL_SPLITS = list(DATASET.splits)
METHODS = list(config["baselines"]["methods"])
ALL_SPLITS = ["train"] + EVAL_SPLITS


wildcard_constraints:
    split="|".join(ALL_SPLITS),
    method="|".join(METHODS),


def as_json(section: dict) -> str:
    """Config section as compact JSON for a CLI --settings argument (quoted with :q in shell)."""
    return json.dumps(section, sort_keys=True, separators=(",", ":"))


def dataset_json() -> str:
    return as_json({k: v for k, v in config["dataset"].items()})


def split_csv(split):
    return f"{ROOT}/{split}.csv"


def dataset_inputs(wildcards):
    """The split file a step depends on; when the demo is generated, the generator's manifest too."""
    files = [split_csv(wildcards.split)]
    if config["dataset"]["generate"]:
        files.append(f"{ROOT}/manifest.json")
    return files


def baseline_inputs(wildcards):
    files = {"data": f"{RESULTS}/data/{wildcards.split}.npz"}
    if wildcards.method in ("B_MeanSeq", "B_MeanFr"):
        files["train"] = f"{RESULTS}/data/train.npz"
    return files


def baseline_settings(wildcards):
    """Only the settings a baseline uses, so that e.g. a new seed reruns B_Random alone."""
    used = {"n_predictions": BASELINE.n_predictions}
    if wildcards.method == "B_Random":
        used["seed"] = BASELINE.seed
    return as_json(used)


def report_outputs():
    return [f"{RESULTS}/report/README.md", f"{RESULTS}/report/provenance.json"] + [
        f"{RESULTS}/report/{s}.{ext}" for s in EVAL_SPLITS for ext in ("csv", "md")
    ]


CODE = {
    "synth": code_hash(["synth", "render", "atomic", "config"]),
    "data": code_hash(["data", "atomic", "config", "constants"]),
    "neighbours": code_hash(["neighbours", "data.assemble"]),
    "baselines": code_hash(["baselines", "data.assemble"]),
    "metrics": code_hash(["metrics", "constants"]),
    "report": code_hash(["report"]),
}
