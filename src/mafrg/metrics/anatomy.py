"""Facial-action anatomy: which facial actions mirror, co-occur with or exclude each other, and the target layout.

This is data of the metrics layer (``facial_actions.json`` beside this module): the smoothness metrics count
co-active mutually exclusive AU pairs with it, and a method may use it too (ReactDiff-K's dependency prior reads
every list). It needs no torch, so the evaluation jobs that import it stay light.

Target layout (83 columns): 25 emotion channels (15 AUs, valence, arousal, 8 expressions), then the 58 3DMM
coefficients (52 expression, 3 rotation, 3 translation).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from mafrg.constants import AU_NAMES

EMOTION_DIM = 25
TARGET_DIM = EMOTION_DIM + 58
POSE = slice(EMOTION_DIM + 52, TARGET_DIM)  # rotation and translation of the 3DMM


@lru_cache(maxsize=1)
def pair_lists() -> dict:
    """The pair lists: ``tdmm`` (FaceVerse expression coefficients: symmetry, co_occurred, exclusive) and ``au``
    (REACT AU names: co_occurred, exclusive)."""
    return json.loads(resources.files("mafrg.metrics").joinpath("facial_actions.json").read_text())


def au_pairs(kind: str) -> list[tuple[int, int]]:
    """REACT AU pairs (``co_occurred`` or ``exclusive``) as indices of the 15 AU channels."""
    return [(AU_NAMES.index(a), AU_NAMES.index(b)) for a, b, _ in pair_lists()["au"][kind]]
