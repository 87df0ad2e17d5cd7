"""Model checkpoints that are safe to share and that say when they are broken.

A checkpoint is a ``torch.save`` of a dict holding only tensors, numbers, strings, lists and dicts (state
dicts, optimiser states), plus the metadata as one JSON string, so ``torch.load(weights_only=True)`` reads it
and a checkpoint from someone else can never run code. Beside it, ``<file>.sha256`` records the file's sha256,
size and modification time, written after the checkpoint itself:

* :func:`load` verifies the sidecar before unpickling anything: a truncated, edited or half-copied file is an
  error naming it, never a traceback from deep inside torch;
* :func:`stale` is the cheap check the workflow runs while planning: a checkpoint whose size differs from
  its sidecar's, or whose modification time differs and whose hash no longer matches, is moved aside so that
  the training rule runs again instead of every later job failing the same way.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

from mafrg.atomic import atomic_path, write_json
from mafrg.provenance import file_sha256

log = logging.getLogger(__name__)
FORMAT = "mafrg-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, of another kind, or not a mafrg checkpoint."""


def sidecar(path: str | Path) -> Path:
    p = Path(path)
    return p.with_name(p.name + ".sha256")


def save(path: str | Path, kind: str, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write ``{"format", "kind", "meta_json", **tensors}`` atomically, then its checksum sidecar."""
    import torch

    payload = {"format": FORMAT, "kind": kind, "meta_json": json.dumps(meta, default=str), **tensors}
    path = Path(path)
    side = sidecar(path)
    side.unlink(missing_ok=True)  # a checkpoint without a sidecar is never trusted
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)
    st = path.stat()
    write_json(side, {"sha256": file_sha256(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns})


def _check_sidecar(path: Path, full: bool) -> str | None:
    """None when the file matches its sidecar, else what is wrong."""
    side = sidecar(path)
    if not side.is_file():
        return f"no checksum sidecar {side.name} (written after a complete save)"
    try:
        rec = json.loads(side.read_text())
        want_sha, want_size = rec["sha256"], int(rec["size"])
    except (ValueError, KeyError, TypeError):
        return f"checksum sidecar {side.name} is unreadable"
    st = path.stat()
    if st.st_size != want_size:
        return f"{st.st_size} bytes, but {want_size} were written (truncated or replaced)"
    if full or st.st_mtime_ns != rec.get("mtime_ns"):
        if file_sha256(path) != want_sha:
            return "sha256 does not match the one recorded when it was written (corrupt or edited)"
    return None


def load_model(path: str | Path, kind: str, build: Callable[[dict[str, Any]], Any]) -> tuple[Any, dict[str, Any]]:
    """(module in eval mode, meta) of a one-model checkpoint: ``build(meta)`` makes the module from the config
    stored in the checkpoint, then its ``"model"`` weights load strictly; a mismatch names the file."""
    tensors, meta = load(path, kind=kind)
    model = build(meta)
    try:
        model.load_state_dict(tensors["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit its own configuration ({exc})") from exc
    return model.eval(), meta


def load(path: str | Path, kind: str | None = None, map_location: str = "cpu") -> tuple[dict[str, Any], dict[str, Any]]:
    """(tensors, meta) of a checkpoint, verified against its sidecar and read with ``weights_only=True``."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint not found")
    problem = _check_sidecar(p, full=True)
    if problem:
        raise CheckpointError(f"{p}: {problem}; delete it (and its .sha256) and train again")
    try:
        payload = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for unreadable / unsafe files
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{p}: cannot be read as a mafrg checkpoint with weights_only=True ({msg})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        keys = sorted(payload)[:8] if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{p}: not a mafrg checkpoint (format {FORMAT!r} expected; found {keys})")
    if kind is not None and payload.get("kind") != kind:
        raise CheckpointError(f"{p}: a {payload.get('kind')!r} checkpoint, expected {kind!r}")
    meta = json.loads(payload.pop("meta_json"))
    payload.pop("format")
    payload.pop("kind")
    return payload, meta


def stale(path: str | Path) -> str | None:
    """Why an existing checkpoint cannot be trusted (None when it can, or when there is none)."""
    p = Path(path)
    if not p.is_file():
        return None
    return _check_sidecar(p, full=False)


def quarantine(path: str | Path, reason: str) -> Path:
    """Move a broken checkpoint (and its sidecar) aside so that the workflow trains it again."""
    p = Path(path)
    dest = p.with_name(f"{p.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(p, dest)
    sidecar(p).unlink(missing_ok=True)
    log.warning("%s: %s; moved aside to %s, it will be trained again", p, reason, dest.name)
    return dest
