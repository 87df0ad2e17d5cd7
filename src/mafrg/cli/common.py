"""Helpers shared by the CLI modules."""

from __future__ import annotations

import errno
import json
import os
import sys
from typing import Any

import numpy as np


def settings(text: str | None) -> dict[str, Any]:
    return json.loads(text) if text else {}


def dataset_section(a) -> Any:
    """The ``--dataset`` section (a REACT 2024 dataset when not given) with ``--root`` as its root."""
    from mafrg.config import DatasetConfig

    ds = DatasetConfig.parse(settings(a.dataset))
    ds.root = a.root
    return ds


def rows(text: str | None, n_rows: int, what: str) -> tuple[int, int]:
    """--rows of a split with n_rows rows (default: all of them)."""
    from mafrg.sharding import parse_rows

    if not text:
        return 0, n_rows
    lo, hi = parse_rows(text)
    if hi > n_rows:
        raise ValueError(f"--rows {text}: {what} has only {n_rows} rows")
    return lo, hi


def load_array(path: str, mmap: bool = False) -> np.ndarray:
    from mafrg.io import load_npy

    return load_npy(path, mmap=mmap)


def torch_threads(n: int | None) -> None:
    """Limit torch to ``n`` threads without importing it: a job that never needs torch (a baseline's generation)
    skips its ~2 s import; torch reads OMP_NUM_THREADS when it is first imported."""
    if n:
        os.environ["OMP_NUM_THREADS"] = str(n)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(n)


def describe_error(exc: BaseException) -> str:
    """The message of an expected error; for a full disk, say so with the path (numpy and torch say
    'requested and written' or 'unexpected end of file' instead)."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            where = e.filename or ""
            return f"no space left on device{': ' + str(where) if where else ''} ({exc})"
        if isinstance(e, OSError) and "requested and" in str(e) and "written" in str(e):
            return f"no space left on device (a write was cut short: {e})"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__
