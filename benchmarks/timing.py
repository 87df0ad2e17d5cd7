"""What the benchmark scripts share: the best wall time of a call and the allocator setting that ``mafrg`` runs
with (FLOP counts: :mod:`mafrg.flops`)."""

from __future__ import annotations

import time


def best_time(fn, repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` calls of ``fn``, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def allocator_option(ap) -> None:
    """``--glibc-defaults``: time with glibc's own malloc thresholds instead of the raised ones every ``mafrg``
    command runs with (:mod:`mafrg.allocator`), to see what that setting is worth."""
    ap.add_argument("--glibc-defaults", action="store_true",
                    help="keep glibc's default malloc thresholds (the mafrg CLI raises them: mafrg.allocator)")


def apply_allocator(a) -> str:
    """What ``mafrg`` does at start-up, unless ``--glibc-defaults``; a phrase for the benchmark's header."""
    if a.glibc_defaults:
        return "glibc default malloc thresholds"
    from mafrg.allocator import retain_freed_memory

    return "malloc thresholds raised (as mafrg runs)" if retain_freed_memory() else "malloc thresholds unchanged"
