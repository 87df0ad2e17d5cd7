"""Read the tensors of a whole pickled model (``torch.save(model)``) without running any code from the file.

HSEmotion distributes its networks as whole pickled timm models. ``torch.load(weights_only=True)`` refuses
them (they name timm classes), and ``weights_only=False`` would import timm and execute whatever the pickle
asks for. :func:`load_with_stand_ins` keeps torch's ``weights_only`` unpickler and allows each class or function
the file names (``timm.models.efficientnet.EfficientNet``, ``torch.nn.Conv2d``, ...) as an inert
:class:`StandIn` that records its name and whatever state the pickle gives it and does nothing else. Globals of
modules torch blocks outright (``os``, ``subprocess``, ...) are still refused, so the worst a malicious file can do
is fail to load.

:func:`module_state_dict` then walks the stand-ins as ``nn.Module.state_dict`` would (``_parameters``,
persistent ``_buffers``, ``_modules``), giving a plain state dict, and :func:`module_classes` lists the
class of each module (to tell, e.g., timm's ``Conv2dSame`` from ``Conv2d``).
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import torch


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


def load_with_stand_ins(path: Path, mmap: bool) -> Any:
    """``torch.load(weights_only=True)`` of the zip-format weights whose non-tensor globals are read as stand-ins
    (module docstring). Errors name the file and the problem."""
    from mafrg.extractors.errors import WeightsError

    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as exc:  # noqa: BLE001 - the names are only listed for torch's zip format
        raise WeightsError(f"{path}: not a readable PyTorch weights file: neither plain tensors nor a whole model in "
                           "torch's zip format (a model saved in the legacy pre-1.6 format cannot be read without "
                           "running its code: re-save it with a current torch)") from exc
    allowed = [(stand_in(*n.rsplit(".", 1)), n) for n in names if "." in n]
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # noqa: BLE001 - e.g. a global of a module torch blocks (os.system)
        first = str(exc).split("\n\n")[1] if "\n\n" in str(exc) else str(exc)
        raise WeightsError(f"{path}: not a readable PyTorch weights file: {first.strip()}") from exc


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
