"""Atomic file output: write to a temporary sibling, fsync, then rename.

A killed job must never leave a half-written artefact that a rerun would mistake for a finished one, so
every writer in mafrg goes through these helpers. Temporary siblings are named ``.<name>.<random>.tmp<suffix>``:
a job that writes ``<name>`` again first removes those a killed earlier run left behind (one job owns an
output at a time, under Snakemake and in the training loop). Outputs that concurrent jobs may all create (the
caches under ``results/cache``) pass ``stale_after``: only temporaries untouched that long are removed. A full
disk is reported as ``no space left on device`` with the target's path, whatever the writing library said.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None,
                stale_after: float | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` only if the block succeeds.
    ``stale_after`` (seconds): see :func:`remove_stale_temps`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sfx = suffix if suffix is not None else "".join(target.suffixes)
    remove_stale_temps(target, sfx, stale_after)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{sfx}", dir=target.parent)
    except OSError as exc:
        raise _disk_full(exc, target) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        publish(tmp_path, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(exc, OSError):
            raise _disk_full(exc, target) from exc
        raise


def publish(tmp: Path, target: Path) -> None:
    """Move a finished temporary file (or folder) onto ``target``: flushed, with normal permissions, by rename."""
    if tmp.is_file():
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are shared like any file
    os.replace(tmp, target)


def remove_stale_temps(target: Path, suffix: str, stale_after: float | None = None) -> None:
    """Delete the temporary siblings of ``target`` that a killed earlier writer left behind: all of them, or with
    ``stale_after`` only those not modified for that many seconds (another live writer's are younger)."""
    now = time.time()
    for old in target.parent.glob(f".{glob.escape(target.name)}.*.tmp{glob.escape(suffix)}"):
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            if stale_after is None or now - old.stat().st_mtime > stale_after:
                old.unlink()


def _disk_full(exc: OSError, target: Path) -> OSError:
    """A full disk said plainly, with the path (numpy says '139200 requested and 66528 written')."""
    full = exc.errno == errno.ENOSPC or ("requested and" in str(exc) and "written" in str(exc))
    if not full:
        return exc
    return OSError(errno.ENOSPC, f"No space left on device while writing {target} ({exc})", str(target))


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory next to ``target`` and move it into place when the block succeeds."""
    import shutil

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for old in target.parent.glob(f".{glob.escape(target.name)}.*.tmpdir"):
        shutil.rmtree(old, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmpdir", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json(target: str | os.PathLike[str], obj: Any) -> None:
    """Strict JSON (RFC 8259): a non-finite number (NaN, an overflow to infinity) is written as null, which every
    JSON reader accepts; ``NaN``/``Infinity`` literals are not JSON."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(finite(obj), indent=2, sort_keys=False, default=_json_default, allow_nan=False)
                       + "\n")


def finite(obj: Any) -> Any:
    """``obj`` with every non-finite float (Python or numpy, in dicts, lists, tuples and arrays) replaced by None."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return finite(obj.tolist())
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj


def write_text(target: str | os.PathLike[str], text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_npy(target: str | os.PathLike[str], array: np.ndarray) -> None:
    with atomic_path(target, suffix=".npy") as tmp:
        np.save(tmp, array, allow_pickle=False)


def write_npz(target: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    with atomic_path(target, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
