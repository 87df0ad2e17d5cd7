# Shared helpers: config validation, the method registry's runs, paths, and code hashes that make rules rerun
# when the mafrg code they call changes. The logic lives in mafrg.plan (unit-tested); this file binds it.
import functools
import os
import shlex
from dataclasses import asdict
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# Plan with the code the jobs run: this checkout's src/ (jobs get it on PYTHONPATH below), whatever mafrg the
# interpreter may have installed elsewhere; the code hashes are computed from these files.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from mafrg import checkpoint as ckpt
from mafrg.data.layouts import get_layout
from mafrg.features.config import AUDIO_STREAMS, UNTRAINED, WEIGHTED_STREAMS
from mafrg.extractors import weight_files
from mafrg.features.networks import check_weights
from mafrg.sharding import parse_rows, shard_names
from mafrg.methods import PLUGINS_ENV
from mafrg.cli.methods import method_code_hash
from mafrg.plan import Plan, as_json, command_hash

SCHEMA = str(Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
# mafrg's validator first (static schema + every registered method's block schema; it names every offending
# key), then Snakemake's, which fills the static schema's defaults.
WF = Plan.load(config, SCHEMA)
validate(config, SCHEMA)

# Jobs run `python -m mafrg` with the interpreter of the environment running Snakemake (its bin folder goes
# first on PATH, so it is found whether or not the venv is activated; under --use-conda the rule's env comes
# first) and this workflow's own src/ on PYTHONPATH (so a conda env needs mafrg's dependencies only). Plugins
# reach it through the environment, not the command line: adding a plugin must not change (and so rerun)
# every other rule's command.
os.environ.update({
    "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(workflow.basedir) / "src"), os.environ.get("PYTHONPATH")])),
    PLUGINS_ENV: ",".join(WF.config.get("plugins") or []),
    # for envs/mafrg.post-deploy.sh: a conda env installs this checkout's package (conda jobs get no PYTHONPATH)
    "MAFRG_WORKFLOW_DIR": str(Path(workflow.basedir)),
})


def unset_placeholders():
    """Resource values still reading CHANGE_ME (profiles/slurm's placeholders for partition and account)."""
    rs = workflow.resource_settings
    found = [str(a) for a in (getattr(rs.default_resources, "args", None) or []) if "CHANGE_ME" in str(a)]
    for rule, res in (rs.overwrite_resources or {}).items():
        raw = {k: getattr(r, "raw", r) for k, r in res.items()}  # a Resource object holds the configured value
        found += [f"{rule}:{k}={v}" for k, v in raw.items() if "CHANGE_ME" in str(v)]
    return found


UNSET = unset_placeholders()
if UNSET:
    raise WorkflowError(
        "resources still hold the profile's placeholders: " + ", ".join(UNSET) + ". Put your "
        "cluster's partition (and account, or remove slurm_account and pass --slurm-no-account) in place of each "
        "CHANGE_ME in profiles/slurm/config.yaml, or override them: --default-resources slurm_partition=<p> "
        "slurm_account=<a> mem_mb=4000 runtime=60 --set-resources train:slurm_partition=<gpu partition>"
    )
P = WF.paths
RESULTS = P.results
ROOT = P.root


def config_files():
    """config.yaml, then each --configfile, once each, in merge order (the report's provenance); relative to the
    working directory when inside it, so that a results folder moved with its config does not rerun the report."""
    out = {}
    for f in map(Path, workflow.configfiles):
        full = f.resolve()
        out.setdefault(full, os.path.relpath(full) if full.is_relative_to(Path.cwd()) else str(full))
    return list(out.values())


CONFIG_FILES = config_files()
DATASET = WF.dataset
EVAL = WF.evaluation
LAYOUT = get_layout(DATASET)  # where the dataset keeps its clips (mafrg.data.layouts)
FEATURES = WF.features()  # wav2vec2_causal "auto" decided by the enabled online variants
EVAL_SPLITS = list(DATASET.splits)
ALL_SPLITS = ["train"] + EVAL_SPLITS
LABELS = WF.labels()
TRAINED = [r.name for r in WF.trained()]
ENV = "../../envs/mafrg.yaml"  # every rule's conda env, for --use-conda on clusters (path relative to this folder)

# Missing extractor weights fail here, before any job, with a message naming the stream and what to put there.
if WF.feature_splits():
    check_weights(FEATURES)

# A trained model that no longer matches its checksum sidecar (truncated, half-copied, edited) is moved aside
# now, so that the training rule runs again (when a job needs the model) instead of every later job failing on
# it. A dry run changes nothing in the results folder: it only says so. (Snakemake does not tell a Snakefile at
# parse time that it is a dry run; its command line does.)
def _dry_run() -> bool:
    args = sys.argv[1:]
    return any(a in ("--dry-run", "--dryrun") or (a.startswith("-") and not a.startswith("--") and "n" in a[1:])
               for a in args)


for _m, _seed, _stage in WF.model_targets():
    _why = ckpt.stale(P.model(_m, _seed, _stage))
    if _why and _dry_run():
        print(f"{P.model(_m, _seed, _stage)}: {_why}; a run moves it aside and it will be trained again "
              "(dry run: nothing moved)", file=sys.stderr)
    elif _why:
        ckpt.quarantine(P.model(_m, _seed, _stage), _why)


def _alternatives(names):
    return "|".join(sorted(map(lambda n: n.replace(".", r"\."), names), key=len, reverse=True)) or "(?!)"


wildcard_constraints:
    split="|".join(ALL_SPLITS),
    label=_alternatives(LABELS),
    method=_alternatives([r.name for r in WF.runs]),
    stage=_alternatives(WF.stage_names()),
    seed=r"\d+",
    rel=LAYOUT.clip_pattern,
    session=LAYOUT.session_pattern,
    shard=r"r\d+-\d+",


def dataset_json() -> str:
    return as_json(config["dataset"])


# What the method, evaluation and submission steps read of the dataset section: where it is, its layout and that
# layout's settings, its frame rate. Other keys (splits, validation tolerances) must not retrain models.
DATASET_VALUES = as_json({k: v for k, v in DATASET.to_dict().items() if k in ("root", "layout", "fps")
                          or k in DATASET.blocks})


def dataset_inputs(wildcards):
    """The files that define a split's clips and pairs (the layout's index: REACT 2024's split file, MARS's clip
    files); when the demo is generated, the generator's manifest too."""
    _after_synth()
    files = [str(p) for p in _index_of(wildcards.split)]
    if DATASET.generate:
        files.append(f"{ROOT}/manifest.json")
    return files


# A split file is read, and every file of its rows resolved inside the root, once per planning: the input functions
# of every job of the split ask for what follows from it. When the demo dataset is generated in this run, each is
# read after that checkpoint has produced it. The values are shared: callers must not modify them.
def _after_synth():
    if DATASET.generate:
        checkpoints.synth_dataset.get()


@functools.lru_cache(maxsize=None)
def _index_of(split):
    return LAYOUT.index_files(split)


@functools.lru_cache(maxsize=None)
def _rows_of(split):
    return LAYOUT.rows(split)


@functools.lru_cache(maxsize=None)
def _sessions_of(split):
    return LAYOUT.sessions(split)


@functools.lru_cache(maxsize=None)
def _media_of(split):
    files = [LAYOUT.clip_files(split, rel) for rel in LAYOUT.clips(split)]
    return [str(p) for f in files for p in (f.video, f.audio)]


def split_rows(split):
    """The split's evaluation rows (mirrored where the layout says so)."""
    _after_synth()
    return _rows_of(split)


def split_sessions(split):
    """The split's clips grouped by session (<site>/<session>): every extraction job and the manifest ask."""
    _after_synth()
    return _sessions_of(split)


def eval_shards(split):
    """Row shards of an evaluation split."""
    return shard_names(len(split_rows(split)), EVAL.shard_rows)


def media_files(split):
    """Every video and audio file a split references (inputs of methods that read raw media)."""
    _after_synth()
    return _media_of(split)


def results_dir(path: str, depth: int) -> str:
    """The results folder an output lies in, ``depth`` folders up (so rules never hard-code it twice)."""
    return str(Path(path).parents[depth])


SUB = WF.submission


def submission_targets(wildcards):
    """`snakemake submission`: each configured method's package manifest (and archive). An input function, so
    that a config whose submission section does not fit (say, a split not evaluated) fails only this target."""
    names = [r.name for r in WF.submission_runs()]
    out = [P.submission_manifest(m) for m in names]
    return out + ([P.submission_archive(m, SUB.archive) for m in names] if SUB.archive != "none" else [])


def rows_arg(wildcards) -> str:
    a, b = parse_rows(wildcards.shard)
    return f"{a}:{b}"


def prediction_shards(wildcards):
    return [P.prediction(wildcards.split, wildcards.label, wildcards.seed, s) for s in eval_shards(wildcards.split)]


def metric_shards(wildcards):
    return [P.metric_shard(wildcards.split, wildcards.label, wildcards.seed, s) for s in eval_shards(wildcards.split)]


REALISM_KEYS = ("frrea_weights", "frrea_image_size", "frrea_dim", "frrea_stride", "si_clusters",
                "listener_protocol")


def realism_settings() -> str:
    """Only the settings the realism / 3DMM metrics use (threads or shard sizes do not rerun them)."""
    return as_json({k: getattr(EVAL, k) for k in REALISM_KEYS})


def frrea_inputs(wildcards):
    """With an FRRea network: its weights and the split's validated videos (real listener frames)."""
    if EVAL.frrea_weights == "none":
        return []
    return [EVAL.frrea_weights, P.validation(wildcards.split)]


# The whole features section as JSON, passed to the CLI as a shell *global* (not a param): batch sizes and
# threads change no value, so they must not trigger reruns. Value-affecting settings are the param below.
FEATURES_JSON = as_json(WF.features_section())
EXTRACT_DATASET_JSON = as_json({**{k: getattr(DATASET, k) for k in ("fps", "clip_length", "pad_short", "layout")},
                                 **({LAYOUT.name: LAYOUT.file_settings()} if LAYOUT.file_settings() else {})})


def features_fingerprint() -> str:
    """Per-stream value-affecting settings: a change reruns the shard jobs, which then recompute only the
    streams whose settings changed and reuse the other columns (shards are update() outputs)."""
    return as_json({s: FEATURES.stream_settings(s, DATASET.fps) for s in FEATURES.enabled()})


def session_clips(wildcards):
    """The clips of one session that a split's pairs reference."""
    clips = split_sessions(wildcards.split).get(wildcards.session)
    if not clips:
        raise ValueError(f"split {wildcards.split} has no clip of session {wildcards.session}")
    return clips


def extract_inputs(wildcards):
    # Extraction never starts on an unvalidated split: validate_split is a checkpoint, and asking for it waits
    # until it has passed in this run. It is not a file input, so re-validating after a session was added does
    # not re-extract the sessions that were there (an ancient() input would; Snakemake 9 then also drops the new
    # sessions' jobs from that run).
    checkpoints.validate_split.get(split=wildcards.split)
    clips = [LAYOUT.clip_files(wildcards.split, rel) for rel in session_clips(wildcards)]
    files = {"video": [str(f.video) for f in clips]}
    if any(s in AUDIO_STREAMS for s in FEATURES.enabled()):
        files["audio"] = [str(f.audio) for f in clips]
    weights = []  # every weight file (ELIM comes as a set of files; wav2vec2 as a folder)
    for s in FEATURES.enabled():
        if s in WEIGHTED_STREAMS and FEATURES.weights_path(s) != UNTRAINED:
            w = FEATURES.weights_path(s)
            weights += [w] if s.startswith("wav2vec2") else [str(f) for f in weight_files(s, w)]
    if weights:
        files["weights"] = list(dict.fromkeys(weights))  # the causal wav2vec2 stream shares wav2vec2's folder
    return files


def session_records(wildcards):
    return [P.features_session(wildcards.split, s) for s in split_sessions(wildcards.split)]


def stage_inputs(wildcards):
    return WF.stage_inputs(wildcards.method, int(wildcards.seed), wildcards.stage, media_files)


def generation_inputs(wildcards):
    return WF.generation_inputs(wildcards.split, wildcards.label, int(wildcards.seed), media_files)


def method_of(wildcards) -> str:
    return WF.by_label(wildcards.label)[0].name


def variant_of(wildcards) -> str:
    return WF.by_label(wildcards.label)[1]


def report_outputs():
    return [f"{P.report_dir()}/README.md", f"{P.report_dir()}/provenance.json", f"{P.report_dir()}/report.html"] + [
        f"{P.report_dir()}/{s}{part}.{ext}" for s in EVAL_SPLITS for part in ("", "_listener") for ext in ("csv", "md")
    ] + [f"{P.report_dir()}/{s}.tex" for s in EVAL_SPLITS]


def report_runs(kind):
    f = {"metrics": P.metrics, "split": P.split_metrics}[kind]
    return [f(s, label, seed) for s in EVAL_SPLITS for label, seed in WF.evaluated_runs()]


def showcase_inputs(wildcards):
    """The first prediction shard of the first evaluation split, of the first model run (else the first run)."""
    runs = [(lab, seed) for lab, seed in WF.evaluated_runs() if not WF.by_label(lab)[0].method.reference]
    label, seed = (runs or WF.evaluated_runs())[0]
    split = EVAL_SPLITS[0]
    pred = P.prediction(split, label, seed, eval_shards(split)[0])
    return [P.split_data(split), pred, pred.replace(".npy", "_3dmm.npy")]


# Code hashes: a rule reruns when the mafrg code it runs changes, and only then. CODE["<command>"] is the hash of
# the import closure of that `mafrg` command's handler (mafrg.codehash: derived from the imports, never listed by
# hand); each rule names the command its shell runs (a test checks that they agree).
class _CommandCode(dict):
    def __missing__(self, command):
        self[command] = command_hash(command)
        return self[command]


CODE = _CommandCode()
METHOD_CODE = {r.name: method_code_hash(r.method) for r in WF.runs}
