"""The personalisation metric on constructed listeners whose styles, and so the answers, are known."""

from __future__ import annotations

import numpy as np
import pytest

from mafrg.metrics.personalisation import personalisation, style

C = 25


def listener(rng, level: float, spread: float, frames: int = 200) -> np.ndarray:
    """Reactions of a listener whose channels sit around ``level`` with fluctuations of ``spread``."""
    return np.clip(level + spread * rng.normal(size=(frames, C)), 0, 1)


def setting(rng):
    kinds = {"calm": (0.2, 0.02), "lively": (0.5, 0.2), "smiley": (0.8, 0.05)}
    styles = {name: style([listener(rng, *k) for _ in range(3)]) for name, k in kinds.items()}
    return kinds, styles


def test_reactions_in_their_own_listeners_style_are_identified():
    rng = np.random.default_rng(0)
    kinds, styles = setting(rng)
    names = list(kinds)
    targets = names * 4
    preds = [np.stack([listener(rng, *kinds[t], frames=60) for _ in range(10)]) for t in targets]
    m = personalisation(preds, targets, [names] * len(targets), styles)
    assert m["PersAcc"] == 1.0 and m["PersChance"] == pytest.approx(1 / 3) and m["PersMargin"] > 0.5


def test_a_style_blind_model_scores_chance_and_a_wrong_style_scores_below_it():
    rng = np.random.default_rng(1)
    kinds, styles = setting(rng)
    names = list(kinds)
    targets = names * 4
    generic = [np.stack([listener(rng, *kinds["lively"], frames=60) for _ in range(10)]) for _ in targets]
    m = personalisation(generic, targets, [names] * len(targets), styles)
    assert m["PersAcc"] == pytest.approx(1 / 3)  # always "lively": right for a third of the rows
    swapped = {"calm": "smiley", "lively": "calm", "smiley": "lively"}
    wrong = [np.stack([listener(rng, *kinds[swapped[t]], frames=60) for _ in range(10)]) for t in targets]
    w = personalisation(wrong, targets, [names] * len(targets), styles)
    assert w["PersAcc"] == 0.0 and w["PersMargin"] < 0


def test_candidates_and_inputs_are_checked():
    rng = np.random.default_rng(2)
    kinds, styles = setting(rng)
    pred = [np.stack([listener(rng, *kinds["calm"], frames=30)])]
    alone = personalisation(pred, ["calm"], [["calm"]], styles)  # nobody to tell apart from: no score
    assert np.isnan(alone["PersAcc"])
    with pytest.raises(ValueError, match="no reference style for listener"):
        personalisation(pred, ["calm"], [["calm", "nobody"]], styles)
    with pytest.raises(ValueError, match="is not among its candidates"):
        personalisation(pred, ["calm"], [["lively", "smiley"]], styles)
    # the scale of a channel does not decide: multiplying one channel by 1000 everywhere changes nothing
    factor = np.ones(2 * C)
    factor[[0, C]] = 1000.0  # channel 0's mean and std
    big = {k: v * factor for k, v in styles.items()}
    scaled = [p * np.r_[1000.0, np.ones(C - 1)] for p in pred]
    a = personalisation(pred, ["calm"], [list(kinds)], styles)
    b = personalisation(scaled, ["calm"], [list(kinds)], big)
    assert a["PersAcc"] == b["PersAcc"] and a["PersMargin"] == pytest.approx(b["PersMargin"], rel=1e-9)
