"""The plan: what the Snakemake workflow derives from the config and the method registry (bound in ``common.smk``).

Kept here, in the library, so that it is unit-tested and so that the generic rules need no method names:
the schema of the ``methods:`` section is composed from each registered method's fragment; the training
targets, the inputs of every stage and of every generation shard, the code hashes that make rules rerun, and
the report's inputs all follow from the resolved method blocks.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from mafrg import methods as registry
from mafrg.codehash import code_hash
from mafrg.config import (
    ConfigError, DatasetConfig, EvalConfig, GenerationConfig, NeighbourConfig, SubmissionConfig, SynthConfig, from_dict,
    validate_config,
)
from mafrg.methods.settings import MethodRun, enabled_runs, schema_fragment
from mafrg.paths import Paths


def compose_schema(base: str | Path) -> dict[str, Any]:
    """The static schema file with each registered method's block schema under ``methods`` and each registered
    dataset layout's name (``dataset.layout``) and settings block (``dataset.<layout>``)."""
    from mafrg.data.layouts import layouts, schema_fragments

    schema = yaml.safe_load(Path(base).read_text())
    ds = schema["properties"]["dataset"]["properties"]
    schema["properties"]["dataset"]["additionalProperties"] = False
    ds["layout"]["enum"] = sorted(layouts())
    for name, frag in schema_fragments().items():
        ds[name] = {**frag, "description": f"settings of the {name} layout (used when dataset.layout is {name})"}
    props = schema["properties"]["methods"]
    props["properties"] = {m.name: schema_fragment(m) for m in registry.registered()}
    props["additionalProperties"] = False
    return schema


def as_json(section: Any) -> str:
    """Compact, key-sorted JSON (what rules pass to the CLI, quoted with :q)."""
    return json.dumps(section, sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=1)
def command_handlers() -> dict[str, str]:
    """``{command: "module:function"}`` of every ``mafrg`` sub-command (read from the parser itself)."""
    import argparse

    from mafrg.cli.main import build_parser

    out: dict[str, str] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:  # noqa: SLF001 - argparse keeps sub-parsers here only
            if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
                for name, sub in action.choices.items():
                    walk(sub, f"{prefix} {name}".strip())
        func = parser.get_default("func")
        if func is not None and prefix:
            out[prefix] = f"{func.__module__}:{func.__name__}"

    walk(build_parser(), "")
    return out


def command_hash(command: str) -> str:
    """Code hash of one ``mafrg`` sub-command: the import closure of its handler (:mod:`mafrg.codehash`)."""
    handlers = command_handlers()
    if command not in handlers:
        raise ValueError(f"no mafrg command {command!r}; commands: {', '.join(sorted(handlers))}")
    return code_hash([handlers[command]])


@dataclass
class Plan:
    """The resolved config: sections as dataclasses, enabled method runs, path conventions."""

    config: dict[str, Any]
    paths: Paths
    dataset: DatasetConfig
    synth: SynthConfig
    neighbours: NeighbourConfig
    evaluation: EvalConfig
    generation: GenerationConfig
    submission: SubmissionConfig = field(default_factory=SubmissionConfig)
    runs: list[MethodRun] = field(default_factory=list)

    @classmethod
    def load(cls, config: dict[str, Any], schema_path: str | Path) -> "Plan":
        registry.load_plugins(config.get("plugins") or [])
        validate_config(config, compose_schema(schema_path))
        ds = DatasetConfig.parse(config["dataset"])
        return cls(
            config=config, paths=Paths(results=config["results"], root=ds.root), dataset=ds,
            synth=from_dict(SynthConfig, config.get("synth")),
            neighbours=from_dict(NeighbourConfig, config.get("neighbours")),
            evaluation=from_dict(EvalConfig, config.get("evaluation")),
            generation=from_dict(GenerationConfig, config.get("generation")),
            submission=from_dict(SubmissionConfig, config.get("submission")),
            runs=enabled_runs(config.get("methods") or {}),
        )._checked()

    def _checked(self) -> "Plan":
        """The choices that must fit the dataset's layout, all named at once before any job."""
        from mafrg.data.layouts import layout_class

        layout = layout_class(self.dataset.layout)
        problems = []
        if self.dataset.fps != layout.native_fps:
            problems.append(f"dataset.fps is {self.dataset.fps}; the {layout.name} layout's annotations are at "
                            f"{layout.native_fps} fps: set dataset.fps: {layout.native_fps}")
        if self.dataset.generate and self.synth.layout != layout.name:
            problems.append(f"synth.layout is {self.synth.layout}, dataset.layout {layout.name}: the generated demo "
                            "must have the layout the workflow reads")
        protocol = self.evaluation.protocol
        if layout.ragged:
            if protocol == "react2024":
                problems.append(f"evaluation.protocol react2024 is for fixed-length clips; the {layout.name} layout's "
                                "clips differ in length: use react2025 (the official behaviour) or corrected")
            problems += [f"methods.{r.name}: not available on clips of any length (dataset.layout {layout.name}) "
                         "yet; disable it (enabled: false)" for r in self.runs if not r.method.ragged]
        elif protocol == "react2025":
            problems.append(f"evaluation.protocol react2025 is for clips of any length (MARS); the {layout.name} "
                            "layout's protocol is react2024 (or corrected)")
        if problems:
            raise ConfigError("the configuration does not fit the dataset:\n  - " + "\n  - ".join(problems))
        return self

    # ----------------------------------------------------------------------------------------- features
    def causal_reads(self) -> set[str]:
        """The whole-clip feature streams that enabled causal variants read (they get the causal counterparts)."""
        return {s for r in self.runs for v in r.variants if r.method.variant(v).causal
                for s in r.method.feature_streams}

    def features(self):
        """The features section with ``auto`` decided (:meth:`mafrg.features.config.FeatureConfig.resolved`)."""
        from mafrg.features.config import FeatureConfig

        return FeatureConfig.from_dict(self.config.get("features")).resolved(self.causal_reads())

    def features_section(self) -> dict[str, Any]:
        """The features section as the extraction jobs get it: the config's, ``wav2vec2_causal.enabled`` decided."""
        section = dict(self.config.get("features") or {})
        section["wav2vec2_causal"] = {**(section.get("wav2vec2_causal") or {}),
                                      "enabled": self.features().wav2vec2_causal.enabled}
        return section

    # ----------------------------------------------------------------------------------------- runs
    def run(self, method: str) -> MethodRun:
        for r in self.runs:
            if r.name == method:
                return r
        raise ValueError(f"method {method!r} is not enabled in this config")

    def labels(self) -> list[str]:
        return [lab for r in self.runs for lab in r.labels()]

    def by_label(self, label: str) -> tuple[MethodRun, str]:
        for r in self.runs:
            for v in r.variants:
                if r.method.label(v) == label:
                    return r, v
        raise ValueError(f"no enabled method has the run label {label!r}")

    def evaluated_runs(self) -> list[tuple[str, int]]:
        """(label, seed) of every run the report shows."""
        return [(r.method.label(v), s) for r in self.runs for v in r.variants for s in r.seeds]

    def trained(self) -> list[MethodRun]:
        return [r for r in self.runs if r.method.stages]

    def stage_names(self) -> list[str]:
        return sorted({s.name for r in self.trained() for s in r.method.stages})

    def model_targets(self) -> list[tuple[str, int, str]]:
        return [(r.name, seed, s.name) for r in self.trained() for seed in r.seeds for s in r.method.stages]

    def loss_tables(self) -> list[str]:
        return [self.paths.losses(m, seed, st) for m, seed, st in self.model_targets()]

    # --------------------------------------------------------------------------------------- inputs
    def _reads_files(self, reads, split: str, media_files) -> list[str]:
        files: list[str] = []
        for r in reads:
            if r in ("train_data",):
                files.append(self.paths.split_data("train"))
            elif r in ("train_features", "features"):
                files.append(self.paths.features_manifest("train" if r == "train_features" else split))
            elif r in ("train_media", "media"):
                sp = "train" if r == "train_media" else split
                files.append(self.paths.validation(sp))
                files.extend(media_files(sp))
        return files

    def stage_inputs(self, method: str, seed: int, stage: str, media_files) -> list[str]:
        run = self.run(method)
        st = run.method.stage(stage)
        files = self._reads_files(st.reads, "train", media_files)
        earlier = run.method.stages[: run.method.stages.index(st)]
        files += [self.paths.model(method, seed, e.name) for e in earlier]
        return files

    def generation_inputs(self, split: str, label: str, seed: int, media_files) -> list[str]:
        run, _ = self.by_label(label)
        files = [self.paths.split_data(split), *self._reads_files(run.method.reads, split, media_files)]
        files += [self.paths.model(run.name, seed, s.name) for s in run.method.stages]
        return list(dict.fromkeys(files))

    def feature_splits(self) -> list[str]:
        """Splits whose feature files some enabled method reads."""
        out = []
        for r in self.runs:
            if any("train_features" in s.reads for s in r.method.stages) or "train_features" in r.method.reads:
                out.append("train")
            if "features" in r.method.reads:
                out.extend(self.dataset.splits)
        return list(dict.fromkeys(out))

    # ----------------------------------------------------------------------------------- submission
    def submission_runs(self) -> list[MethodRun]:
        """The methods ``snakemake submission`` packs: those listed, else every enabled trained method."""
        sub = self.submission
        if sub.split not in self.dataset.splits:
            raise ConfigError(f"submission.split {sub.split!r} is not an evaluated split (dataset.splits: "
                              f"{', '.join(self.dataset.splits)})")
        names = sub.methods or [r.name for r in self.trained()]
        enabled = {r.name: r for r in self.runs}
        missing = [n for n in names if n not in enabled]
        if missing:
            raise ConfigError(f"submission.methods: {', '.join(missing)} is not an enabled method")
        return [enabled[n] for n in names]

    def submission_inputs(self, method: str, shards: list[str]) -> list[str]:
        """Every prediction shard (emotion file; its 3DMM and JSON come with it) the package is made from."""
        run = self.run(method)
        seed = run.seeds[0]
        return [self.paths.prediction(self.submission.split, lab, seed, sh) for lab in run.labels() for sh in shards]

    # ------------------------------------------------------------------------------------- settings
    def stage_block_json(self, method: str, stage: str) -> str:
        """The method block a training stage is run with: its preset and the settings the stage depends on
        (``Stage.settings``), so that a change elsewhere in the block (a sampling setting, a later stage's
        size) neither reaches the stage's command nor reruns it."""
        run = self.run(method)
        return as_json({"preset": run.preset, **run.method.stage_settings(run.config, stage)})

    def generation_fingerprint(self, label: str) -> str:
        run, variant = self.by_label(label)
        g, default = self.generation, GenerationConfig()  # device and precision only when set: earlier runs' stay
        where = {k: getattr(g, k) for k in ("device", "precision") if getattr(g, k) != getattr(default, k)}
        return as_json({"config": run.config_json(), "variant": variant, "n_predictions": g.n_predictions, **where})

    def block_json(self, method: str) -> str:
        return as_json(self.run(method).block())

    def config_json(self) -> str:
        """The effective config (what the report's provenance hashes)."""
        cfg = copy.deepcopy(self.config)
        return as_json(cfg)
