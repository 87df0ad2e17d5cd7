"""REACT 2026 EEG: reading the processed files, and the five EEG metrics against a literal reference and on
constructed cases whose answer is known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mafrg.errors import DataError
from mafrg.metrics import eeg


# ---------------------------------------------------------------------------------------------- literal reference
def ref_ccc(t, p, m):
    """CCC written out: 2 cov / (var_t + var_p + (mean_t - mean_p)^2 + 1e-8) over the valid steps."""
    idx = [i for i in range(len(t)) if m[i] > 0.5 and np.isfinite(t[i]) and np.isfinite(p[i])]
    if len(idx) < 2:
        return None
    tv, pv = [float(t[i]) for i in idx], [float(p[i]) for i in idx]
    n = len(idx)
    mt, mp = sum(tv) / n, sum(pv) / n
    vt = sum((a - mt) ** 2 for a in tv) / n
    vp = sum((b - mp) ** 2 for b in pv) / n
    if vt ** 0.5 < 1e-8 or vp ** 0.5 < 1e-8:
        return 0.0
    cov = sum((a - mt) * (b - mp) for a, b in zip(tv, pv)) / n
    return 2 * cov / (vt + vp + (mt - mp) ** 2 + 1e-8)


def ref_dtw(a, b):
    """The textbook recursion, squared differences, square root at the end."""
    n, m = len(a), len(b)
    d = [[float("inf")] * (m + 1) for _ in range(n + 1)]
    d[0][0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = (a[i - 1] - b[j - 1]) ** 2 + min(d[i - 1][j], d[i][j - 1], d[i - 1][j - 1])
    return d[n][m] ** 0.5


def ref_clip(pred, target, mask):
    n, s, c = pred.shape
    out = {}
    frc = [[ref_ccc(target[:, k], pred[i, :, k], mask[:, k]) for k in range(c)] for i in range(n)]
    frc = [np.mean([v for v in row if v is not None]) for row in frc if any(v is not None for v in row)]
    out["EEG_FRC"] = sum(frc) if frc else None
    frd = []
    for i in range(n):
        ds = []
        for k in range(c):
            keep = [j for j in range(s) if mask[j, k] > 0.5]
            if keep:
                ds.append(ref_dtw([pred[i, j, k] for j in keep], [target[j, k] for j in keep]))
        if ds:
            frd.append(np.mean(ds))
    out["EEG_FRD"] = sum(frd) if frd else None
    lags = []
    for i in range(n):
        per = []
        for k in range(c):
            scored = []
            for lag in range(-2, 3):
                pairs = [(j, j + lag) for j in range(s) if 0 <= j + lag < s]  # target step j, prediction j + lag
                v = ref_ccc(np.array([target[j, k] for j, _ in pairs]), np.array([pred[i, q, k] for _, q in pairs]),
                            np.array([mask[j, k] for j, _ in pairs]))
                if v is not None:
                    scored.append((v, lag))
            if scored:
                top = max(v for v, _ in scored)
                per.append(abs(next(lag for v, lag in scored if v == top)))
        if per:
            lags.append(np.mean(per))
    out["EEG_TLCC"] = float(np.mean(lags)) if lags else None
    x = pred.reshape(n, -1)
    out["EEG_smse"] = (sum(((x[a] - x[b]) ** 2).mean() for a, b in itertools.permutations(range(n), 2))
                       / (n * (n - 1))) if n > 1 else 0.0
    keep = [k for k in range(c) if (mask[:, k] > 0.5).any()]
    out["EEG_FRVar"] = float(np.mean([pred[i, :, k].var() for i in range(n) for k in keep])) if keep else None
    return out


def clip(rng, n=4, s=12, masked=0.2):
    target = rng.normal(size=(s, len(eeg.CHANNELS)))
    pred = target[None] * rng.uniform(0.2, 1.0, (n, 1, 1)) + rng.normal(scale=0.8, size=(n, s, len(eeg.CHANNELS)))
    mask = (rng.random((s, len(eeg.CHANNELS))) > masked).astype(np.float32)
    mask[:, 3] = 0  # a channel never measured
    return pred.astype(np.float32), target.astype(np.float32), mask


def test_the_metrics_equal_the_literal_reference_clip_by_clip():
    rng = np.random.default_rng(7)
    clips = [clip(rng, s=s) for s in (12, 5, 30)]
    for p, t, m in clips:
        want = ref_clip(p.astype(np.float64), t.astype(np.float64), m)
        got = {"EEG_FRC": eeg.frc(p, t, m), "EEG_FRD": eeg.frd(p, t, m), "EEG_TLCC": eeg.tlcc(p, t, m),
               "EEG_smse": eeg.smse(p), "EEG_FRVar": eeg.frvar(p, m)}
        for k in eeg.METRICS:
            assert got[k] == pytest.approx(want[k], rel=1e-6, abs=1e-9), k
    means = eeg.eeg_metrics(*map(list, zip(*clips)))
    for k in eeg.METRICS:  # the mean over clips
        assert means[k] == pytest.approx(np.mean([ref_clip(*c)[k] for c in clips]), rel=1e-6), k


def test_known_answers():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(20, 14)).astype(np.float32)
    mask = np.ones_like(target)
    same = np.repeat(target[None], 10, 0)
    m = eeg.eeg_metrics([same], [target], [mask])
    assert m["EEG_FRC"] == pytest.approx(10.0, abs=1e-6)  # CCC 1, summed over the 10 reactions
    assert m["EEG_FRD"] == 0.0 and m["EEG_TLCC"] == 0.0 and m["EEG_smse"] == 0.0
    assert m["EEG_FRVar"] == pytest.approx(float(target.astype(np.float64).var(0).mean()), rel=1e-6)
    late = np.roll(target, 1, axis=0)[None]  # the reaction one second late: prediction s + 1 = target s
    assert eeg.tlcc(late, target, mask) == 1.0
    flat = np.zeros((2, 20, 14), np.float32)  # constant channels score 0, not NaN
    assert eeg.frc(flat, target, mask) == 0.0
    assert eeg.frc(same[:1], target, np.zeros_like(mask)) is None  # nothing measured: no score
    assert np.isnan(eeg.eeg_metrics([same[:1]], [target], [np.zeros_like(mask)])["EEG_FRC"])
    with pytest.raises(ValueError, match=r"prediction \(20, 14\) \(reactions, seconds, channels\)"):
        eeg.eeg_metrics([target], [target], [mask])


def test_reading_a_processed_file(tmp_path):
    f = tmp_path / "eeg.csv"
    header = ["timestamp", *reversed(eeg.CHANNELS)]  # any column order; other columns are ignored
    rows = [[str(r), *(str(100 * r + v) for v in range(14))] for r in range(3)]
    rows[1][header.index("TP9")] = ""  # an empty cell
    rows[2][header.index("Gamma_TP10")] = "abc"  # not a number
    f.write_text("\ufeff" + "\n".join(",".join(r) for r in [header, *rows]) + "\n")  # a byte-order mark, as shipped
    values, mask = eeg.read_eeg(f)
    assert values.shape == mask.shape == (3, 14) and values.dtype == np.float32
    written = {c: float(rows[0][header.index(c)]) for c in eeg.CHANNELS}  # row 0 under each name
    assert values[0, eeg.CHANNELS.index("TP9")] == pytest.approx(written["TP9"] / 1000)  # raw channels / 1000
    assert values[0, eeg.CHANNELS.index("Gamma_TP10")] == written["Gamma_TP10"]  # band powers as they are
    assert mask[1, eeg.CHANNELS.index("TP9")] == 0 and values[1, eeg.CHANNELS.index("TP9")] == 0
    assert mask[2, eeg.CHANNELS.index("Gamma_TP10")] == 0 and mask.sum() == 3 * 14 - 2
    # frames onto seconds: 95 frames at 30 fps cover seconds 0..3; the file's 3 rows, the last repeated
    v, m = eeg.per_second(values, mask, 95, 30)
    assert v.shape == (4, 14) and np.array_equal(v[3], values[2]) and np.array_equal(m[3], mask[2])
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"bad.csv: none of the 14 EEG columns"):
        eeg.read_eeg(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text(",".join(eeg.CHANNELS) + "\n")
    with pytest.raises(DataError, match="empty.csv: EEG file has no data rows"):
        eeg.read_eeg(empty)
