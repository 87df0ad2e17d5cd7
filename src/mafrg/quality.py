"""The demo quality check: do the trained methods beat the naive baselines by more than the spread over seeds?

Read from a report folder's per-split CSVs (``results/report/<split>.csv``), for each method's offline and online
variants against B_Random, B_MeanSeq and B_MeanFr::

    FRCorr:  mean - std  >  baseline + its std      (higher is better)
    FRDist:  mean + std  <  baseline - its std      (lower is better)
    FRDiv  > 0

where std is the standard deviation over training seeds (0 with one seed). ``benchmarks/quality_bench.py`` trains
the seeds and runs it.
"""

from __future__ import annotations

import csv
from pathlib import Path

BASELINES = ("B_Random", "B_MeanSeq", "B_MeanFr")
TRAINED = ("ReactDiff", "EfficientListener", "ReactDiffK")
METHODS = tuple(f"{m}_{v}" for m in TRAINED for v in ("offline", "online"))


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {r["method"]: r for r in csv.DictReader(f)}


def _val(row: dict[str, str], key: str) -> tuple[float, float]:
    mean = float(row[key])
    std = row.get(f"{key}_std") or ""
    return mean, float(std) if std else 0.0


def check(report: Path, methods: tuple[str, ...] = METHODS) -> tuple[list[str], list[str]]:
    """Table lines and failed checks (of the run labels ``methods``) from the report's per-split CSVs."""
    lines, failed = [], []
    lines.append("| split | method | seeds | FRCorr ↑ | FRDist ↓ | FRDiv ↑ |")
    lines.append("|---|---|---:|---:|---:|---:|")
    splits = sorted(p.stem for p in report.glob("*.csv") if "_" not in p.stem)
    if not splits:
        failed.append(f"no split tables in {report}")
    for split in splits:
        rows = _rows(report / f"{split}.csv")
        for name in (*BASELINES, *methods):
            if name not in rows:
                failed.append(f"{split}: {name} missing from {report / (split + '.csv')}")
                continue
            r = rows[name]
            cells = []
            for key, fmt in (("FRCorr", "{:.4f}"), ("FRDist", "{:.2f}"), ("FRDiv", "{:.4f}")):
                m, s = _val(r, key)
                cells.append(fmt.format(m) + (f" ± {fmt.format(s)}" if s else ""))
            lines.append(f"| {split} | {name} | {r['seeds']} | " + " | ".join(cells) + " |")
        for name in methods:
            if name not in rows:
                continue
            corr, dist, div = (_val(rows[name], k) for k in ("FRCorr", "FRDist", "FRDiv"))
            if div[0] <= 0:
                failed.append(f"{split}: {name} FRDiv {div[0]:.4f} is not > 0")
            for b in BASELINES:
                if b not in rows:
                    continue
                bc, bd = _val(rows[b], "FRCorr"), _val(rows[b], "FRDist")
                if not corr[0] - corr[1] > bc[0] + bc[1]:
                    failed.append(f"{split}: {name} FRCorr {corr[0]:.4f} ± {corr[1]:.4f} does not beat {b} "
                                  f"{bc[0]:.4f} ± {bc[1]:.4f}")
                if not dist[0] + dist[1] < bd[0] - bd[1]:
                    failed.append(f"{split}: {name} FRDist {dist[0]:.2f} ± {dist[1]:.2f} does not beat {b} "
                                  f"{bd[0]:.2f} ± {bd[1]:.2f}")
    return lines, failed
