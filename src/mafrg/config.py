"""Typed configuration sections and schema validation with messages that name the offending key.

The Snakemake workflow validates the whole ``config.yaml`` against ``workflow/schemas/config.schema.yaml``;
the CLI receives one section at a time as JSON and turns it into one of these dataclasses, so every
function below the CLI works on typed, defaulted values.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Any, TypeVar

import yaml

from mafrg.schema import at_least, positive, unit_interval

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


def _key_path(err: Any) -> str:
    parts = [str(p) for p in err.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def validate_config(cfg: dict, schema_path: str | Path | dict) -> None:
    """Validate ``cfg`` against the JSON schema (a file, or the schema itself), raising one ConfigError that
    lists every problem by key."""
    import jsonschema

    schema = schema_path if isinstance(schema_path, dict) else yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)(schema)
    problems = []
    for err in sorted(validator.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path))):
        key = _key_path(err)
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            where = "" if key == "<top level>" else f" in '{key}'"
            for name in extra:
                full = name if key == "<top level>" else f"{key}.{name}"
                problems.append(f"unknown config key '{full}'{where}")
        elif err.validator == "required":
            for name in sorted(set(err.validator_value) - set(err.instance)):
                full = name if key == "<top level>" else f"{key}.{name}"
                problems.append(f"missing config key '{full}'")
        else:
            problems.append(f"config key '{key}': {err.message}")
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))


def load_config(path: str | Path, schema_path: str | Path | None = None) -> dict:
    cfg = yaml.safe_load(Path(path).read_text()) or {}
    if schema_path is not None:
        validate_config(cfg, schema_path)
    return cfg


def from_dict(cls: type[T], data: dict | str | None) -> T:
    """Build dataclass ``cls`` from a dict (or its JSON text), refusing unknown keys."""
    if data is None:
        data = {}
    if isinstance(data, str):
        data = json.loads(data)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown key(s) for {cls.__name__}: {', '.join(unknown)}")
    return cls(**data)  # type: ignore[call-arg]


@dataclass
class SynthConfig:
    """Size and randomness of the embedded demo dataset."""

    seed: int = 2024
    sessions: dict[str, int] = field(default_factory=lambda: {"train": 6, "val": 3, "test": 3})
    clips_per_session: int = 2
    frames: int = 251  # REACT clips carry one frame more than the evaluated window
    fps: int = 25
    image_size: int = 256
    video_format: str = "mp4"  # mp4 | png
    audio: str = "auto"  # auto | espeak | procedural
    sample_rate: int = 16000
    site: str = "Synth"
    layout: str = "react2024"  # react2024 | mars (REACT 2025/2026: clips of any length, roles, sessions)
    min_frames: int = 60  # mars: clip lengths drawn log-uniformly from min_frames to frames
    listeners: int = 2  # mars: people taking the listener role in each session (clips rotate over them)


@dataclass
class DatasetConfig:
    """Where the dataset is, which layout it has (:mod:`mafrg.data.layouts`) and how clips are cut."""

    root: str = "results/demo_data"
    layout: str = "react2024"  # a registered dataset layout (`mafrg layouts` lists them)
    generate: bool = False  # the workflow generates the demo dataset at root
    clip_length: int = 750
    fps: int = 25
    pad_short: bool = False  # repeat the last frame of clips shorter than clip_length instead of failing
    max_frame_mismatch: int = 1  # tolerated difference in frame counts between modalities
    full_decode: bool = False  # validate by decoding every video frame, not only the first and last
    check_emotion_header: bool = True  # emotion CSV headers must name the 25 REACT columns in order
    splits: list[str] = field(default_factory=lambda: ["val", "test"])
    # each layout's own settings block, ``dataset.<layout name>`` in the config (validated by its schema)
    blocks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: dict | str | None) -> "DatasetConfig":
        """The ``dataset`` section (a dict or its JSON): its fields, and each object-valued key that is not a field
        as a layout's settings block (the workflow's schema allows registered layout names only)."""
        if isinstance(data, str):
            data = json.loads(data)
        data = dict(data or {})
        names = {f.name for f in dataclasses.fields(cls)}
        blocks = dict(data.pop("blocks", None) or {})
        blocks.update({k: data.pop(k) for k in list(data) if k not in names and isinstance(data[k], dict)})
        return from_dict(cls, {**data, "blocks": blocks})

    def to_dict(self) -> dict[str, Any]:
        """The section as the config writes it (blocks under their layout names): what :meth:`parse` reads."""
        out = dataclasses.asdict(self)
        return {**{k: v for k, v in out.items() if k != "blocks"}, **out["blocks"]}


@dataclass
class NeighbourConfig:
    """How the appropriate-reaction matrix is obtained when no official one is supplied."""

    # auto: the official source when the dataset has one, else build | official | build | session (mafrg.neighbours)
    source: str = "auto"
    quantile: float = 0.1  # off-diagonal pairs whose speaker distance is within this quantile are neighbours
    size: int = 10  # MARS official draws: ground truths per row (the paired listener and size - 1 others)
    seed: int = field(default=1234, metadata=at_least(0))  # MARS official draws: the random.Random seed


@dataclass
class GenerationConfig:
    """What every method generates: alpha reactions per mirrored row; and where, at which precision."""

    n_predictions: int = 10
    device: str = "auto"  # auto (a GPU when the job sees one, as training) | cpu | cuda: where trained methods sample
    precision: str = "fp32"  # fp32 | bf16 (networks under bfloat16 autocast: faster on GPUs, not bit-identical)

    def __post_init__(self) -> None:
        from mafrg.devices import DEVICES, PRECISIONS

        if self.device not in DEVICES or self.precision not in PRECISIONS:
            raise ConfigError(f"generation.device must be one of {', '.join(DEVICES)} and generation.precision one "
                              f"of {', '.join(PRECISIONS)}; got {self.device!r} and {self.precision!r}")


@dataclass
class SubmissionConfig:
    """What ``snakemake submission`` packs (docs/submissions.md); each method's first seed."""

    methods: list[str] = field(default_factory=list)  # empty: every enabled method with training stages
    split: str = "test"
    format: str = "npy"  # npy | pth
    binarize: bool = True  # AU channels to 0/1 at `threshold` (false: probabilities, clipped to [0, 1])
    threshold: float = 0.5
    videos: list[str] | None = None  # speaker clips to render; null: the organisers' four if present, else 4 rows
    video_reactions: int = 3
    archive: str = "none"  # none | zip | tar.gz


@dataclass
class EvalConfig:
    protocol: str = "react2024"  # react2024 | react2025 (clips of any length) | corrected
    # clips of any length: how a ground truth of another length meets the prediction (mafrg.metrics.ragged)
    gt_alignment: Literal["resample", "prefix"] = "resample"
    threads: int = 2
    chunk_rows: int = 32
    shard_rows: int = 100  # rows per prediction file and metric job (REACT 2024: 1200 rows -> 12 shards)
    frrea_weights: str = "none"  # TorchScript InceptionV3 (pool3) file; none -> FD_behaviour instead of FRRea
    frrea_image_size: int = 299
    frrea_dim: int = 2048
    frrea_stride: int = 30  # every 30th frame of each row's first prediction (challenge definition)
    si_clusters: int = 15  # k of the k-means behind SI (fitted on training listener expression frames)
    # Efficient Listener metrics: "mafrg" (split-level FD, per-frame L2, SI in nats on training clusters) or
    # "l2l", the learning-to-listen re-implementation (per-sequence FD and MSE, SI in bits, k = 40 / 20 on the
    # split's listeners); see mafrg.metrics.listener.
    listener_protocol: Literal["mafrg", "l2l"] = "mafrg"


@dataclass
class TrainConfig:
    """Optimiser and schedule of one training stage."""

    epochs: int = 100  # passes over the training set
    batch_size: int = 8  # items per optimiser step
    lr: float = field(default=1e-4, metadata=positive())  # AdamW learning rate
    weight_decay: float = 5e-4  # AdamW weight decay
    betas: tuple[float, float] = field(default=(0.9, 0.999), metadata=unit_interval(closed=False))  # AdamW betas
    # decay of the exponential moving average of the weights that is saved (0: none); with a warm-up, its ceiling
    ema_decay: float = field(default=0.999, metadata=unit_interval(closed=False))
    # "inverse": the decay at optimiser step n is min(ema_decay, 1 - (1 + n / ema_inv_gamma) ** -ema_power)
    # (k-diffusion's EMAWarmup, which the ReactDiff-K authors train with: power 2/3), so the average forgets the
    # initial weights early and reaches ema_decay late; "none": ema_decay from the first step
    ema_warmup: Literal["none", "inverse"] = "none"
    ema_power: float = field(default=2 / 3, metadata=positive())  # the warm-up's power (k-diffusion, authors: 2/3)
    ema_inv_gamma: float = field(default=1.0, metadata=positive())  # the warm-up's step scale (k-diffusion: 1)
    # added to the run's seed (methods.<name>.seed + k for the k-th run)
    seed: int = field(default=0, metadata=at_least(0))
    # held out of the *training* split (val/test data never touch training)
    val_fraction: float = field(default=0.1, metadata=unit_interval(closed=False))
    # DataLoader worker processes (0: load in the training process)
    num_workers: int = field(default=0, metadata=at_least(0))
    # "bf16": losses computed under bfloat16 autocast (weights, optimiser and EMA stay float32): faster on GPUs
    # with bf16 units; a different, not a worse, run (docs/usage.md states what it changed on the demo)
    precision: Literal["fp32", "bf16"] = "fp32"
