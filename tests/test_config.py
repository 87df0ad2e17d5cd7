"""Configuration: the shipped config is valid; wrong keys or types fail naming the key."""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import REPO
from mafrg.config import ConfigError, SynthConfig, from_dict, validate_config

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture()
def cfg():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_shipped_config_is_valid(cfg):
    validate_config(cfg, SCHEMA)


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda c: c.update(colour="blue"), "unknown config key 'colour'"),
        (lambda c: c["dataset"].update(clip_lenght=750), "unknown config key 'dataset.clip_lenght'"),
        (lambda c: c["dataset"].update(clip_length="750"), "config key 'dataset.clip_length': '750' is not of type 'integer'"),
        (lambda c: c["evaluation"].update(protocol="official"), "config key 'evaluation.protocol'"),
        (lambda c: c["baselines"].update(methods=["GT", "B_Nope"]), "config key 'baselines.methods.1'"),
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


def test_config_sections_match_dataclasses(cfg):
    """Every key the schema allows in a section is a field of its dataclass (and so reaches the code)."""
    import dataclasses

    from mafrg.config import BaselineConfig, DatasetConfig, EvalConfig, NeighbourConfig

    schema = yaml.safe_load(SCHEMA.read_text())
    for section, cls in [("dataset", DatasetConfig), ("synth", SynthConfig), ("neighbours", NeighbourConfig),
                         ("baselines", BaselineConfig), ("evaluation", EvalConfig)]:
        keys = set(schema["properties"][section]["properties"])
        assert keys == {f.name for f in dataclasses.fields(cls)}, section
        from_dict(cls, cfg[section])
