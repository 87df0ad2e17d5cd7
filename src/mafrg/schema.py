"""JSON-schema fragments derived from config dataclasses, so a method's schema comes with its code.

Types map as: int -> integer, float -> number, bool -> boolean, str -> string, ``Literal[...]`` -> enum,
tuples and lists -> arrays (fixed length for ``tuple[float, float]``), ``dict[str, X]`` -> object, nested
dataclasses -> nested objects. ``field(metadata={...})`` adds JSON-schema keywords (minimum, description...).
No defaults are emitted: a method's defaults are its preset, applied in Python after validation.

Every number has a range, so that a setting which would train or sample nothing (``epochs: -1``, ``batch_size:
0``, ``lr: -1``, ``sample_steps: -1``) is refused before any job. Without metadata an integer (a count or a size,
and list items of sizes) is at least 1 and a float at least 0; a field whose meaning differs says so with
:func:`at_least`, :func:`unit_interval` or :func:`positive` in its metadata.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal, get_args, get_origin

_SCALARS = {int: "integer", float: "number", bool: "boolean", str: "string"}


def type_schema(tp: Any) -> dict[str, Any]:
    origin = get_origin(tp)
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]} if tp is not float else {"type": "number"}
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        opts = [a for a in get_args(tp) if a is not type(None)]
        inner = type_schema(opts[0]) if len(opts) == 1 else {"anyOf": [type_schema(a) for a in opts]}
        return {"anyOf": [inner, {"type": "null"}]} if type(None) in get_args(tp) else inner
    if origin in (tuple, list):
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            return {"type": "array", "items": type_schema(args[0]), "minItems": len(args), "maxItems": len(args)}
        return {"type": "array", "items": type_schema(args[0]) if args else {}}
    if origin is dict:
        args = get_args(tp)
        return {"type": "object", "additionalProperties": type_schema(args[1]) if args else {}}
    if dataclasses.is_dataclass(tp):
        return dataclass_schema(tp)
    if tp is Any:
        return {}
    raise TypeError(f"no JSON schema for type {tp!r}")


RANGE_KEYS = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")


def at_least(lo: float) -> dict[str, Any]:
    """Field metadata: the value (or, for a list, each item) is >= ``lo``."""
    return {"minimum": lo}


def positive() -> dict[str, Any]:
    """Field metadata: the value (or each item) is > 0."""
    return {"exclusiveMinimum": 0}


def unit_interval(closed: bool = True) -> dict[str, Any]:
    """Field metadata: the value (or each item) is in [0, 1] (``closed=False``: [0, 1))."""
    return {"minimum": 0, "maximum" if closed else "exclusiveMaximum": 1}


def _with_range(s: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """``s`` with the field's range: its metadata's, else the default of its number type (see the module doc)."""
    target = s["items"] if s.get("type") == "array" and isinstance(s.get("items"), dict) else s
    kind = target.get("type")
    if kind not in ("integer", "number"):
        return s
    given = {k: v for k, v in meta.items() if k in RANGE_KEYS}
    target.update(given or ({"minimum": 1} if kind == "integer" else {"minimum": 0}))
    return s


def dataclass_schema(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, include_extras=False)
    props = {}
    for f in dataclasses.fields(cls):
        s = _with_range(type_schema(hints[f.name]), dict(f.metadata))
        s.update({k: v for k, v in f.metadata.items() if k not in RANGE_KEYS or s.get("type") != "array"})
        props[f.name] = s
    return {"type": "object", "additionalProperties": False, "properties": props}
