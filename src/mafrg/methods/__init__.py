"""The registry of generative methods and baselines.

Built-in methods live in sub-packages of ``mafrg.methods`` (found by walking the package: adding one needs no
edit here) and register themselves on import. Other methods come from *plugins*: modules named in the config
(``plugins: [my_package.my_method]``, or ``$MAFRG_PLUGINS``) or installed packages exposing an entry point in
the group ``mafrg.methods``; importing them calls :func:`register`.

    from mafrg import methods
    methods.get("ReactDiff").variants        # (Variant('offline', causal=False), Variant('online', causal=True))
    [m.name for m in methods.registered()]   # registration order: baselines first
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from typing import Iterable

from mafrg.methods.contract import (  # noqa: F401 - the public contract
    DEFAULT_VARIANT, GenerationContext, Method, SpeakerClip, Stage, TrainContext, Variant,
)

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "mafrg.methods"
PLUGINS_ENV = "MAFRG_PLUGINS"  # comma-separated plugin modules (the workflow sets it from config 'plugins')

_REGISTRY: dict[str, Method] = {}
_SEQ: dict[str, int] = {}  # registration order
_PLUGINS: list[str] = []
_loaded = False


def register(cls: type[Method]) -> type[Method]:
    """Register a Method subclass (usable as a class decorator). Re-registering a name replaces it."""
    inst = cls()
    if not getattr(cls, "name", None):
        raise TypeError(f"{cls.__name__} has no name")
    for attr in ("config_cls", "presets"):
        if not hasattr(cls, attr):
            raise TypeError(f"method {cls.name}: missing {attr}")
    if cls.default_preset not in cls.presets:
        raise TypeError(f"method {cls.name}: default preset {cls.default_preset!r} not in {sorted(cls.presets)}")
    _REGISTRY[cls.name] = inst
    _SEQ.setdefault(cls.name, len(_SEQ))
    return cls


def builtin_packages() -> list[str]:
    """Every sub-package of mafrg.methods (one per method, or one for the baselines), alphabetically."""
    return sorted(f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if m.ispkg)


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in builtin_packages():
        importlib.import_module(mod)
    import os

    load_plugins([m for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()])
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken third-party plugin must not hide the built-ins
            log.warning("method plugin %s (%s) failed to load: %s", ep.name, ep.value, exc)


def load_plugins(modules: Iterable[str]) -> None:
    """Import plugin modules (each registers its methods). An unknown module is an error naming it."""
    _load_builtin()
    for mod in modules:
        if mod in _PLUGINS:
            continue
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            raise ValueError(f"plugins: cannot import method plugin {mod!r} ({exc}); is it on PYTHONPATH?") from exc
        _PLUGINS.append(mod)


def plugins() -> list[str]:
    return list(_PLUGINS)


def _order(m: Method) -> tuple:
    mod = type(m).__module__
    pkgs = builtin_packages()
    pkg = next((i for i, b in enumerate(pkgs) if mod == b or mod.startswith(b + ".")), len(pkgs))
    return (not m.reference, pkg, _SEQ[m.name])


def registered() -> list[Method]:
    """Baselines first, then the other built-in methods by package name, then plugins; within a package in
    registration order."""
    _load_builtin()
    return sorted(_REGISTRY.values(), key=_order)


def get(name: str) -> Method:
    _load_builtin()
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; registered: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def label_order(labels: list[str]) -> list[str]:
    """Run labels in registry order (baselines first, each method's variants in order), unknown ones last."""
    known = [m.label(v.name) for m in registered() for v in m.variants]
    return [x for x in known if x in labels] + sorted(x for x in labels if x not in known)


def reference_labels() -> set[str]:
    """Labels of the reference baselines (drawn as reference lines in charts)."""
    return {m.label(v.name) for m in registered() if m.reference for v in m.variants}


def by_label(label: str) -> tuple[Method, str]:
    """(method, variant) of a run label such as ``ReactDiff_online`` or ``GT``."""
    for m in registered():
        for v in m.variants:
            if m.label(v.name) == label:
                return m, v.name
    raise ValueError(f"no registered method has the run label {label!r}")
