"""Read the tensors of a whole pickled model (``torch.save(model)``) without running any code from the file.

HSEmotion distributes its networks as whole pickled timm models. ``torch.load(weights_only=True)`` refuses
them (they name timm classes), and ``weights_only=False`` would import timm and execute whatever the pickle
asks for. This module's unpickler resolves only a short allow-list of globals to real objects -- the
functions torch uses to rebuild tensors and parameters, ``OrderedDict``, dtypes -- and every other global
(``timm.models.efficientnet.EfficientNet``, ``torch.nn.Conv2d``, but also ``os.system``) to an inert
:class:`StandIn` class that records its name and whatever state the pickle gives it and does nothing else.
A stand-in is never called with the file's arguments in a way that reaches real code, so the worst a
malicious file can do is fail to load.

:func:`module_state_dict` then walks the stand-ins as ``nn.Module.state_dict`` would (``_parameters``,
persistent ``_buffers``, ``_modules``), giving a plain state dict, and :func:`module_classes` lists the
class of each module (to tell, e.g., timm's ``Conv2dSame`` from ``Conv2d``).
"""

from __future__ import annotations

import collections
import pickle
from typing import Any

import torch

_SAFE = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("torch", "Size"): torch.Size,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
}


class StandIn:
    """An inert object standing for a class or function the pickle names."""

    qualname = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> "StandIn":
        obj = object.__new__(cls)
        obj.__dict__["_standin_args"] = args
        obj.__dict__["_standin_state"] = None
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_standin_state"] = state

    @property
    def state(self) -> dict[str, Any]:
        st = self.__dict__["_standin_state"]
        if isinstance(st, tuple) and st and isinstance(st[0], dict):  # (dict, slots) from __reduce_ex__
            st = st[0]
        return st if isinstance(st, dict) else {}


_STAND_INS: dict[str, type[StandIn]] = {}


def stand_in(module: str, name: str) -> type[StandIn]:
    qual = f"{module}.{name}"
    if qual not in _STAND_INS:
        _STAND_INS[qual] = type(name, (StandIn,), {"qualname": qual, "__module__": "mafrg.extractors.unpickle"})
    return _STAND_INS[qual]


def _dtype(module: str, name: str) -> Any:
    if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
        return getattr(torch, name)
    return None


def _reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    """copyreg._reconstructor (protocol 0/1 pickles): only ever builds a stand-in."""
    if isinstance(cls, type) and issubclass(cls, StandIn):
        return cls()
    raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r}")


class Unpickler(pickle.Unpickler):
    """pickle.Unpickler with an allow-list: see the module docstring."""

    def find_class(self, module: str, name: str) -> Any:
        module = {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, module)  # protocol-2 names
        if (module, name) in _SAFE:
            return _SAFE[(module, name)]
        if (module, name) == ("copyreg", "_reconstructor"):
            return _reconstructor
        dt = _dtype(module, name)
        return dt if dt is not None else stand_in(module, name)


def load(file: Any, **kwargs: Any) -> Any:
    """``pickle.load`` with the restricted unpickler (torch's legacy reader calls this one)."""
    return Unpickler(file, **kwargs).load()


def module_state_dict(obj: Any, prefix: str = "") -> "collections.OrderedDict[str, torch.Tensor]":
    """The state dict a pickled ``nn.Module`` (as stand-ins) would give; {} for anything else."""
    out: collections.OrderedDict[str, torch.Tensor] = collections.OrderedDict()
    if not isinstance(obj, StandIn):
        return out
    st = obj.state
    skip = set(st.get("_non_persistent_buffers_set") or ())
    for key in ("_parameters", "_buffers"):
        for name, t in (st.get(key) or {}).items():
            if isinstance(t, torch.Tensor) and not (key == "_buffers" and name in skip):
                out[prefix + name] = t.detach() if isinstance(t, torch.nn.Parameter) else t
    for name, child in (st.get("_modules") or {}).items():
        out.update(module_state_dict(child, f"{prefix}{name}."))
    return out


def module_classes(obj: Any, prefix: str = "") -> dict[str, str]:
    """``{module path: class qualname}`` of a pickled module tree ('' for the root)."""
    if not isinstance(obj, StandIn):
        return {}
    out = {prefix.rstrip("."): type(obj).qualname}
    for name, child in (obj.state.get("_modules") or {}).items():
        out.update(module_classes(child, f"{prefix}{name}."))
    return out


def module_attr(obj: Any, path: str, attr: str) -> Any:
    """A plain attribute (e.g. a BatchNorm's ``eps``) of the module at ``path`` of a pickled tree, or None."""
    for part in filter(None, path.split(".")):
        if not isinstance(obj, StandIn):
            return None
        obj = (obj.state.get("_modules") or {}).get(part)
    return obj.state.get(attr) if isinstance(obj, StandIn) else None
