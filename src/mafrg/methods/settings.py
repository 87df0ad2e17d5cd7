"""A method's block under ``methods:`` in the config, resolved into what the workflow and the CLI run.

    methods:
      ReactDiff:
        enabled: true          # default true when the block is present
        variants: [offline, online]
        preset: demo           # where the config starts; every other key overrides it field by field
        seeds: 1               # independent runs: seeds seed, seed+1, ... (trained, generated, evaluated each)
        seed: 0
        threads: 2             # threads of its training and generation jobs
        ddim: {sample_steps: 50}

The schema fragment of each block is derived from the method's config dataclass (:mod:`mafrg.schema`).
"""

from __future__ import annotations

import copy
import typing
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any, Literal

from mafrg.config import ConfigError
from mafrg.methods.contract import DEFAULT_VARIANT, Method, to_jsonable

RESERVED = ("enabled", "variants", "preset", "seeds", "seed", "threads")


def merge(obj: Any, over: dict[str, Any], where: str) -> Any:
    """A copy of dataclass ``obj`` with ``over`` applied field by field (nested dataclasses merge too)."""
    names = {f.name for f in fields(obj)}
    hints = typing.get_type_hints(type(obj))
    changes = {}
    for k, v in (over or {}).items():
        if k not in names:
            raise ConfigError(f"unknown key {where}.{k}")
        if typing.get_origin(hints[k]) is Literal and v not in typing.get_args(hints[k]):
            # the schema says the same for workflow configs; this also covers blocks given to the CLI directly
            choices = ", ".join(repr(c) for c in typing.get_args(hints[k]))
            raise ConfigError(f"{where}.{k} must be one of {choices}, got {v!r}")
        cur = getattr(obj, k)
        if is_dataclass(cur):
            if not isinstance(v, dict):
                raise ConfigError(f"{where}.{k} must be a mapping of its fields")
            changes[k] = merge(cur, v, f"{where}.{k}")
        elif isinstance(cur, tuple):
            changes[k] = tuple(v)
        else:
            changes[k] = v
    return replace(obj, **changes)


def resolve_config(method: Method, preset: str | None = None, overrides: dict[str, Any] | None = None) -> Any:
    """The method's config: its preset (default preset when None), then the overrides."""
    name = preset or method.default_preset
    if name not in method.presets:
        raise ConfigError(f"methods.{method.name}.preset must be one of {sorted(method.presets)}, got {name!r}")
    cfg = merge(method.presets[name](), overrides or {}, f"methods.{method.name}")
    check_ranges(method, cfg)
    check = getattr(cfg, "check", None)
    if callable(check):
        check()
    return cfg


def check_ranges(method: Method, cfg: Any) -> None:
    """Every setting of the resolved config within its schema range (:mod:`mafrg.schema`), preset values included:
    the workflow's schema check sees the overrides only, and the CLI is also run by hand. All violations are named."""
    import jsonschema

    from mafrg.schema import dataclass_schema

    validator = jsonschema.Draft202012Validator(dataclass_schema(method.config_cls))
    errors = sorted(validator.iter_errors(to_jsonable(cfg)), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("; ".join(
            f"methods.{method.name}." + ".".join(str(x) for x in e.absolute_path) + f": {e.message}" for e in errors))


@dataclass(frozen=True)
class MethodRun:
    """A resolved ``methods.<name>`` block."""

    method: Method
    enabled: bool
    variants: tuple[str, ...]
    preset: str
    seeds: tuple[int, ...]
    threads: int
    config: Any
    overrides: dict[str, Any]

    @property
    def name(self) -> str:
        return self.method.name

    def labels(self) -> list[str]:
        return [self.method.label(v) for v in self.variants]

    def config_json(self) -> Any:
        return to_jsonable(self.config)

    def block(self) -> dict[str, Any]:
        """The block that reproduces this run (what the CLI is given)."""
        return {"preset": self.preset, **copy.deepcopy(self.overrides)}


def resolve(method: Method, block: dict[str, Any] | None) -> MethodRun:
    block = dict(block or {})
    over = {k: v for k, v in block.items() if k not in RESERVED}
    all_variants = tuple(v.name for v in method.variants)
    variants = tuple(block.get("variants") or all_variants)
    for v in variants:
        method.variant(v)  # raises for unknown
    seeds_n = int(block.get("seeds", 1))
    if seeds_n < 1:
        raise ConfigError(f"methods.{method.name}.seeds must be >= 1")
    if seeds_n > 1 and not method.stochastic:
        raise ConfigError(f"methods.{method.name}.seeds: {method.name} does not depend on a seed; use seeds: 1")
    seed = int(block.get("seed", 0))
    preset = block.get("preset") or method.default_preset
    return MethodRun(method=method, enabled=bool(block.get("enabled", True)), variants=variants, preset=preset,
                     seeds=tuple(seed + k for k in range(seeds_n)), threads=int(block.get("threads", 2)),
                     config=resolve_config(method, preset, over), overrides=over)


def schema_fragment(method: Method) -> dict[str, Any]:
    """The JSON schema of ``methods.<name>``: the reserved keys plus the config dataclass's fields."""
    from mafrg.schema import dataclass_schema

    frag = dataclass_schema(method.config_cls)
    names = [v.name for v in method.variants]
    reserved: dict[str, Any] = {
        "enabled": {"type": "boolean", "description": "run this method (default true when the block is present)"},
        "preset": {"enum": sorted(method.presets), "description": f"starting configuration (default {method.default_preset})"},
        "seeds": {"type": "integer", "minimum": 1, "maximum": 1 if not method.stochastic else 1000,
                  "description": "independent runs (trained, generated, evaluated each); the report shows mean ± std"},
        "seed": {"type": "integer", "minimum": 0, "description": "seed of the first run; run k uses seed + k"},
        "threads": {"type": "integer", "minimum": 1, "description": "threads of its training and generation jobs"},
    }
    if names != [DEFAULT_VARIANT]:
        reserved["variants"] = {"type": "array", "items": {"enum": names}, "minItems": 1, "uniqueItems": True,
                                "description": "which variants to generate and report (default: all)"}
    clash = set(reserved) & set(frag["properties"])
    if clash:
        raise TypeError(f"method {method.name}: config fields {sorted(clash)} clash with reserved block keys")
    frag["properties"] = reserved | frag["properties"]
    frag["description"] = method.description
    return frag


def enabled_runs(methods_block: dict[str, Any]) -> list[MethodRun]:
    """Every enabled method of a config's ``methods:`` section, in registry order."""
    from mafrg import methods

    unknown = sorted(set(methods_block or {}) - {m.name for m in methods.registered()})
    if unknown:
        raise ConfigError(f"methods: unknown method(s) {unknown}; registered: {[m.name for m in methods.registered()]}")
    runs = []
    for m in methods.registered():
        if m.name in (methods_block or {}):
            run = resolve(m, methods_block[m.name])
            if run.enabled:
                runs.append(run)
    return runs
