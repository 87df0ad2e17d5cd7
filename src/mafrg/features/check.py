"""``mafrg extractors check``: what a weights file is, what it computes, and how fast, before a long run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class CheckReport:
    stream: str
    files: list[str]
    format: str
    params: int
    input_size: int
    output_dim: int
    seconds_per_frame: float
    batch: int
    threads: int
    preprocess: dict[str, Any]

    def lines(self) -> list[str]:
        return [
            f"stream:      {self.stream}",
            f"file(s):     {', '.join(self.files)}",
            f"format:      {self.format}",
            f"parameters:  {self.params:,}",
            f"preprocess:  {self.preprocess}",
            f"output:      {self.output_dim} values per frame (test image {self.input_size} x {self.input_size})",
            f"speed:       {1000 * self.seconds_per_frame:.1f} ms per frame ({1 / self.seconds_per_frame:.1f} frames/s; "
            f"batch {self.batch}, {self.threads} threads, this machine)",
        ]


def test_image(size: int) -> np.ndarray:
    """A smooth synthetic RGB frame (uint8, size x size): shapes the network can respond to, no file needed."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.stack([np.sin(6 * xx + 2 * yy), np.cos(5 * yy - 3 * xx), np.sin(4 * (xx + yy))], -1)
    return ((img + 1) * 127.5).astype(np.uint8)


def check(stream: str, weights: str | list[str], preprocess: str = "reactdiff", pool: str = "max",
          variant: str = "tf", network: str | None = None, batch: int = 8, repeats: int = 2, threads: int = 2) -> CheckReport:
    import torch

    from mafrg import extractors
    from mafrg.features.preprocess import for_stream
    from mafrg.features.video import crop_frames, normalise

    torch.set_num_threads(threads)
    loaded = extractors.load(stream, weights, pool=pool, variant=variant, network=network)
    if stream == "fe" and network is None:  # the network the file holds decides the native preprocessing
        from mafrg.extractors.resmasknet import ResMaskNetFeatures

        network = "resmasknet" if isinstance(loaded.net, ResMaskNetFeatures) else "hsemotion"
    pre = for_stream(stream, preprocess, network=network)
    g = pre.geometry
    frames = np.repeat(test_image(300)[None], batch, 0)
    x = normalise(crop_frames(frames, g.resize, g.crop, g.square), pre.mean, pre.std, pre.channels)
    with torch.inference_mode():
        out = loaded.net(x[:1])  # warm-up, and the output size
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            loaded.net(x)
            best = min(best, time.perf_counter() - t0)
    return CheckReport(stream, [str(f) for f in loaded.files], loaded.format, loaded.params, g.crop,
                       int(out.reshape(1, -1).shape[1]), best / batch, batch, threads, pre.settings())
