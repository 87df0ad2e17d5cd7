"""Row shards of an evaluation split: the unit of prediction files and of metric jobs.

A shard is a half-open range of mirrored rows, named by that range (``r00000-00100`` = rows 0..99), so a file
says which rows it holds and a changed ``shard_rows`` yields new names instead of files with new meanings.
"""

from __future__ import annotations

import re
from pathlib import Path

_NAME = re.compile(r"^r(\d{5,})-(\d{5,})$")


def shard_name(start: int, stop: int) -> str:
    return f"r{start:05d}-{stop:05d}"


def shard_ranges(n_rows: int, shard_rows: int) -> list[tuple[int, int]]:
    if shard_rows < 1:
        raise ValueError(f"shard_rows must be >= 1, got {shard_rows}")
    return [(a, min(n_rows, a + shard_rows)) for a in range(0, n_rows, shard_rows)]


def shard_names(n_rows: int, shard_rows: int) -> list[str]:
    return [shard_name(a, b) for a, b in shard_ranges(n_rows, shard_rows)]


def parse_rows(text: str) -> tuple[int, int]:
    """``"a:b"`` or a shard name -> (a, b), with a clear error for anything else."""
    m = _NAME.match(text)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
    else:
        try:
            a, b = (int(x) for x in text.split(":"))
        except ValueError:
            raise ValueError(f"rows must be 'start:stop' or a shard name like r00000-00100, got {text!r}") from None
    if not 0 <= a < b:
        raise ValueError(f"rows {text!r}: need 0 <= start < stop")
    return a, b


def coverage_problem(ranges: list[tuple[int, int]], n_rows: int) -> str | None:
    """None when the row ranges cover 0 .. n_rows - 1 exactly once; else what is missing or repeated."""
    counts = [0] * n_rows
    outside = []
    for a, b in ranges:
        for i in range(a, b):
            if 0 <= i < n_rows:
                counts[i] += 1
            else:
                outside.append(i)
    missing = [i for i, c in enumerate(counts) if c == 0]
    twice = [i for i, c in enumerate(counts) if c > 1]
    if not (missing or twice or outside):
        return None
    return f"missing {missing[:10]}, repeated {twice[:10]}" + (f", outside {outside[:10]}" if outside else "")
