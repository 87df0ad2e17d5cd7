"""The registry of dataset layouts (:class:`~mafrg.data.layouts.base.Layout`).

Built-in layouts are the modules of this package (found by walking it: adding one needs no edit here); each
registers its class on import. A layout's settings are the config block ``dataset.<name>``.

    from mafrg.data.layouts import get_layout
    layout = get_layout(DatasetConfig.parse(config["dataset"]))
    layout.rows("test")        # evaluation rows, mirrored where the layout says so
    layout.clip_files("test", layout.clips("test")[0]).video
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

from mafrg.config import ConfigError, DatasetConfig, from_dict
from mafrg.data.layouts.base import (  # noqa: F401 - the public contract
    ClipFiles, Layout, LayoutError, PairRow, dataset_file, inside_root,
)

_REGISTRY: dict[str, type[Layout]] = {}
_loaded = False


def register_layout(cls: type[Layout]) -> type[Layout]:
    """Register a Layout subclass (usable as a class decorator)."""
    for attr in ("name", "clip_pattern", "session_pattern", "clip_shape", "native_fps", "ragged"):
        if not hasattr(cls, attr):
            raise TypeError(f"layout {cls.__name__}: missing {attr}")
    _REGISTRY[cls.name] = cls
    return cls


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for m in pkgutil.iter_modules(__path__):
            if m.name != "base":
                importlib.import_module(f"{__name__}.{m.name}")


def layouts() -> dict[str, type[Layout]]:
    """Every registered layout by name."""
    _load()
    return dict(_REGISTRY)


def layout_class(name: str) -> type[Layout]:
    _load()
    if name not in _REGISTRY:
        raise ConfigError(f"dataset.layout: unknown layout {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def layout_settings(cls: type[Layout], block: dict[str, Any] | None) -> Any:
    """The layout's settings dataclass from its config block (unknown keys refused, naming the block)."""
    if cls.settings_cls is None:
        if block:
            raise ConfigError(f"dataset.{cls.name}: layout {cls.name} has no settings (got {sorted(block)})")
        return None
    try:
        return from_dict(cls.settings_cls, block or {})
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"dataset.{cls.name}: {exc}") from exc


def get_layout(dataset: DatasetConfig | dict | str, root: str | Path | None = None) -> Layout:
    """The configured layout over ``root`` (default: ``dataset.root``). A settings block of a layout other than
    the chosen one is an error: it would silently do nothing."""
    if not isinstance(dataset, DatasetConfig):
        dataset = DatasetConfig.parse(dataset)
    cls = layout_class(dataset.layout)
    other = sorted(set(dataset.blocks) - {cls.name})
    if other:
        raise ConfigError(f"dataset: settings block(s) {', '.join(other)} given, but dataset.layout is {cls.name!r}")
    return cls(root if root is not None else dataset.root, layout_settings(cls, dataset.blocks.get(cls.name)))


def schema_fragments() -> dict[str, dict[str, Any]]:
    """``{name: JSON schema of its settings block}`` of every layout with settings."""
    from mafrg.schema import dataclass_schema

    return {n: dataclass_schema(c.settings_cls) for n, c in layouts().items() if c.settings_cls is not None}
