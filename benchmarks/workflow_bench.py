"""How long the demo workflow takes, end to end and per rule.

    python benchmarks/workflow_bench.py --clean     # from scratch: what `make run` costs with the venv in place
    python benchmarks/workflow_bench.py             # whatever is out of date in this checkout's results/

Runs Snakemake with the local profile and `config.yaml` in this checkout (so `results/` afterwards is the demo's,
report included), prints the wall time and the job time per rule from Snakemake's `benchmark:` files of this run
(`results/benchmarks/`), and with ``--record`` writes them to `benchmarks/RESULTS.md`.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from mafrg import bench_results

REPO = Path(__file__).resolve().parents[1]


def job_seconds(folder: Path, since: float) -> dict[str, float]:
    """Seconds of job time per rule from the benchmark files written after ``since``."""
    out: dict[str, float] = defaultdict(float)
    for f in folder.rglob("*.tsv"):
        if f.stat().st_mtime < since:
            continue
        rule = f.relative_to(folder).parts[0]  # results/benchmarks/<rule>/... (mafrg.paths.Paths.benchmark)
        with open(f, newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                out[rule] += float(row["s"])
    return dict(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clean", action="store_true", help="delete results/ and .snakemake/ first (a from-scratch run)")
    ap.add_argument("--cores", default="all")
    bench_results.add_option(ap)
    a = ap.parse_args()
    if a.clean:
        for d in ("results", ".snakemake"):
            shutil.rmtree(REPO / d, ignore_errors=True)
    cmd = [sys.executable, "-m", "snakemake", "--profile", "profiles/local", "--cores", str(a.cores),
           "--configfile", "config.yaml"]
    start = time.time()
    t0 = time.perf_counter()
    if subprocess.run(cmd, cwd=REPO).returncode:
        sys.exit("the workflow failed")
    wall = time.perf_counter() - t0
    jobs = job_seconds(REPO / "results" / "benchmarks", start)
    per_rule = ", ".join(f"{k} {v:.0f} s" for k, v in sorted(jobs.items(), key=lambda kv: -kv[1]))
    print(f"wall time {wall / 60:.0f} min {wall % 60:02.0f} s; job time by rule (benchmark: rules): {per_rule}")
    if a.record:
        bench_results.record("workflow_bench.py", f"demo workflow {'from scratch' if a.clean else 'update'}: "
                             f"{wall / 60:.0f} min {wall % 60:02.0f} s wall; job time {per_rule}")


if __name__ == "__main__":
    main()
