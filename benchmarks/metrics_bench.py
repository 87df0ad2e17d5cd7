"""Time the metric engine against the literal reference implementation on REACT-sized input.

    python benchmarks/metrics_bench.py                      # a REACT 2024 split: 2N=1200, 10 predictions, T=750, ~50 neighbours
    python benchmarks/metrics_bench.py --engine-rows 120    # time the engine on 120 of the 1200 rows, extrapolate
    python benchmarks/metrics_bench.py --rows 200 --neighbours 20    # the smaller set of earlier reports
    python benchmarks/metrics_bench.py --mars               # a MARS test split: ~1.7 M frames, lengths 58..20,000

``--mars``: clips of any length (REACT 2025/2026, mafrg.metrics.ragged): lengths drawn log-uniformly from 58 to
20,000 frames until ``--total-frames``, 23 sessions, official 10-ground-truth sets (seeded draws within the
session), the react2025 protocol; predictions memory-mapped from disk as a workflow job reads them. The literal
reference (the official code's definitions, one tslearn DTW per pair) is timed on ``--ref-rows`` rows and
extrapolated by the rows' DTW cells (prediction x ground truth x T^2).

Data: speaker and listener behaviour from mafrg's generative process (mafrg.synth.process); each row's 10
predictions are fresh reactions of the same listener style to the same speaker, i.e. what a good model
would produce. ``--data random`` uses uniform noise instead (the worst case for FRDist's pruning).
The reference is slow, so it is timed on a subset of rows and extrapolated linearly in the number of
(prediction, neighbour) pairs / rows it would process; the output says so. ``--engine-rows`` does the same
for the engine's per-row metrics (FRCorr, FRDist, FRSyn: rows are independent, each against all appropriate
rows of the whole split); FRDiv, FRVar and FRDvs always run on every row. Peak RSS is printed at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from mafrg import bench_results



def make_data(rows: int, n_pred: int, frames: int, neighbours: int, kind: str, seed: int):
    from mafrg.neighbours import build_neighbours
    from mafrg.render import FaceIdentity
    from mafrg.synth.process import ListenerStyle, Person, listener_behaviour, speaker_behaviour

    rng = np.random.default_rng(seed)
    if kind == "random":
        pred = rng.random((rows, n_pred, frames, 25), dtype=np.float32)
        listener = rng.random((rows, frames, 25), dtype=np.float32)
        speaker = rng.random((rows, frames, 25), dtype=np.float32)
    else:
        speaker = np.empty((rows, frames, 25), np.float32)
        listener = np.empty_like(speaker)
        pred = np.empty((rows, n_pred, frames, 25), np.float32)
        for k in range(rows):
            sp = Person("S", FaceIdentity(), ListenerStyle.random(rng))
            ls = Person("L", FaceIdentity(), ListenerStyle.random(rng))
            sb, sv, sa = speaker_behaviour(rng, sp, frames, 25)
            speaker[k] = sb.emotion
            listener[k] = listener_behaviour(rng, ls, frames, 25, sv, sa, sb.speaking).emotion
            for i in range(n_pred):
                pred[k, i] = listener_behaviour(rng, ls, frames, 25, sv, sa, sb.speaking).emotion
    nb = build_neighbours(speaker, quantile=min(1.0, (neighbours - 1) / max(rows - 1, 1)))
    return pred, listener, speaker, nb


def reset_peak_rss() -> None:
    """Linux: reset this process's peak-RSS high-water mark (VmHWM) so later readings cover what follows."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def make_mars(total_frames: int, n_pred: int, sessions: int, seed: int, folder: Path):
    """Rows of clips of any length: speaker, listener and predictions (memory-mapped) from the generative process."""
    from mafrg.render import FaceIdentity
    from mafrg.synth.process import ListenerStyle, Person, listener_behaviour, speaker_behaviour

    rng = np.random.default_rng(seed)
    lengths = []
    while sum(lengths) < total_frames:
        lengths.append(int(round(np.exp(rng.uniform(np.log(58), np.log(20000))))))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    pred = np.lib.format.open_memmap(folder / "pred.npy", mode="w+", dtype=np.float32,
                                     shape=(int(offsets[-1]), n_pred, 25))
    speakers, listeners = [], []
    for k, t in enumerate(lengths):
        sp = Person("S", FaceIdentity(), ListenerStyle.random(rng))
        ls = Person("L", FaceIdentity(), ListenerStyle.random(rng))
        sb, sv, sa = speaker_behaviour(rng, sp, t, 30)
        speakers.append(sb.emotion.astype(np.float32))
        listeners.append(listener_behaviour(rng, ls, t, 30, sv, sa, sb.speaking).emotion.astype(np.float32))
        for i in range(n_pred):
            pred[offsets[k]:offsets[k + 1], i] = listener_behaviour(rng, ls, t, 30, sv, sa, sb.speaking).emotion
    pred.flush()
    session = [k % sessions for k in range(len(lengths))]
    return np.asarray(lengths), offsets, speakers, listeners, session


def main_mars(a) -> None:
    import tempfile

    from mafrg.data.layouts import PairRow
    from mafrg.metrics import ragged
    from mafrg.metrics import reference as ref
    from mafrg.metrics.engine import aggregate
    from mafrg.neighbours import official_draws

    tmp = tempfile.TemporaryDirectory()
    t_gen, (lengths, offsets, speakers, listeners, session) = timed(
        lambda: make_mars(a.total_frames, a.predictions, a.sessions, a.seed, Path(tmp.name)))
    n = len(lengths)
    clip = [f"listener/session{session[k]}/c{k:05d}" for k in range(n)]
    rows = [PairRow(k, f"speaker/session{session[k]}/c{k:05d}", clip[k], False) for k in range(n)]
    pool: dict = {}
    for c in sorted(clip):
        pool.setdefault(tuple(c.split("/")[:2]), []).append(c)
    sets = official_draws(rows, lambda c: tuple(c.split("/")[:2]), pool, 10, 1234)
    index = {c: k for k, c in enumerate(clip)}
    gt_idx = [[index[c] for c in s] for s in sets]
    print(f"MARS-sized split: {n} clips, {int(offsets[-1]):,} frames (lengths {lengths.min()}..{lengths.max()}, "
          f"median {int(np.median(lengths))}), {a.predictions} predictions, official 10-ground-truth sets; "
          f"generated in {t_gen:.0f} s")
    pred = np.load(Path(tmp.name) / "pred.npy", mmap_mode="r")

    def rows_of(ks):
        return (np.asarray(pred[offsets[k]:offsets[k + 1]]).transpose(1, 0, 2) for k in ks)

    gts = lambda k: [listeners[j] for j in gt_idx[k]]  # noqa: E731
    # warm-up: compile the kernels outside the timing
    ragged.contributions(rows_of([int(np.argmin(lengths))]), lambda k: speakers[int(np.argmin(lengths))],
                         lambda k: gts(int(np.argmin(lengths))), 0, 1, progress=False, threads=a.threads)
    reset_peak_rss()
    base = peak_rss_mb()
    t_eng, part = timed(lambda: ragged.contributions(rows_of(range(n)), lambda k: speakers[k], gts, 0, n,
                                                     "react2025", "resample", 30, a.threads, progress=False))
    peak = peak_rss_mb()
    res = aggregate([part], n, "react2025")
    cells = np.array([a.predictions * len(set(gt_idx[k])) * float(lengths[k]) ** 2 for k in range(n)])
    order = np.argsort(lengths)
    sub = [int(k) for k in order[len(order) // 3: len(order) // 3 + a.ref_rows]]  # rows of moderate length
    t_ref, _ = timed(lambda: ref.ragged_metrics(list(rows_of(sub)), [speakers[k] for k in sub],
                                                [gts(k) for k in sub]))
    ref_total = t_ref * cells.sum() / cells[sub].sum()
    print(f"engine (react2025, resample, {a.threads} threads): {t_eng:.1f} s for all metrics; peak RSS "
          f"{peak:.0f} MB (of which {base:.0f} MB before the evaluation: the speakers' and listeners' arrays)")
    print(f"reference: {t_ref:.1f} s on {len(sub)} rows of {', '.join(str(lengths[k]) for k in sub)} frames, "
          f"extrapolated by DTW cells to {ref_total:,.0f} s ({ref_total / 3600:.1f} h): {ref_total / t_eng:.0f}x")
    print("metrics:", {k: round(v, 4) for k, v in res.metrics.items()})
    if a.record:
        bench_results.record("metrics_bench.py", f"MARS-sized split ({n} clips, {int(offsets[-1]):,} frames, "
                             f"lengths {lengths.min()}..{lengths.max()}, official 10-ground-truth sets): all metrics "
                             f"{t_eng:.0f} s on {a.threads} cores, peak RSS {peak:.0f} MB; the literal reference "
                             f"extrapolated from {len(sub)} rows: {ref_total:,.0f} s ({ref_total / t_eng:.0f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1200)
    ap.add_argument("--predictions", type=int, default=10)
    ap.add_argument("--frames", type=int, default=750)
    ap.add_argument("--neighbours", type=int, default=50)
    ap.add_argument("--engine-rows", type=int, default=None, help="time the engine's per-row metrics on these rows")
    ap.add_argument("--data", choices=["model", "random"], default="model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ref-rows", type=int, default=2, help="rows the reference FRDist/FRCorr is timed on")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mars", action="store_true", help="clips of any length at MARS size (module doc)")
    ap.add_argument("--total-frames", type=int, default=1_700_000, help="--mars: frames of the split")
    ap.add_argument("--sessions", type=int, default=23, help="--mars: sessions the clips are spread over")
    bench_results.add_option(ap)
    a = ap.parse_args()
    if a.mars:
        return main_mars(a)

    from mafrg.metrics import reference as ref
    from mafrg.metrics import core
    from mafrg.metrics.engine import _by_rows, evaluate

    print(f"data: {a.data}, rows={a.rows}, predictions={a.predictions}, T={a.frames}, target neighbours={a.neighbours}")
    t_gen, (pred, listener, speaker, nb) = timed(
        lambda: make_data(a.rows, a.predictions, a.frames, a.neighbours, a.data, a.seed))
    nb_lists = [np.flatnonzero(nb[k]) for k in range(a.rows)]
    pairs = sum(len(x) for x in nb_lists) * a.predictions
    print(f"generated in {t_gen:.1f} s; mean neighbours/row {np.mean([len(x) for x in nb_lists]):.1f}; "
          f"(prediction, neighbour) pairs: {pairs}")

    # Warm-up: compile the numba kernels and build (or load) the compiled FRDist kernel outside the timings.
    evaluate(pred[:2], listener[:2], speaker[:2], nb[:2, :2], progress=False, threads=a.threads)
    # The engine's memory, as a workflow job sees it: predictions memory-mapped from disk, read in chunks.
    import tempfile

    from mafrg.metrics.engine import contributions

    tmpdir = tempfile.TemporaryDirectory()
    np.save(Path(tmpdir.name) / "pred.npy", pred)
    mapped = np.load(Path(tmpdir.name) / "pred.npy", mmap_mode="r")
    rss_rows = min(a.rows, 64)
    reset_peak_rss()
    base = peak_rss_mb()
    contributions(mapped[:rss_rows], listener, speaker, nb, 0, chunk_rows=32, progress=False, threads=a.threads)
    job_peak = peak_rss_mb()

    n_eng = min(a.rows, a.engine_rows or a.rows)
    scale = (sum(len(x) for x in nb_lists) / sum(len(x) for x in nb_lists[:n_eng]))  # pairs, for FRCorr/FRDist
    lst = core.ListenerStats(listener)
    sub = slice(0, n_eng)
    eng = {
        "FRCorr": timed(lambda: core.ccc_max_sum(pred[sub], lst, nb_lists[sub]))[0] * scale,
        "FRDist": None,
        "FRDiv+FRVar": timed(lambda: _by_rows(core.diversity_terms, (pred,), a.threads))[0],
        "FRDvs": timed(lambda: core.FRDvsAccumulator().update(pred))[0],
        "FRSyn": timed(lambda: _by_rows(core.tlcc_offsets, (pred[sub, :1], speaker[sub]), a.threads))[0] * a.rows / n_eng,
    }
    t_dist, (_, st, kernel) = timed(lambda: core.dtw_min_sum(pred[sub], lst, nb_lists[sub], a.threads))
    eng["FRDist"] = t_dist * scale
    t_total = sum(eng.values())
    if n_eng == a.rows:  # the whole split through the public entry point as well
        t_total, res = timed(lambda: evaluate(pred, listener, speaker, nb, progress=False, threads=a.threads))
    else:
        res = None

    # Reference on a subset, extrapolated.
    sub = list(range(a.ref_rows))
    sub_pairs = sum(len(nb_lists[k]) for k in sub) * a.predictions
    nbs = nb[np.ix_(sub, range(a.rows))]
    t, _ = timed(lambda: [ref.frdist(pred[k:k + 1], listener, nbs[i:i + 1]) for i, k in enumerate(sub)])
    ref_t = {"FRDist": t * pairs / sub_pairs}
    t, _ = timed(lambda: [ref.frcorr(pred[k:k + 1], listener, nbs[i:i + 1]) for i, k in enumerate(sub)])
    ref_t["FRCorr"] = t * pairs / sub_pairs
    t, _ = timed(lambda: (ref.frdiv(pred), ref.frvar(pred)))
    ref_t["FRDiv+FRVar"] = t
    sub_dvs = min(a.rows, 40)
    t, _ = timed(lambda: ref.frdvs(pred[:sub_dvs]))
    ref_t["FRDvs"] = t * (a.rows * (a.rows - 1)) / (sub_dvs * (sub_dvs - 1))
    sub_syn = min(a.rows, 10)
    t, _ = timed(lambda: ref.frsyn(pred[:sub_syn], speaker[:sub_syn]))
    ref_t["FRSyn"] = t * a.rows / sub_syn

    print()
    note = "" if n_eng == a.rows else f" (engine per-row metrics timed on {n_eng} of {a.rows} rows, extrapolated)"
    print(f"{'metric':<12}{'engine s':>10}{'reference s':>13}  {'ratio':>8}  reference timed on{note}")
    basis = {"FRDist": f"{sub_pairs} of {pairs} pairs", "FRCorr": f"{sub_pairs} of {pairs} pairs",
             "FRDiv+FRVar": "all rows", "FRDvs": f"{sub_dvs} of {a.rows} rows (x R(R-1))",
             "FRSyn": f"{sub_syn} of {a.rows} rows"}
    for k in eng:
        print(f"{k:<12}{eng[k]:>10.2f}{ref_t[k]:>13.1f}  {ref_t[k] / eng[k]:>7.0f}x  {basis[k]}")
    tot_ref = sum(ref_t.values())
    print(f"{'all':<12}{t_total:>10.2f}{tot_ref:>13.1f}  {tot_ref / t_total:>7.0f}x")
    sub_total = sum(len(x) for x in nb_lists[:n_eng]) * a.predictions
    cells = sub_total * a.frames**2 * 25
    print(f"\nFRDist ({kernel} kernel, {a.threads} threads, {n_eng} rows): {sub_total} (prediction, neighbour) pairs; "
          f"{st[0]} computed in full; {st[1] / cells:.1%} of all cost-matrix cells x channels computed")
    if res is not None:
        print("metrics:", {k: round(v, 4) for k, v in res.metrics.items()})
    print(f"engine peak RSS (a {rss_rows}-row shard, predictions memory-mapped, chunks of 32 rows): {job_peak:.0f} MB, "
          f"of which {base:.0f} MB were this script's in-memory data (predictions {pred.nbytes / 2**20:.0f} MB as "
          "float32, listener/speaker, neighbours) before the evaluation started")
    if a.record:
        per = ", ".join(f"{k} {eng[k]:.1f} s ({ref_t[k] / eng[k]:.0f}x)" for k in eng)
        bench_results.record("metrics_bench.py", f"all metrics {t_total:.1f} s against the reference's {tot_ref:,.0f} s "
                             f"(extrapolated): {tot_ref / t_total:.0f}x; {per}; FRDist {kernel} kernel computed "
                             f"{st[1] / cells:.1%} of the cost-matrix cells; a {rss_rows}-row job's peak RSS "
                             f"{job_peak:.0f} MB")


if __name__ == "__main__":
    main()
