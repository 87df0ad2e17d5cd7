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

where std is the standard deviation over training seeds (0 with one seed): :func:`mafrg.quality.check`. Prints
the table and exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from mafrg import bench_results
from mafrg.quality import BASELINES, TRAINED, check

REPO = Path(__file__).resolve().parents[1]
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3, help="training seeds of each method (methods.<M>.seeds)")
    ap.add_argument("--methods", nargs="+", default=list(TRAINED), help="trained methods to check")
    ap.add_argument("--directory", default=str(REPO), help="Snakemake working directory (default: this checkout)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--check-only", action="store_true", help="do not run the workflow; check the existing report")
    bench_results.add_option(ap)
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
    if a.record:
        cells = [ln.strip("| ").split(" | ") for ln in lines[2:]]
        bench_results.record("quality_bench.py", ("FAILED: " + "; ".join(failed) + ". " if failed else "passes. ")
                             + "split method (seeds): FRCorr, FRDist, FRDiv: "
                             + "; ".join(f"{c[0]} {c[1]} ({c[2]}): {c[3]}, {c[4]}, {c[5]}" for c in cells))
    if failed:
        print("\nFAILED:\n  " + "\n  ".join(failed))
        sys.exit(1)
    print(f"\nOK: {', '.join(labels)} beat {', '.join(BASELINES)} on FRCorr and FRDist by more than one "
          "standard deviation over seeds, with FRDiv > 0, on every split")


if __name__ == "__main__":
    main()
