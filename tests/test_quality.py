"""The demo quality check (mafrg.quality, run by benchmarks/quality_bench.py): one standard deviation over seeds
must separate each trained method from every naive baseline on FRCorr and FRDist, and FRDiv must be positive."""

from __future__ import annotations

import csv
from mafrg import quality as qb


def _report(tmp_path, rd_corr=(0.30, 0.01), rd_dist=(80.0, 1.0), rd_div=0.04):
    cols = ["method", "seeds", "FRCorr", "FRDist", "FRDiv", "FRCorr_std", "FRDist_std", "FRDiv_std"]
    rows = [["B_Random", 1, 0.05, 150.0, 0.16, "", "", ""], ["B_MeanSeq", 1, 0.20, 95.0, 0.0, "", "", ""],
            ["B_MeanFr", 1, 0.0, 100.0, 0.0, "", "", ""]]
    for m in qb.METHODS:
        rows.append([m, 3, rd_corr[0], rd_dist[0], rd_div, rd_corr[1], rd_dist[1], 0.001])
    with open(tmp_path / "val.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        w.writerows(rows)
    (tmp_path / "val_listener.csv").write_text("method\n")  # other tables are not split tables
    return tmp_path


def test_clear_margin_passes(tmp_path):
    lines, failed = qb.check(_report(tmp_path))
    assert failed == [] and any("ReactDiff_online | 3 | 0.3000 ± 0.0100" in ln for ln in lines)


def test_margin_inside_one_std_fails(tmp_path):
    _, failed = qb.check(_report(tmp_path, rd_corr=(0.21, 0.02)))  # 0.21 - 0.02 < B_MeanSeq 0.20
    assert failed and all("B_MeanSeq" in f and "FRCorr" in f for f in failed) and len(failed) == len(qb.METHODS)


def test_dist_and_diversity_are_checked(tmp_path):
    _, failed = qb.check(_report(tmp_path, rd_dist=(94.5, 1.0), rd_div=0.0))
    assert any("FRDist" in f and "B_MeanSeq" in f for f in failed) and any("FRDiv" in f for f in failed)
