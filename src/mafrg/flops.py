"""FLOPs of a call, by module: what the efficiency comparison counts (``benchmarks/efficiency_bench.py``) and what
a test checks against the published sizes. ``torch.utils.flop_counter`` counts matrix products, convolutions and
attention, 2 per multiply-add; it also works on the meta device (shapes only, no arithmetic)."""

from __future__ import annotations


def flops(fn) -> float:
    """FLOPs of one call of ``fn``."""
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
