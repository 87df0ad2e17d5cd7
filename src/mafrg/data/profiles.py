"""Listener profiles (REACT 2026): Big-Five personality vectors and the choice of a listener's history clip.

Personality: ``<split>/personality/{listener,speaker}.csv``, columns ``video_name``, ``session`` and the five
traits on a 1-5 scale, normalised to [0, 1] as (x - 1) / 4 (the official loader,
``dataset/perfrdiff_rewrite_weight.py``). A row is keyed by (session, stem of ``video_name``).

History: a personalised method may read another clip of the target listener. MARS has no person ids, so which
clip is "the same listener" is a rule (:data:`HISTORY_RULES`):

* ``official``: another clip of the same role and session, drawn at random (the 2026 loader's
  ``_choose_personal_path``; the clip itself when the session has no other). It can be another person. The
  official draw runs in DataLoader order with ``random`` seeded per worker, so it is not reproducible from the
  data alone; mafrg draws each clip's history from (seed, clip id), so it does not depend on order or sharding.
* ``same_person``: a clip of the same role, in any session of the split, whose Big-Five vector equals the
  target's (the vector is measured once per person, so equal vectors are a proxy for the person, as CaReDiff
  uses it); the ``official`` rule when no such clip exists or no personality table is given.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from mafrg.errors import DataError

TRAITS = ("Extraversion", "Agreeableness", "Conscientiousness", "Neuroticism", "Openness")
HISTORY_RULES = ("official", "same_person")


def read_personality(path: str | Path) -> dict[tuple[str, str], np.ndarray]:
    """{(session, stem): (5,) float32 in [0, 1]} from an official personality table."""
    import pandas as pd

    path = Path(path)
    try:
        df = pd.read_csv(path, encoding="utf-8-sig")
    except Exception as exc:  # noqa: BLE001 - any parse failure names the file
        raise DataError(f"{path}: personality table cannot be parsed as CSV ({exc})") from exc
    missing = [c for c in ("video_name", "session", *TRAITS) if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    traits = df[list(TRAITS)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(traits) | (traits < 1) | (traits > 5)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(f"{path}: trait {TRAITS[c]} of data row {r + 1} is missing, not a number or outside 1-5")
    out = {}
    for (session, name), v in zip(zip(df["session"].astype(str), df["video_name"].astype(str)), traits):
        key = (session, Path(name).stem)
        if key in out:
            raise DataError(f"{path}: two rows for session {session}, clip {key[1]}")
        out[key] = ((v - 1) / 4).astype(np.float32)
    return out


def _split(clip: str) -> tuple[str, str, str]:
    role, session, stem = clip.split("/")
    return role, session, stem


def pick_history(target: str, clips: list[str], seed: int, rule: str = "official",
                 personality: dict[tuple[str, str], np.ndarray] | None = None) -> str:
    """The history clip of ``target`` (a clip id ``<role>/<session>/<stem>``) among ``clips`` (the split's), by
    ``rule`` (module doc); the same (target, clips, seed, rule) always gives the same clip."""
    if rule not in HISTORY_RULES:
        raise ValueError(f"history rule {rule!r}: choose one of {', '.join(HISTORY_RULES)}")
    role, session, stem = _split(target)
    rng = random.Random(f"{seed}:{target}")
    if rule == "same_person" and personality is not None and (session, stem) in personality:
        own = personality[(session, stem)]
        same = sorted(c for c in clips if c != target and _split(c)[0] == role
                      and np.array_equal(personality.get(_split(c)[1:], np.full(5, np.nan)), own))
        if same:
            return rng.choice(same)
    others = sorted(c for c in clips if c != target and _split(c)[:2] == (role, session))
    return rng.choice(others) if others else target
