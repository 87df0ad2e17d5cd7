"""The value rules of a submission: what each emotion channel may hold, applied and counted.

AU occurrence (15 channels): binarised at a threshold (the official ``--binarize`` rounds them; 0.5 is that
rounding) or kept as probabilities clipped to [0, 1]; valence and arousal clipped to [-1, 1]; the 8 expression
probabilities clipped at 0 and renormalised to sum to 1 where they do not already (to 1e-6), so an output that
already obeys the rules passes through bit for bit. NaN or inf is an error naming the row: never "fixed".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from mafrg.constants import N_EMOTION

AU = slice(0, 15)
VA = slice(15, 17)
FE = slice(17, 25)
SUM_TOLERANCE = 1e-6


class SubmissionValueError(ValueError):
    """A prediction cannot be submitted as it is (NaN/inf, wrong shape)."""


@dataclass(frozen=True)
class ValueRules:
    binarize: bool = True
    threshold: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self) | {"valence_arousal": "clipped to [-1, 1]",
                               "expressions": f"clipped at 0, renormalised to sum 1 where off by > {SUM_TOLERANCE}"}


def apply_rules(emotion: np.ndarray, rules: ValueRules, row_names: list[str], start: int = 0
                ) -> tuple[np.ndarray, dict[str, int]]:
    """(R, alpha, T, 25) predictions of rows start.. -> the submitted float32 values and how many values each
    rule changed. ``row_names``: every row's speaker clip, indexed by split row."""
    e = np.asarray(emotion)
    if e.ndim != 4 or e.shape[-1] != N_EMOTION:
        raise SubmissionValueError(f"predictions must be (rows, alpha, T, {N_EMOTION}), got {e.shape}")
    bad = ~np.isfinite(e.reshape(len(e), -1)).all(axis=1)
    if bad.any():
        rows = [f"row {start + i} (speaker {row_names[start + i]})" for i in np.flatnonzero(bad)[:5]]
        raise SubmissionValueError(f"NaN or inf in {int(bad.sum())} row(s): {', '.join(rows)}; a submission is "
                                   "never repaired silently: fix the generation")
    out = e.astype(np.float32, copy=True)
    counts = {}
    au = out[..., AU]
    if rules.binarize:
        new = (au >= rules.threshold).astype(np.float32)
        counts["au_binarized_changed"] = int((new != au).sum())
    else:
        new = np.clip(au, 0.0, 1.0)
        counts["au_clipped"] = int((new != au).sum())
    out[..., AU] = new
    va = out[..., VA]
    new = np.clip(va, -1.0, 1.0)
    counts["va_clipped"] = int((new != va).sum())
    out[..., VA] = new
    fe = out[..., FE]
    neg = fe < 0
    counts["fe_clipped"] = int(neg.sum())
    fe = np.where(neg, np.float32(0), fe)
    s = fe.sum(-1, keepdims=True, dtype=np.float64)
    off = np.abs(s - 1.0) > SUM_TOLERANCE
    counts["fe_frames_renormalised"] = int(off.sum())
    uniform = np.float32(1.0 / fe.shape[-1])
    renorm = np.where(s > 0, fe / np.where(s > 0, s, 1.0), uniform).astype(np.float32)
    out[..., FE] = np.where(off, renorm, fe)
    return out, counts


def check_values(x: np.ndarray, binarized: bool, where: str) -> list[str]:
    """Problems of one (T, 25) result as messages naming ``where`` (an empty list: it obeys the rules)."""
    problems = []
    if not np.isfinite(x).all():
        return [f"{where}: NaN or inf"]
    au, va, fe = x[:, AU], x[:, VA], x[:, FE]
    if binarized and not np.isin(au, (0.0, 1.0)).all():
        problems.append(f"{where}: AU channels must be 0 or 1 (the package says binarised), found e.g. "
                        f"{float(au[~np.isin(au, (0.0, 1.0))][0]):.4g}")
    elif not binarized and ((au < 0) | (au > 1)).any():
        problems.append(f"{where}: AU probabilities outside [0, 1]")
    if ((va < -1) | (va > 1)).any():
        problems.append(f"{where}: valence/arousal outside [-1, 1]")
    if (fe < 0).any() or (fe > 1).any():
        problems.append(f"{where}: expression probabilities outside [0, 1]")
    elif (np.abs(fe.sum(-1, dtype=np.float64) - 1.0) > 1e-4).any():
        problems.append(f"{where}: expression probabilities do not sum to 1")
    return problems
