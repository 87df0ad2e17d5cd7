"""Training-set statistics of a feature stream at MARS size: in memory, a sequential loop, dask (mafrg.moments).

    python benchmarks/moments_bench.py --frames 400000 --threads 2

Why: every method normalises its inputs with statistics over all training frames. The wav2vec2 stream has 768
values a frame at 30 fps; MARS's training split has several million frames, so the whole stream does not fit in a
workstation's memory (1.7 M frames are 5.2 GB as float32). The benchmark writes feature shards (the Parquet
files extraction writes, one per clip, lengths drawn log-uniformly from 58 to 20,000 frames, seeded) and computes
the per-channel mean and standard deviation of the stream three ways, each in its own process so that its peak
resident memory is its own:

- ``in-memory``: read every shard, concatenate, reduce (what a naive path does);
- ``loop``: one shard at a time, float64 sums (one core);
- ``dask``: :func:`mafrg.moments.moments`, one dask task per shard on ``--threads`` threads.

It checks that the loop and dask agree bit for bit and the in-memory path to 1e-9, and prints time and peak
memory of each. Shards are kept in ``--work`` (default ``results/bench/moments``) and reused when present.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mafrg import bench_results

REPO = Path(__file__).resolve().parents[1]
STREAM, DIM, FPS = "wav2vec2", 768, 30


def lengths(total: int, seed: int) -> list[int]:
    """Clip lengths log-uniform in [58, 20000] until ``total`` frames (the last one cut to fit)."""
    rng = np.random.default_rng(seed)
    out: list[int] = []
    while sum(out) < total:
        out.append(int(np.exp(rng.uniform(np.log(58), np.log(20_000)))))
    out[-1] -= sum(out) - total
    return [t for t in out if t > 0]


def write_shards(work: Path, total: int, seed: int) -> list[Path]:
    from mafrg.features.parquet import stream_array, write_features

    manifest = work / f"shards-{total}-{seed}.json"
    if manifest.exists():
        return [Path(p) for p in json.loads(manifest.read_text())]
    rng = np.random.default_rng(seed + 1)
    paths = []
    for i, t in enumerate(lengths(total, seed)):
        p = work / f"{total}-{seed}" / f"clip{i:05d}.parquet"
        values = (rng.standard_normal((t, DIM), dtype=np.float32) * 0.3 + rng.normal(0, 1, DIM)).astype(np.float32)
        write_features(p, f"clip{i:05d}", "speaker", FPS, {STREAM: stream_array(values, "float32")},
                       {"streams": {STREAM: {"dim": DIM, "dtype": "float32"}}})
        paths.append(p)
    manifest.write_text(json.dumps([str(p) for p in paths]))
    return paths


def child(mode: str, paths: list[str], threads: int) -> dict:
    from mafrg import features
    from mafrg.moments import Moments, moments

    def load(p: str) -> np.ndarray:
        return features.load_clip(p, [STREAM], dtype=None)[STREAM]

    t0 = time.perf_counter()
    if mode == "in-memory":
        whole = np.concatenate([load(p) for p in paths]).astype(np.float64)
        mean, std = whole.mean(0), whole.std(0)
    elif mode == "loop":
        m = Moments.of(load(paths[0]))
        for p in paths[1:]:
            m = m + Moments.of(load(p))
        mean, std = m.mean, m.std()
    else:
        m = moments([lambda p=p: load(p) for p in paths], threads)
        mean, std = m.mean, m.std()
    seconds = time.perf_counter() - t0
    return {"mode": mode, "seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "mean": mean.tolist(), "std": std.tolist()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=400_000, help="frames in all shards")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=REPO / "results" / "bench" / "moments")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "MANIFEST"), help=argparse.SUPPRESS)
    bench_results.add_option(ap)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], json.loads(Path(a.child[1]).read_text()), a.threads)))
        return
    a.work.mkdir(parents=True, exist_ok=True)
    paths = write_shards(a.work, a.frames, a.seed)
    manifest = a.work / f"shards-{a.frames}-{a.seed}.json"
    print(f"{len(paths)} shards, {a.frames:,} frames x {DIM} ({a.frames * DIM * 4 / 1e9:.2f} GB as float32)")
    runs = {}
    for mode in ("in-memory", "loop", "dask"):
        out = subprocess.run([sys.executable, __file__, "--child", mode, str(manifest), "--threads", str(a.threads)],
                             check=True, capture_output=True, text=True).stdout
        runs[mode] = json.loads(out.strip().splitlines()[-1])
        print(f"{mode:>9}: {runs[mode]['seconds']:7.1f} s, peak {runs[mode]['peak_mb']:7.0f} MB")
    same = runs["loop"]["mean"] == runs["dask"]["mean"] and runs["loop"]["std"] == runs["dask"]["std"]
    close = np.allclose(runs["in-memory"]["mean"], runs["dask"]["mean"], rtol=1e-9, atol=1e-12)
    if not (same and close):
        raise SystemExit(f"the three paths disagree (loop == dask: {same}; in-memory close: {close})")
    print("loop and dask identical; in-memory equal to 1e-9")
    cells = "; ".join(f"{m} {r['seconds']:.1f} s, peak {r['peak_mb']:.0f} MB" for m, r in runs.items())
    if a.record:
        bench_results.record("moments_bench.py", f"{STREAM} statistics over {len(paths)} Parquet shards, "
                             f"{a.frames:,} frames x {DIM}: {cells}; dask on {a.threads} threads; loop and dask "
                             f"bit-identical")


if __name__ == "__main__":
    main()
