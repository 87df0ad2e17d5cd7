"""The facial-action pair lists of ReactDiff-K's prior (``priors.json``) and the target layout, without torch.

The smoothness metrics (:mod:`mafrg.metrics.smoothness`) count mutually exclusive AU pairs with these lists in
every evaluation job; keeping them apart from the priors' losses spares those jobs importing torch (~2 s each).

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
    return json.loads(resources.files("mafrg.methods.reactdiffk").joinpath("priors.json").read_text())


def au_pairs(kind: str) -> list[tuple[int, int]]:
    """REACT AU pairs (``co_occurred`` or ``exclusive``) as indices of the 15 AU channels."""
    return [(AU_NAMES.index(a), AU_NAMES.index(b)) for a, b, _ in pair_lists()["au"][kind]]
