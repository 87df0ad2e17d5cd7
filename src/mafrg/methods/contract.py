"""The contract every generative method (and every baseline) implements, and what mafrg hands it.

A method declares, in one place (a subclass of :class:`Method`):

* ``name``, ``description``, ``paper``;
* ``variants``: e.g. ReactDiff ``offline`` / ``online``, each saying whether it is *causal* (listener frame t
  uses speaker frames <= t only; the contract test checks it by perturbing the speaker from a random frame);
* ``config_cls`` (a dataclass) and ``presets`` (``paper``, ``demo``, ...) from which a config block's
  overrides start;
* ``stages``: the ordered training stages, each with what it reads (``train_data``, ``train_features``,
  ``train_media``) -- a stage also reads every earlier stage's checkpoint -- and the settings it depends on;
* ``reads``: what generation reads besides the split's own arrays (``features``, ``media``, ``train_data``,
  ``train_features``);
* ``train(stage, ctx)`` writing ``ctx.out`` and ``ctx.losses``, and ``generate(ctx, variant)`` returning
  :class:`~mafrg.predictions.Reactions` for the rows ``ctx.rows``.

Generation reads the speaker only through :meth:`GenerationContext.speaker`, so the contract test can hand a
method a speaker whose future has been changed and check that a causal variant's past output did not move.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from mafrg.config import DatasetConfig

from mafrg.paths import Paths
from mafrg.predictions import Reactions

TRAIN_READS = ("train_data", "train_features", "train_media")
GENERATE_READS = ("train_data", "train_features", "features", "media")
DEFAULT_VARIANT = "default"


@dataclass(frozen=True)
class Variant:
    name: str
    causal: bool
    description: str = ""


@dataclass(frozen=True)
class Stage:
    """One training stage. ``settings(cfg)`` is the part of the method's config this stage depends on: only
    a change there (or to its inputs or code) retrains it."""

    name: str
    reads: tuple[str, ...] = ("train_data",)
    settings: Callable[[Any], dict] | None = None
    gpu: bool = True
    mem_mb: int = 16000
    runtime: int = 720  # minutes

    def __post_init__(self) -> None:
        bad = set(self.reads) - set(TRAIN_READS)
        if bad:
            raise ValueError(f"stage {self.name}: unknown reads {sorted(bad)}; choose from {TRAIN_READS}")


class Method:
    """Base class of a registered method; subclasses fill in the class attributes and the two methods."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    variants: ClassVar[tuple[Variant, ...]] = (Variant(DEFAULT_VARIANT, causal=True),)
    config_cls: ClassVar[type]
    presets: ClassVar[dict[str, Callable[[], Any]]] = {}
    default_preset: ClassVar[str] = "default"
    stages: ClassVar[tuple[Stage, ...]] = ()
    reads: ClassVar[tuple[str, ...]] = ()
    reference: ClassVar[bool] = False  # a baseline: drawn as a reference line in the report's charts
    stochastic: ClassVar[bool] = True  # False: its output does not depend on a seed (one run only)
    # True: it generates for clips of any length (MARS layout: ctx.data is a ClipArrays, every row its speaker's
    # length, Reactions.from_rows); the plan refuses a method without it on such a dataset
    ragged: ClassVar[bool] = False
    # The feature streams generation reads (ctx.speaker(k).features). A causal variant reads each one's causal
    # counterpart (mafrg.features.config.CAUSAL_COUNTERPART) instead; the workflow extracts that stream only when
    # an enabled causal variant reads its whole-clip stream.
    feature_streams: ClassVar[tuple[str, ...]] = ()
    generate_mem_mb: ClassVar[int] = 4000
    generate_runtime: ClassVar[int] = 60

    # ------------------------------------------------------------------------------------------ the contract
    def train(self, stage: str, ctx: "TrainContext") -> None:  # pragma: no cover - methods without stages
        raise NotImplementedError(f"{self.name} has no training stage {stage!r}")

    def generate(self, ctx: "GenerationContext", variant: str) -> Reactions:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------ derived
    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise ValueError(f"{self.name} has no variant {name!r}; it has {[v.name for v in self.variants]}")

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise ValueError(f"{self.name} has no training stage {name!r}; it has {[s.name for s in self.stages]}")

    def label(self, variant: str) -> str:
        """The name a run carries in files and reports: ``ReactDiff_online``, or ``GT`` for a single variant."""
        return self.name if variant == DEFAULT_VARIANT else f"{self.name}_{variant}"

    def stage_settings(self, cfg: Any, stage: str) -> dict:
        s = self.stage(stage)
        return s.settings(cfg) if s.settings is not None else to_jsonable(cfg)

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        for s in getattr(cls, "stages", ()):
            if not isinstance(s, Stage):
                raise TypeError(f"{cls.__name__}.stages must hold Stage objects")
        bad = set(getattr(cls, "reads", ())) - set(GENERATE_READS)
        if bad:
            raise ValueError(f"{cls.__name__}.reads: unknown {sorted(bad)}; choose from {GENERATE_READS}")


def to_jsonable(cfg: Any) -> Any:
    """A config dataclass (or anything JSON-like, dataclasses nested in it too) as plain JSON types (tuples
    become lists)."""

    def plain(o: Any) -> Any:
        return asdict(o) if hasattr(o, "__dataclass_fields__") else str(o)

    return json.loads(json.dumps(cfg, default=plain))


def stable_seed(*parts: Any) -> int:
    """A 63-bit seed from any JSON-able parts (the same on every machine and Python)."""
    h = hashlib.sha256(json.dumps(parts, default=str).encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


# -------------------------------------------------------------------------------------------- contexts
class _DatasetAccess:
    """What both contexts know of the dataset: its frame rate and layout (from their ``dataset`` and ``paths``)."""

    dataset: DatasetConfig
    paths: Paths

    @property
    def fps(self) -> int:
        return self.dataset.fps

    @cached_property
    def layout(self):
        """The dataset's layout (:mod:`mafrg.data.layouts`) over ``paths.root``."""
        from mafrg.data.layouts import get_layout

        return get_layout(self.dataset, self.paths.root)


@dataclass
class TrainContext(_DatasetAccess):
    """What a training stage gets: its config, the run's seed, where to read and where to write."""

    method: str
    stage: str
    config: Any
    seed: int
    paths: Paths
    threads: int = 2
    progress: bool = True
    code: str = ""  # the method's code hash (what the training rule's `code` param holds)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)  # the dataset section: layout, fps

    @property
    def out(self) -> Path:
        return Path(self.paths.model(self.method, self.seed, self.stage))

    def resume_identity(self, **parts: Any) -> dict[str, Any]:
        """What a resumable state must match to be resumed (``training.train``'s ``identity``): the stage, the
        method's code, and the stage's settings and data (``parts``). The state is kept after the stage finishes,
        so without the code in it a stage the workflow reruns because the method's code changed "resumed" at
        its last epoch and wrote the old weights again."""
        return {"stage": self.stage, "code": self.code, **parts}

    @property
    def losses(self) -> Path:
        return Path(self.paths.losses(self.method, self.seed, self.stage))

    @property
    def workdir(self) -> Path:
        """Where the resumable training state lives (kept after the stage finished)."""
        return Path(self.paths.train_state(self.method, self.seed, self.stage))

    def checkpoint(self, stage: str) -> Path:
        """An earlier stage's trained checkpoint of the same run."""
        return Path(self.paths.model(self.method, self.seed, stage))

    @cached_property
    def train_data(self):
        from mafrg.data.assemble import load_split

        return load_split(self.paths.split_data("train"))

    def feature_file(self, rel: str) -> str:
        return self.paths.feature_file("train", rel)

    def media(self, rel: str):
        return self.layout.clip_files("train", rel)

    def features_digest(self) -> str:
        """Hash of the training features manifest's file list and checksums (what training saw)."""
        m = json.loads(Path(self.paths.features_manifest("train")).read_text())
        return hashlib.sha256(json.dumps([(s["path"], s["sha256"]) for s in m["files"]]).encode()).hexdigest()[:16]


class SpeakerClip:
    """One row's speaker, every modality on the dataset's frame grid, loaded on first use.

    Methods read the speaker only through this object (see the module docstring)."""

    def __init__(self, ctx: "GenerationContext", row: int):
        self.ctx = ctx
        self.row = row
        self.rel = ctx.data.rows[row].speaker
        self.frames = ctx.row_frames(row)

    @property
    def emotion(self) -> np.ndarray:
        """(T, 25) float32."""
        d = self.ctx.data
        return d.speaker_emotion_of(self.row) if d.ragged else d.speaker_emotion[self.row]

    @property
    def tdmm(self) -> np.ndarray:
        """(T, 58) float32."""
        d = self.ctx.data
        return d.speaker_tdmm_of(self.row) if d.ragged else d.speaker_tdmm[self.row]

    def features(self, streams: tuple[str, ...] | list[str]) -> dict[str, np.ndarray]:
        """(T, dim) arrays of the requested feature streams (stored dtype). A causal variant gets, under the
        requested name, each stream's causal counterpart (``wav2vec2`` -> ``wav2vec2_causal``: frame t computed from
        the audio up to the end of frame t only), so that no online output depends on speech after its frame."""
        from mafrg import features

        path = self.ctx.paths.feature_file(self.ctx.split, self.rel)
        read = {s: self.ctx.stream_source(s) for s in streams}
        try:
            clip = features.load_clip(path, list(dict.fromkeys(read.values())), frames=self.frames, dtype=None)
        except features.FeatureFileError:
            swapped = [(s, r) for s, r in read.items() if r != s]
            if not swapped:
                raise
            s, r = swapped[0]
            raise ValueError(f"{path}: no {r} stream, which the causal variant reads in place of {s}; "
                             f"extract it (features.{r}.enabled: auto or true) and rerun") from None
        n = len(clip["frame"])
        if n < self.frames:
            raise ValueError(f"{path}: {n} frames, generation needs {self.frames}")
        return {s: np.array(clip[read[s]]) for s in streams}

    def video(self, size: int) -> np.ndarray:
        """(T, size, size, 3) uint8 RGB frames on the grid (shorter side resized, centre crop)."""
        from mafrg.media.video import grid_frames

        return grid_frames(self.ctx.media(self.rel).video, self.frames, size, self.ctx.fps)

    def audio(self, sample_rate: int = 16000) -> np.ndarray:
        """(T * sample_rate / fps,) float32 mono samples aligned to the video frames."""
        from mafrg.media.audio import align_audio

        return align_audio(self.ctx.media(self.rel).audio, self.frames, self.ctx.fps, sample_rate).samples


@dataclass
class GenerationContext(_DatasetAccess):
    """What generation gets: config, the run's seed, the split's rows, its speakers and trained stages."""

    method: str
    config: Any
    seed: int
    paths: Paths
    split: str
    rows: tuple[int, int]
    n_predictions: int = 10
    threads: int = 2
    progress: bool = True
    dataset: DatasetConfig = field(default_factory=DatasetConfig)  # the dataset section: layout, fps
    causal: bool = False  # a causal (online) variant: speakers' features come from their causal streams
    device: str = "auto"  # generation.device: auto | cpu | cuda (trained methods sample there)
    precision: str = "fp32"  # generation.precision: fp32 | bf16 (autocast of the networks)
    _data: Any = field(default=None, repr=False)

    @cached_property
    def torch_device(self):
        """``device`` resolved (:func:`mafrg.devices.resolve`): a trained method moves its networks and inputs
        here and brings its reactions back to the CPU. Noise is drawn on the CPU from the row's seed either way, so
        a GPU samples the CPU's noise and its reactions differ from the CPU's by float rounding only."""
        from mafrg.devices import resolve

        return resolve(self.device, "generation.device")

    def autocast(self):
        """The networks' precision context (:func:`mafrg.devices.autocast`)."""
        from mafrg.devices import autocast

        return autocast(self.torch_device, self.precision)

    @property
    def data(self):
        """The split's arrays (SplitArrays): row order, speaker/listener emotion and 3DMM."""
        if self._data is None:
            from mafrg.data.assemble import load_split

            self._data = load_split(self.paths.split_data(self.split))
        return self._data

    @cached_property
    def train_data(self):
        from mafrg.data.assemble import load_split

        return load_split(self.paths.split_data("train"))

    @property
    def frames(self) -> int:
        """Frames of every row (fixed-length splits); :meth:`row_frames` for clips of any length."""
        if self.ragged:
            raise ValueError(f"split {self.split}: clips of any length have no one frame count; use row_frames(k)")
        return int(self.data.speaker_emotion.shape[1])

    @property
    def ragged(self) -> bool:
        """Rows of their own lengths (the split is a :class:`~mafrg.data.assemble.ClipArrays`)."""
        return self.data.ragged

    def stream_source(self, stream: str) -> str:
        """The feature stream a requested one is read from: its causal counterpart for a causal variant."""
        from mafrg.features.config import CAUSAL_COUNTERPART

        return CAUSAL_COUNTERPART.get(stream, stream) if self.causal else stream

    def row_frames(self, k: int) -> int:
        """Row k's frames: its speaker's length (every row's on fixed-length splits)."""
        return int(self.data.speaker_lengths()[k]) if self.ragged else self.frames

    def train_features(self, rel: str, streams: tuple[str, ...] | list[str]) -> dict[str, np.ndarray]:
        """(T, dim) feature streams of a *training* clip (methods that declare ``train_features``)."""
        from mafrg import features

        clip = features.load_clip(self.paths.feature_file("train", rel), list(streams), dtype=None)
        return {s: np.array(clip[s]) for s in streams}

    def checkpoint(self, stage: str) -> Path:
        return Path(self.paths.model(self.method, self.seed, stage))

    def speaker(self, row: int) -> SpeakerClip:
        return SpeakerClip(self, row)

    def media(self, rel: str):
        return self.layout.clip_files(self.split, rel)

    def row_seed(self, row: int, *salt: Any) -> int:
        """The seed of one row's reactions: depends on (method, run seed, split, row), never on the sharding."""
        return stable_seed(self.method, self.seed, self.split, row, *salt)

    def row_ids(self) -> range:
        return range(*self.rows)

    def sample_seed(self, k: int) -> int:
        """Row k's noise seed for the trained methods, whose config has ``generate_seed`` (a new value draws other
        reactions from the same checkpoints, without retraining): from it, the run's seed and the row alone, never
        from the shard or the block the row is sampled in."""
        return (self.config.generate_seed + self.seed) * 100_003 + k

    def in_blocks(self, size: int, variant: str,
                  sample: Callable[[int, int], tuple[np.ndarray, np.ndarray]]) -> Reactions:
        """Reactions for rows ``self.rows`` from ``sample(a, z)`` -> (emotion (z - a, α, T, 25), 3DMM (z - a, α, T,
        58)) called on the fixed blocks of ``size`` rows that cover them (``row_blocks``); block rows outside
        this shard are dropped. Sampling several rows as one batch amortises per-call overhead."""
        from mafrg.progress import tqdm

        lo, hi = self.rows
        if self.ragged:  # clips of any length: each row alone, at its own length
            rows = []
            for k in tqdm(range(lo, hi), desc=f"generate {self.split} ({variant})", unit="row",
                          disable=not self.progress):
                e, d = sample(k, k + 1)
                rows.append((e[0], d[0]))
            return Reactions.from_rows([e for e, _ in rows], [d for _, d in rows])
        n, frames = self.n_predictions, self.frames
        emotion = np.empty((hi - lo, n, frames, 25), np.float32)
        tdmm = np.empty((hi - lo, n, frames, 58), np.float32)
        total = int(self.data.speaker_emotion.shape[0])
        with tqdm(total=hi - lo, desc=f"generate {self.split} ({variant})", unit="row",
                  disable=not self.progress) as bar:
            for a, z in row_blocks(lo, hi, size, total):
                e, d = sample(a, z)
                first, stop = max(a, lo), min(z, hi)  # the block's rows that this shard asked for
                emotion[first - lo:stop - lo], tdmm[first - lo:stop - lo] = e[first - a:stop - a], d[first - a:stop - a]
                bar.update(stop - first)
        return Reactions(emotion, tdmm)


def row_blocks(lo: int, hi: int, size: int, total: int) -> list[tuple[int, int]]:
    """The fixed blocks [k*size, (k+1)*size) ∩ [0, total) that cover rows [lo, hi). A row is always sampled with
    the same block, whatever shard asks for it, so a shard equals those rows of a whole-split run bit for bit
    (batched kernels may round differently at another batch size)."""
    first, last = lo // size, (hi - 1) // size
    return [(k * size, min((k + 1) * size, total)) for k in range(first, last + 1)] if hi > lo else []
