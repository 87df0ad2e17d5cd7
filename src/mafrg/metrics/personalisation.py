"""Personalisation: is a generated reaction closer to its target listener's own behaviour than to others'?

The REACT 2026 protocol scores its personalised tracks with the generic metrics only, which cannot tell a model
that reacts *as this listener would* from one that reacts as anybody would. mafrg adds a nearest-centroid
identification test (rank-1 identification accuracy, the measure of person re-identification):

* a listener's **style** is the per-channel mean and standard deviation of their real reactions over reference
  clips (their history): a vector of 2C values (:func:`style`);
* each generated reaction gets the same statistic, and is *identified* as the candidate listener whose style is
  nearest (Euclidean, each dimension divided by its standard deviation across the listeners' styles, so that no
  channel dominates by its scale);
* the candidates of a row are its target listener and the other listeners who could have answered the same
  speaker input (the same session and role in MARS): the comparison is under the same speaker input.

``PersAcc`` is the share of reactions identified as their target listener; ``PersChance`` the share a
style-blind model would get on average (the mean of 1 / candidates); ``PersMargin`` the mean over reactions of
``(d_others - d_own) / d_others``, with ``d_own`` the distance to the target's style and ``d_others`` the mean
distance to the other candidates' (> 0: nearer its own listener than to the others on average). Rows with a
single candidate carry no information and are left out.
"""

from __future__ import annotations

import numpy as np

METRICS = ("PersAcc", "PersChance", "PersMargin")


def style(reactions: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """Per-channel mean and std over every frame of the given (T, C) reactions: a (2C,) vector."""
    frames = np.concatenate([np.asarray(r, np.float64).reshape(-1, np.shape(r)[-1]) for r in reactions]) \
        if isinstance(reactions, list) else np.asarray(reactions, np.float64).reshape(-1, np.shape(reactions)[-1])
    return np.concatenate([frames.mean(0), frames.std(0)])


def personalisation(preds: list[np.ndarray], targets: list[str], candidates: list[list[str]],
                    styles: dict[str, np.ndarray]) -> dict[str, float]:
    """``preds[k]``: row k's (N, T, C) reactions; ``targets[k]`` its listener; ``candidates[k]`` the listeners
    it is told apart from (the target included); ``styles``: each listener's :func:`style`."""
    if not (len(preds) == len(targets) == len(candidates)):
        raise ValueError(f"{len(preds)} predictions, {len(targets)} targets and {len(candidates)} candidate lists")
    missing = sorted({c for cs in candidates for c in cs} - set(styles))
    if missing:
        raise ValueError(f"no reference style for listener(s) {', '.join(missing[:5])}")
    names = sorted(styles)
    scale = np.stack([styles[n] for n in names]).std(0)
    scale[scale < 1e-8] = 1.0  # a dimension on which all listeners agree tells nobody apart
    hits, chance, margins = [], [], []
    for pred, target, cands in zip(preds, targets, candidates):
        cands = list(dict.fromkeys(cands))
        if target not in cands:
            raise ValueError(f"target listener {target} is not among its candidates {cands}")
        if len(cands) < 2:
            continue
        ref = np.stack([styles[c] for c in cands]) / scale  # (K, 2C)
        own = cands.index(target)
        for y in np.asarray(pred):
            d = np.linalg.norm(style(y) / scale - ref, axis=1)
            others = np.delete(d, own).mean()
            hits.append(float(np.argmin(d) == own))
            margins.append(float((others - d[own]) / others) if others > 0 else 0.0)
        chance.append(1.0 / len(cands))
    if not hits:
        return {m: float("nan") for m in METRICS}
    return {"PersAcc": float(np.mean(hits)), "PersChance": float(np.mean(chance)),
            "PersMargin": float(np.mean(margins))}
