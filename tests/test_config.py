"""Configuration: the shipped config is valid; wrong keys or types fail naming the key."""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import REPO
from mafrg.config import ConfigError, SynthConfig, from_dict, validate_config
from mafrg.plan import compose_schema

SCHEMA_FILE = REPO / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA = compose_schema(SCHEMA_FILE)  # the static schema plus every registered method's block schema


@pytest.fixture()
def cfg():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_shipped_configs_are_valid(cfg):
    validate_config(cfg, SCHEMA)
    validate_config(yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text()), SCHEMA)


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda c: c.update(colour="blue"), "unknown config key 'colour'"),
        (lambda c: c["dataset"].update(clip_lenght=750), "unknown config key 'dataset.clip_lenght'"),
        (lambda c: c["dataset"].update(clip_length="750"), "config key 'dataset.clip_length': '750' is not of type 'integer'"),
        (lambda c: c["evaluation"].update(protocol="official"), "config key 'evaluation.protocol'"),
        (lambda c: c["methods"].update(B_Nope={}), "unknown config key 'methods.B_Nope'"),
        (lambda c: c["methods"]["ReactDiff"].update(variants=["live"]), "config key 'methods.ReactDiff.variants.0'"),
        (lambda c: c["methods"]["ReactDiff"].update(ddim={"steps": 3}), "unknown config key 'methods.ReactDiff.ddim.steps'"),
        (lambda c: c["methods"]["ReactDiff"].update(preset="huge"), "config key 'methods.ReactDiff.preset'"),
        (lambda c: c["methods"]["GT"].update(seeds=2), "config key 'methods.GT.seeds'"),
        (lambda c: c["neighbours"].update(quantile=2), "config key 'neighbours.quantile'"),
        (lambda c: c.pop("dataset"), "missing config key 'dataset'"),
    ],
)
def test_bad_config_names_the_key(cfg, edit, message):
    bad = copy.deepcopy(cfg)
    edit(bad)
    with pytest.raises(ConfigError) as exc:
        validate_config(bad, SCHEMA)
    assert message in str(exc.value)


def test_all_problems_reported_at_once(cfg):
    bad = copy.deepcopy(cfg)
    bad["synth"]["seed"] = "x"
    bad["evaluation"]["threads"] = 0
    with pytest.raises(ConfigError) as exc:
        validate_config(bad, SCHEMA)
    assert "synth.seed" in str(exc.value) and "evaluation.threads" in str(exc.value)


def test_dataclass_sections_refuse_unknown_keys():
    assert from_dict(SynthConfig, '{"seed": 5}').seed == 5
    with pytest.raises(ConfigError, match="unknown key\\(s\\) for SynthConfig: sede"):
        from_dict(SynthConfig, {"sede": 5})


SECTIONS = {"dataset": "DatasetConfig", "synth": "SynthConfig", "neighbours": "NeighbourConfig",
            "evaluation": "EvalConfig", "generation": "GenerationConfig",
            "submission": "SubmissionConfig"}


def _section_classes():
    import mafrg.config as c
    from mafrg.features.config import FeatureConfig, MfccStream, VisualStream, Wav2Vec2Stream

    out = {k: getattr(c, v) for k, v in SECTIONS.items()}
    return out, {"features": FeatureConfig, "features.va": VisualStream, "features.mfcc": MfccStream,
                 "features.wav2vec2": Wav2Vec2Stream}


def _props(schema, dotted):
    node = schema
    for part in dotted.split("."):
        node = node["properties"][part]
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].split("/")[-1]]
    return node["properties"]


def test_config_sections_match_dataclasses(cfg):
    """Every key the schema allows in a section is a field of its dataclass (and so reaches the code)."""
    import dataclasses

    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    plain, _ = _section_classes()
    for section, cls in plain.items():
        keys = set(schema["properties"][section]["properties"])
        fields = {f.name for f in dataclasses.fields(cls)}
        if section == "dataset":  # layout blocks (dataset.<layout>) are composed from the layout registry
            fields.discard("blocks")
        assert keys == fields, section
        if section in cfg:
            from_dict(cls, cfg[section])


def test_schema_defaults_equal_the_dataclass_defaults():
    """Defaults live in the dataclasses; the schema states the same values (checked, so they cannot drift)."""
    import dataclasses

    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    plain, nested = _section_classes()
    checked = 0
    for section, cls in {**plain, **nested}.items():
        defaults = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
                    for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING
                    or f.default_factory is not dataclasses.MISSING}
        for key, prop in _props(schema, section).items():
            if "default" in prop:
                want = defaults[key]
                want = list(want) if isinstance(want, tuple) else want
                assert prop["default"] == want, f"{section}.{key}: schema default {prop['default']!r}, dataclass {want!r}"
                checked += 1
    assert checked >= 30
    assert _props(schema, "synth")["frames"]["default"] == SynthConfig().frames == 251  # the drift this caught


def test_method_blocks_have_no_schema_defaults():
    """A method's defaults are its preset: its schema fragment must not fill values in (it would override the
    preset when Snakemake applies schema defaults)."""
    def keys(node):
        if isinstance(node, dict):
            for k, v in node.items():
                yield k
                yield from keys(v)
        elif isinstance(node, list):
            for v in node:
                yield from keys(v)

    methods_schema = SCHEMA["properties"]["methods"]
    assert "ReactDiff" in methods_schema["properties"] and "default" not in set(keys(methods_schema))
