"""What the benchmark scripts share: the best wall time of a call, its FLOPs, and the allocator setting that
``mafrg`` runs with."""

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


def flops(fn) -> float:
    """FLOPs of one call of ``fn`` (``torch.utils.flop_counter``: matrix products, convolutions, attention;
    2 per multiply-add)."""
    return flop_breakdown(fn)[0]


def flop_breakdown(fn) -> tuple[float, dict[str, float]]:
    """FLOPs of one call of ``fn`` and their split over the top-level modules it calls (by class name, as the
    flop counter names them; work outside any module, such as an MFCC's DCT, only counts in the total)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    counts = fc.get_flop_counts()
    parts = {k: float(sum(v.values())) for k, v in counts.items() if k != "Global" and "." not in k}
    return float(fc.get_total_flops()), parts


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
