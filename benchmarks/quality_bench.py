"""Are the trained methods better than the naive baselines on the demo, beyond what one training seed can tell?

    python benchmarks/quality_bench.py                 # the demo workflow with 3 training seeds of each method
    python benchmarks/quality_bench.py --seeds 1       # what `make run` checks on its own one-seed report
    python benchmarks/quality_bench.py --check-only    # only read results/report/*.csv
    python benchmarks/quality_bench.py --methods EfficientListener

Runs the workflow (config.yaml, in this checkout's results/ by default, so whatever `make run` already built --
demo data, features, seed 0 -- is reused and only the extra seeds train) with ``methods.<M>.seeds`` set for each
method (default: ReactDiff, EfficientListener and ReactDiffK), then checks on every evaluated split, for each method's
offline and online variants against B_Random, B_MeanSeq and B_MeanFr:

    FRCorr:  mean - std  >  baseline + its std      (higher is better)
    FRDist:  mean + std  <  baseline - its std      (lower is better)
    FRDiv  > 0

where std is the standard deviation over training seeds (0 with one seed). Prints the table the README quotes
and exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3, help="training seeds of each method (methods.<M>.seeds)")
    ap.add_argument("--methods", nargs="+", default=list(TRAINED), help="trained methods to check")
    ap.add_argument("--directory", default=str(REPO), help="Snakemake working directory (default: this checkout)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--check-only", action="store_true", help="do not run the workflow; check the existing report")
    a = ap.parse_args()

    work = Path(a.directory).resolve()
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    if not a.check_only:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            yaml.safe_dump({"methods": {m: {"seeds": a.seeds} for m in a.methods}}, f)
        cmd = [sys.executable, "-m", "snakemake", "--cores", str(a.cores), "-s", str(REPO / "Snakefile"),
               "--directory", str(work), "--configfile", str(REPO / "config.yaml"), f.name]
        print("+", " ".join(cmd), flush=True)
        if subprocess.run(cmd).returncode:
            sys.exit("the workflow failed")
    labels = tuple(f"{m}_{v}" for m in a.methods for v in ("offline", "online"))
    lines, failed = check(work / cfg["results"] / "report", labels)
    print("\n".join(lines))
    if failed:
        print("\nFAILED:\n  " + "\n  ".join(failed))
        sys.exit(1)
    print(f"\nOK: {', '.join(labels)} beat {', '.join(BASELINES)} on FRCorr and FRDist by more than one "
          "standard deviation over seeds, with FRDiv > 0, on every split")


if __name__ == "__main__":
    main()
