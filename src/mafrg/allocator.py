"""Keep freed memory inside the process (glibc), so torch's CPU kernels stop paying for fresh pages on every call.

glibc serves a request above its mmap threshold (dynamic, at most 32 MiB) with a new ``mmap`` and returns it to
the operating system on ``free``, and trims the heap top above its trim threshold. oneDNN's convolutions allocate
and free their reordered inputs and workspace on every call, and a network's activations come and go every layer:
with a large batch each call then page-faults freshly zeroed memory. The usual fix on CPU is another allocator
(jemalloc, tcmalloc via ``LD_PRELOAD``); raising glibc's two thresholds at run time (``mallopt``) does the same
without one. Measured on this project's 2-core machine (benchmarks/generate_bench.py): a demo U-Net's (2400, 16, 16)
Conv1d 3.2 -> 0.43 ms per call; ReactDiff demo generation about 1.35x faster (80 reactions per block, 20 DDIM
steps); ``efficiency_bench.py`` about 1.15x on both sides (ReactDiff's feature extraction 28.6-29.4 -> 24.7-25.4 s);
small-batch training unchanged (ReactDiff's demo DDIM stage 65-67 s either way).

The cost: memory freed by the process stays mapped to it (its resident size stays near its peak), which is what a
job that repeats the same computation wants. Elsewhere (musl, macOS, Windows) this is a no-op.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
THRESHOLD = 1 << 30  # 1 GiB: any tensor a job allocates repeatedly is smaller

_accepted: bool | None = None


def retain_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds to 1 GiB, once per process. True when glibc accepted both."""
    global _accepted
    if _accepted is None:
        _accepted = False
        try:  # the symbols already in the process (libc among them): no library search at start-up
            libc = ctypes.CDLL(None)
        except (OSError, TypeError):  # TypeError: Windows has no handle for the process itself
            libc = None
        if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version"):
            _accepted = all(bool(libc.mallopt(option, THRESHOLD)) for option in (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD))
        log.debug("glibc malloc thresholds raised: %s", _accepted)
    return _accepted
