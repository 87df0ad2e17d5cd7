"""The input transform of each visual stream: image geometry and normalisation, by name.

* ``reactdiff`` (default, for compatibility with the features ReactDiff was trained on): what the ReactDiff
  authors feed every network -- shorter side resized to ``features.image_size`` (256), centre crop
  ``features.crop_size`` (224), mean = std = 0.5 (values in [-1, 1]). None of the three networks was trained
  with that normalisation.
* ``native``: each network's own -- ELIM and ME-GraphAU: resize 256, centre crop 224, ImageNet mean/std;
  HSEmotion: resize to 260 x 260 (aspect not kept, no crop), ImageNet mean/std; ResMaskNet: resize to 224 x 224
  (aspect not kept), values in [0, 1] (no mean/std), channels in BGR order (rmn feeds OpenCV's frames).

Frames are decoded once; streams that share a geometry share the resized crops, and each stream then only
normalises (:func:`mafrg.features.video.normalise`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Mode = Literal["reactdiff", "native"]
MODES = ("reactdiff", "native")
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


@dataclass(frozen=True)
class Geometry:
    resize: int  # the shorter side is resized to this (both sides when ``square``)
    crop: int  # centre crop (equal to ``resize`` when ``square``)
    square: bool = False


@dataclass(frozen=True)
class Preprocess:
    mode: str
    geometry: Geometry
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channels: str = "rgb"  # rgb | bgr: the order the network was trained on

    def settings(self) -> dict[str, Any]:
        """What a feature file records (and hashes) of it. ``channels`` only when not RGB: feature files
        written before the setting existed (all RGB) keep their identity."""
        out = {"preprocess": self.mode, **asdict(self.geometry), "mean": list(self.mean), "std": list(self.std)}
        return out | ({"channels": self.channels} if self.channels != "rgb" else {})


NATIVE = {  # by network; a stream's network is NETWORKS[stream][0] unless configured (fe: features.fe.network)
    "elim": Preprocess("native", Geometry(256, 224), *IMAGENET),
    "megraphau": Preprocess("native", Geometry(256, 224), *IMAGENET),  # Swin needs exactly 224
    "resmasknet": Preprocess("native", Geometry(224, 224, square=True), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "bgr"),
    "hsemotion": Preprocess("native", Geometry(260, 260, square=True), *IMAGENET),
}
NETWORKS = {"va": ("elim",), "au": ("megraphau",), "fe": ("resmasknet", "hsemotion")}


def for_stream(stream: str, mode: str, image_size: int = 256, crop_size: int = 224,
               network: str | None = None) -> Preprocess:
    if mode == "reactdiff":
        return Preprocess("reactdiff", Geometry(image_size, crop_size), *HALF)
    if mode == "native":
        return NATIVE[network or NETWORKS[stream][0]]
    raise ValueError(f"features.{stream}.preprocess must be one of {', '.join(MODES)}, got {mode!r}")
