"""Safe readers for the array files mafrg exchanges, with errors that name the file and the problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np

NPY_MAGIC = b"\x93NUMPY"


class FileFormatError(ValueError):
    """A file is missing, not of the expected format, or unreadable. The message starts with its path."""


def load_npy(path: str | Path, mmap: bool = False) -> np.ndarray:
    """A .npy array, never unpickling: a text file or an object array is an error naming the file."""
    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"{p}: file not found")
    with open(p, "rb") as fh:
        head = fh.read(len(NPY_MAGIC))
    if head != NPY_MAGIC:
        what = "empty" if not head else f"starts with {head!r}"
        raise FileFormatError(f"{p}: not a .npy file ({what}; a .npy file starts with {NPY_MAGIC!r})")
    try:
        return np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:
        if "pickled" in str(exc) or "allow_pickle" in str(exc):
            raise FileFormatError(f"{p}: holds pickled (object) data; only numeric arrays are accepted") from exc
        raise FileFormatError(f"{p}: cannot be read as .npy ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - truncated header or data
        raise FileFormatError(f"{p}: cannot be read as .npy ({exc})") from exc
