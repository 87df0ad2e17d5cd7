"""Smoothness and facial-anatomy measures of generated reactions (every method; ReactDiff-K's priors target them).

* ``Vel_*``: mean absolute frame-to-frame change |x[t+1] - x[t]| over channels, frames, reactions and rows;
* ``Acc_*``: mean absolute second difference |x[t+1] - 2 x[t] + x[t-1]| (acceleration: jitter shows here first);
  for the 58 3DMM coefficients, for the head pose alone (3DMM 52:58, rotation and translation: what ReactDiff-K's
  kinematics prior constrains, invisible in the mean over 58) and for the 25 emotion channels, in their own
  units. The GT row of the table is the true listeners' value: the reference a method should be close to, not
  below.
* ``ExclAU``: the share of (frame, pair) where both AUs of a mutually exclusive pair are active (> 0.5), over
  the mutually exclusive REACT AU pairs of :mod:`mafrg.metrics.anatomy` (e.g. AU12 with AU15).
"""

from __future__ import annotations

import numpy as np

from mafrg.constants import N_3DMM, N_3DMM_EXPRESSION
from mafrg.metrics.anatomy import au_pairs

AU_ACTIVE = 0.5
POSE = slice(N_3DMM_EXPRESSION, N_3DMM)  # head rotation (3) and translation (3)


def exclusive_au_pairs() -> list[tuple[int, int]]:
    return au_pairs("exclusive")


class Smoothness:
    """Streamed over prediction shards: ``update`` with (rows, alpha, T, 25) and (rows, alpha, T, 58)."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.pairs = exclusive_au_pairs()

    def _add(self, name: str, values: np.ndarray) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + float(np.abs(values, dtype=np.float64).sum())
        self.counts[name] = self.counts.get(name, 0) + values.size

    def _motion(self, name: str, d1: np.ndarray, d2: np.ndarray) -> None:
        self._add(f"Vel_{name}", d1)
        self._add(f"Acc_{name}", d2)

    def update(self, emotion: np.ndarray, tdmm: np.ndarray) -> None:
        for name, x in (("3DMM", tdmm), ("emotion", emotion)):
            d1 = np.diff(np.asarray(x, np.float64), axis=-2)
            d2 = np.diff(d1, axis=-2)
            self._motion(name, d1, d2)
            if name == "3DMM":  # the head pose's share of the same differences
                self._motion("pose", d1[..., POSE], d2[..., POSE])
        au = np.asarray(emotion)[..., :15] > AU_ACTIVE
        both = np.stack([au[..., i] & au[..., j] for i, j in self.pairs], axis=-1)
        self.sums["ExclAU"] = self.sums.get("ExclAU", 0.0) + float(both.sum())
        self.counts["ExclAU"] = self.counts.get("ExclAU", 0) + both.size

    def value(self) -> dict[str, float]:
        return {k: self.sums[k] / self.counts[k] for k in self.sums if self.counts[k]}
