"""JSON-schema fragments derived from config dataclasses, so a method's schema comes with its code.

Types map as: int -> integer, float -> number, bool -> boolean, str -> string, ``Literal[...]`` -> enum,
tuples and lists -> arrays (fixed length for ``tuple[float, float]``), ``dict[str, X]`` -> object, nested
dataclasses -> nested objects. ``field(metadata={...})`` adds JSON-schema keywords (minimum, description...).
No defaults are emitted: a method's defaults are its preset, applied in Python after validation.
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


def dataclass_schema(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, include_extras=False)
    props = {}
    for f in dataclasses.fields(cls):
        s = type_schema(hints[f.name])
        s.update({k: v for k, v in f.metadata.items()})
        props[f.name] = s
    return {"type": "object", "additionalProperties": False, "properties": props}
