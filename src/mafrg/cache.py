"""Re-creatable per-clip arrays on disk, memory-mapped when read (``results/cache/``).

A cached file's name carries a stamp of what it was made from (source path, size, modification time and the
settings), so a changed source or setting makes a new file instead of reusing a stale one. Files are written
atomically: a killed job leaves either the whole array or nothing. Several jobs may fill one cache at once
(training seeds of a method run side by side): each writes its own temporary file and the renames replace one
whole, identical array by another, so a writer only clears temporaries a killed job left (older than
``STALE_AFTER``), never a live writer's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mafrg.atomic import atomic_path

STALE_AFTER = 600.0  # seconds without a write after which a cache temporary is a killed writer's


def stamp(source: str | Path, *settings: Any) -> str:
    st = Path(source).stat()
    return hashlib.sha256(repr((str(source), st.st_size, st.st_mtime_ns, settings)).encode()).hexdigest()[:12]


def cached_array(target: str | Path, make: Callable[[], np.ndarray]) -> np.ndarray:
    """The array at ``target`` (read-only memory map), computed by ``make()`` and written first when missing."""
    target = Path(target)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target, suffix=".npy", stale_after=STALE_AFTER) as tmp:
            np.save(tmp, make())
    return np.load(target, mmap_mode="r")
