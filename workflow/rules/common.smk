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
from mafrg.data.layout import clip_files, referenced_clips
from mafrg.features.config import AUDIO_STREAMS, UNTRAINED, WEIGHTED_STREAMS, FeatureConfig
from mafrg.features.networks import check_checkpoint
from mafrg.provenance import code_hash
from mafrg.sharding import parse_rows, shard_names

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
FEATURES = FeatureConfig.from_dict(config["features"])
# Missing extractor weights fail here, before any job, with a message naming the stream and what to put there.
for _stream in FEATURES.enabled():
    if _stream in WEIGHTED_STREAMS:
        check_checkpoint(_stream, FEATURES.weights_path(_stream))
ROOT = DATASET.root
EVAL_SPLITS = list(DATASET.splits)
BASELINE_METHODS = list(config["baselines"]["methods"])
REACTDIFF = config.get("reactdiff", {})
REACTDIFF_ON = bool(REACTDIFF.get("enabled", True))
REACTDIFF_MODES = list(REACTDIFF.get("modes", ["offline", "online"])) if REACTDIFF_ON else []
METHODS = BASELINE_METHODS + [f"ReactDiff_{m}" for m in REACTDIFF_MODES]
ALL_SPLITS = ["train"] + EVAL_SPLITS


wildcard_constraints:
    split="|".join(ALL_SPLITS),
    method="|".join(METHODS),
    rel="[^/]+/[^/]+/[^/]+/[^/]+",
    shard=r"r\d+-\d+",


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
    # every baseline reads the training split: the mean ones for their means, all for their 3DMM companion
    return {"data": f"{RESULTS}/data/{wildcards.split}.npz", "train": f"{RESULTS}/data/train.npz"}


def baseline_settings(wildcards):
    """Only the settings a baseline uses, so that e.g. a new seed reruns B_Random alone."""
    used = {"n_predictions": BASELINE.n_predictions}
    if wildcards.method == "B_Random":
        used["seed"] = BASELINE.seed
    return as_json(used)


# ---------------------------------------------------------------------------------------- features
# The whole features section as JSON, passed to the CLI as a shell *global* (not a param): batch sizes and
# threads change no value, so they must not trigger reruns. Value-affecting settings are the param below.
FEATURES_JSON = as_json(config["features"])
EXTRACT_DATASET_JSON = as_json({k: config["dataset"][k] for k in ("fps", "clip_length", "pad_short")})


def features_fingerprint() -> str:
    """Per-stream value-affecting settings: a change reruns the shard jobs, which then recompute only the
    streams whose settings changed and reuse the other columns (shards are update() outputs)."""
    return as_json({s: FEATURES.stream_settings(s, DATASET.fps) for s in FEATURES.enabled()})


def split_clips(split):
    """Clips (<site>/<session>/<person>/<clip>) a split file references. Read directly from the split csv;
    when the demo dataset is generated in this run, after that checkpoint has produced it."""
    if config["dataset"]["generate"]:
        checkpoints.synth_dataset.get()
    return referenced_clips(ROOT, split)


def eval_rows(split) -> int:
    """Mirrored rows of an evaluation split: two per line of the split file (each person listens once)."""
    return 2 * len(split_rows_pairs(split))


def split_rows_pairs(split):
    if config["dataset"]["generate"]:
        checkpoints.synth_dataset.get()
    from mafrg.data.layout import read_split

    return read_split(ROOT, split)


def eval_shards(split):
    return shard_names(eval_rows(split), EVAL.shard_rows)


def rows_arg(wildcards) -> str:
    a, b = parse_rows(wildcards.shard)
    return f"{a}:{b}"


def prediction_shards(wildcards):
    return [f"{RESULTS}/predictions/{wildcards.split}/{wildcards.method}/{s}.npy" for s in eval_shards(wildcards.split)]


def metric_shards(wildcards):
    return [f"{RESULTS}/metrics/{wildcards.split}/{wildcards.method}/{s}.parquet" for s in eval_shards(wildcards.split)]


REALISM_KEYS = ("frrea_weights", "frrea_image_size", "frrea_dim", "frrea_stride", "si_clusters")


def realism_settings() -> str:
    """Only the settings the realism / 3DMM metrics use (threads or shard sizes do not rerun them)."""
    return as_json({k: config["evaluation"][k] for k in REALISM_KEYS if k in config["evaluation"]})


def frrea_inputs(wildcards):
    """With an FRRea network: its weights and the split's validated videos (real listener frames)."""
    if EVAL.frrea_weights == "none":
        return []
    return [EVAL.frrea_weights, f"{RESULTS}/validation/{wildcards.split}.json"]


def shard_paths(wildcards):
    return [f"{RESULTS}/features/{wildcards.split}/{rel}.parquet" for rel in split_clips(wildcards.split)]


def extract_inputs(wildcards):
    f = clip_files(ROOT, wildcards.split, wildcards.rel)
    files = {"video": str(f.video)}
    if any(s in AUDIO_STREAMS for s in FEATURES.enabled()):
        files["audio"] = str(f.audio)
    weights = [FEATURES.weights_path(s) for s in FEATURES.enabled()
               if s in WEIGHTED_STREAMS and FEATURES.weights_path(s) != UNTRAINED]
    if weights:
        files["weights"] = weights
    return files


def reactdiff_settings() -> str:
    """The reactdiff section minus workflow-only keys: what the models and sampler see."""
    return as_json({k: v for k, v in REACTDIFF.items() if k not in ("enabled", "modes", "threads")})


def loss_tables():
    if not REACTDIFF_ON:
        return []
    return [f"{RESULTS}/models/reactdiff/mmt_losses.csv", f"{RESULTS}/models/reactdiff/ddim_losses.csv"]


def report_outputs():
    return [f"{RESULTS}/report/README.md", f"{RESULTS}/report/provenance.json", f"{RESULTS}/report/report.html"] + [
        f"{RESULTS}/report/{s}{part}.{ext}" for s in EVAL_SPLITS for part in ("", "_listener") for ext in ("csv", "md")
    ]


def showcase_inputs(wildcards):
    """The first prediction shard of the first evaluation split, of the first model method (else GT)."""
    models = [m for m in METHODS if m not in BASELINE_METHODS] or ["GT"]
    split = EVAL_SPLITS[0]
    shard = eval_shards(split)[0]
    pred = f"{RESULTS}/predictions/{split}/{models[0]}/{shard}.npy"
    return [f"{RESULTS}/data/{split}.npz", pred, pred.replace(".npy", "_3dmm.npy")]


CODE = {
    # config.py is left out on purpose: the settings a step uses reach it as params, and an edit elsewhere in
    # config.py (say a new evaluation option) must not regenerate the dataset and everything after it.
    "synth": code_hash(["synth", "render", "atomic"]),
    "data": code_hash(["data", "atomic", "constants"]),
    "neighbours": code_hash(["neighbours", "data.assemble"]),
    "baselines": code_hash(["baselines", "data.assemble"]),
    "metrics": code_hash(["metrics", "constants", "sharding", "render"]),
    "report": code_hash(["report", "report_html", "render"]),
    "features": code_hash(["features", "data.readers", "data.layout"]),
    "reactdiff": code_hash(["reactdiff", "features.shard", "data.assemble"]),
}
