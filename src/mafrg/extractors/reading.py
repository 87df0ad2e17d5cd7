"""What a weights file holds, found from its content (never from its name).

Three kinds of file reach the extractors:

* a TorchScript archive (``torch.jit.save``: a zip with ``constants.pkl`` and a ``code/`` folder), e.g.
  facetorch's predictors that the ReactDiff authors load;
* a ``torch.save`` of plain data -- a state dict, or a dict wrapping one (``{'epoch', 'state_dict',
  'optimizer'}`` from ME-GraphAU, ``{'model': ...}`` from Swin's own releases) -- read with
  ``weights_only=True``;
* a ``torch.save`` of a whole model (HSEmotion), which plain ``weights_only`` refuses: its tensors are read
  with ``weights_only=True`` and every class it names allowed as an inert stand-in
  (:mod:`mafrg.extractors.unpickle`), so no code from the file runs.

:func:`read` returns a :class:`Raw` with the state dict (``module.`` prefixes from ``nn.DataParallel``
removed) and a description of the layout, or the loaded TorchScript module.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mafrg.extractors.errors import WeightsError

WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net")


@dataclass
class Raw:
    path: Path
    layout: str  # how the file stores its weights, in words (goes to the feature file's settings as the format)
    state_dict: dict[str, Any] = field(default_factory=dict)
    script: Any = None  # a loaded TorchScript module
    pickled: Any = None  # the stand-in tree of a whole pickled model


def is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    return any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)


def _is_tensor_dict(obj: Any) -> bool:
    import torch

    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) for k in obj) and all(
        isinstance(v, torch.Tensor) for v in obj.values())


def strip_prefix(sd: dict[str, Any], prefix: str = "module.") -> tuple[dict[str, Any], bool]:
    """Remove ``prefix`` when every key has it (``nn.DataParallel`` weight files)."""
    if sd and all(k.startswith(prefix) for k in sd):
        return {k[len(prefix):]: v for k, v in sd.items()}, True
    return sd, False


def describe(obj: Any, limit: int = 12) -> str:
    """A short account of what was found, for error messages."""
    if isinstance(obj, dict):
        keys = list(obj)
        shown = ", ".join(repr(k) for k in keys[:limit]) + (f", ... ({len(keys)} keys)" if len(keys) > limit else "")
        return f"a dict with keys {shown}"
    return f"a {type(obj).__module__}.{type(obj).__qualname__} object"


def _unwrap(obj: Any, path: Path) -> tuple[dict[str, Any], str]:
    layout = []
    while isinstance(obj, dict) and not _is_tensor_dict(obj):
        inner = next((k for k in WRAPPER_KEYS if k in obj and isinstance(obj[k], dict)), None)
        if inner is None:
            tensors = {k: v for k, v in obj.items() if _is_tensor_dict({k: v})}
            if tensors and len(tensors) >= len(obj) - 2:  # a state dict with a stray non-tensor entry or two
                obj = tensors
                break
            raise WeightsError(f"{path}: no state dict found: the file holds {describe(obj)}; expected a state "
                               f"dict (name -> tensor) or a dict wrapping one under {'/'.join(WRAPPER_KEYS)}")
        others = sorted(k for k in obj if k != inner)
        layout.append(f"'{inner}' entry of a dict" + (f" (with {', '.join(map(repr, others))})" if others else ""))
        obj = obj[inner]
    if not _is_tensor_dict(obj):
        raise WeightsError(f"{path}: no state dict found: the file holds {describe(obj)}")
    sd, stripped = strip_prefix(dict(obj))
    what = "state dict" + (" saved from nn.DataParallel ('module.' prefixes removed)" if stripped else "")
    return sd, " in the ".join([what] + layout[::-1])


def read(path: str | Path) -> Raw:
    """Read a weights file by content; errors name the file and what was found."""
    import pickle

    import torch

    from mafrg.extractors import unpickle

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    if is_torchscript(path):
        try:
            return Raw(path, "TorchScript", script=torch.jit.load(str(path), map_location="cpu").eval())
        except Exception as exc:  # noqa: BLE001
            raise WeightsError(f"{path}: looks like TorchScript but cannot be loaded: {exc}") from exc
    mmap = zipfile.is_zipfile(path)  # tensors stay in the page cache until used (fast for a 400 MB Swin-B)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        if "weights_only" not in str(exc) and "Unsupported global" not in str(exc):
            raise WeightsError(f"{path}: not a readable PyTorch weights file: {str(exc).splitlines()[0]}") from exc
        obj = unpickle.load_with_stand_ins(path, mmap)  # a whole pickled model: its tensors, no code run
        if isinstance(obj, dict):  # data naming other globals (read as inert stand-ins): its state dict, if any
            sd, layout = _unwrap(obj, path)
            return Raw(path, f"{layout}, read without running the code it names", state_dict=sd)
        sd = unpickle.module_state_dict(obj)
        if not sd:
            raise WeightsError(f"{path}: a pickled {getattr(type(obj), 'qualname', type(obj).__name__)} object "
                               "with no module parameters; expected a network or a state dict")
        sd, stripped = strip_prefix(dict(sd))
        return Raw(path, f"whole pickled model ({type(obj).qualname}), tensors read without running its code",
                   state_dict=sd, pickled=obj)
    except Exception as exc:  # noqa: BLE001 - truncated zips, random bytes, ...
        raise WeightsError(f"{path}: not a readable PyTorch weights file: {str(exc).splitlines()[0] if str(exc) else exc!r}") from exc
    if isinstance(obj, torch.nn.Module):  # cannot happen with weights_only, kept for clarity
        raise WeightsError(f"{path}: unexpected module object")
    sd, layout = _unwrap(obj, path)
    return Raw(path, layout, state_dict=sd)


def sub_dict(sd: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def load_strict(module: Any, sd: dict[str, Any], path: Path | str, what: str, expected: str) -> None:
    """``load_state_dict(strict=True)`` with an error that lists missing / unexpected keys and shape
    mismatches (a few of each and their counts) instead of torch's wall of text."""
    own = module.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k}: file {tuple(sd[k].shape)}, {what} {tuple(own[k].shape)}" for k in own
              if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        def few(xs: list[str]) -> str:
            return ", ".join(xs[:6]) + (f", ... ({len(xs)} in all)" if len(xs) > 6 else "")

        parts = [f"missing {few(missing)}" if missing else "", f"unexpected {few(unexpected)}" if unexpected else "",
                 f"shape mismatch {few(shapes)}" if shapes else ""]
        raise WeightsError(f"{path}: does not fit {what}: " + "; ".join(p for p in parts if p)
                           + f". Expected {expected}")
    module.load_state_dict(sd, strict=True, assign=True)
